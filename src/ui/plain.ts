/**
 * Plain progress for cron and CI: one line per event, ISO 8601 timestamp first, no colour, no spinner.
 * Device output, names and reasons can carry anything a device printed: every line is made printable (control
 * characters and escape sequences escaped, `\x1b`), so nothing a device sends can move the cursor, retitle the
 * terminal or start a line of its own.
 */
import type {Writable} from 'node:stream'

import type {RunEvents, StagingProgress} from '../model/events.js'
import {formatMs} from '../util/duration.js'
import {printable} from '../util/text.js'
import {nodeStateText, phaseText} from './wording.js'

/** What the lines know of the run before (or without) its `runStarted`. */
export interface PlainChain {
  /** The chain's devices in order (a ChainSync state names a neighbour). */
  devices: readonly string[]
  /** The target version. */
  target: string
}

/**
 * Prints the run's events as `2026-11-21T05:40:00.123Z sw1 message` lines on `out`.
 * @param chain the chain and target when the events carry no `runStarted` (a `chainup node` round); a `runStarted`
 *   replaces them
 */
export function attachPlainReporter(events: RunEvents, out: Writable, now: () => Date = () => new Date(), chain?: PlainChain): void {
  const line = (device: string | null, text: string) => out.write(`${now().toISOString()} ${printable(device ?? '-')} ${printable(text)}\n`)
  // What each device line needs to say itself: the chain (a ChainSync state names a neighbour), the target, the version before.
  let devices: readonly string[] = chain?.devices ?? []
  let target: string | undefined = chain?.target
  const before = new Map<string, string>()
  events.on('runStarted', (e) => {
    devices = e.devices
    target = e.target.version
    line(null, `run ${e.runId}: upgrade stack ${e.stack} (${e.devices.join(' -> ')}) to ${e.target.version}`)
  })
  events.on('deviceFacts', (e) => before.set(e.device, e.versionBefore))
  events.on('nodeState', (e) => line(e.device, nodeStateText(e.device, e.state, devices)))
  events.on('devicePhase', (e) => line(e.device, phaseText(e.device, e.phase, e.detail, {target, versionBefore: before.get(e.device)})))
  events.on('stepFinished', (s) =>
    line(s.device, `step ${s.order} ${s.action}: ${s.status} in ${formatMs(s.duration_ms)}${s.error ? ` - ${s.error}` : ''}`),
  )
  events.on('gateEvaluated', (g) => line(g.device, `${g.type} gate "${g.name}": ${g.decision} - ${g.reason}`))
  // Image staging: a line every 10 % per device and attempt (docs/staging.md "Progress").
  const staged = new Map<string, number>()
  events.on('stagingProgress', (p) => {
    const key = `${p.device}\0${p.attempt}`
    const decile = p.state === 'failed' ? -2 : Math.floor((p.bytes * 10) / Math.max(1, p.total))
    if (decile !== -2 && decile <= (staged.get(key) ?? -1)) return
    staged.set(key, decile)
    line(p.device, `staging ${p.image}: ${p.state === 'failed' ? 'interrupted at ' : ''}${stagingText(p)}`)
  })
  events.on('trapSent', (t) =>
    line(t.reporter, `SNMP trap ${t.kind} sent to ${t.receivers.map((r) => `${r.target}${r.ok ? '' : ` (failed: ${r.error})`}`).join(', ') || 'no receiver'}`),
  )
  events.on('log', (l) => line(l.device, `${l.level}: ${l.message}`))
  events.on('runFinished', (r) =>
    line(null, `run ${r.execution_id} ${r.status} in ${formatMs(r.duration_ms)}${r.reason ? `: ${r.reason}` : ''}`),
  )
}

/** `40% (409.6 MiB of 1.0 GiB) at 112.3 MB/s, attempt 2`: one device's copy progress. */
export function stagingText(p: StagingProgress): string {
  const percent = Math.floor((p.bytes * 100) / Math.max(1, p.total))
  const mib = (n: number) => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`)
  return `${percent}% (${mib(p.bytes)} of ${mib(p.total)}) at ${(p.bytesPerSecond / 1e6).toFixed(1)} MB/s${p.attempt > 1 ? `, attempt ${p.attempt}` : ''}`
}
