/**
 * Plain progress for cron and CI: one line per event, ISO 8601 timestamp first, no colour, no spinner.
 * Device output, names and reasons can carry anything a device printed: every line is made printable (control
 * characters and escape sequences escaped, `\x1b`), so nothing a device sends can move the cursor, retitle the
 * terminal or start a line of its own.
 */
import type {Writable} from 'node:stream'

import type {RunEvents} from '../model/events.js'
import {formatMs} from '../util/duration.js'
import {printable} from '../util/text.js'

/** Prints the run's events as `2026-11-21T05:40:00.123Z sw1 message` lines on `out`. */
export function attachPlainReporter(events: RunEvents, out: Writable, now: () => Date = () => new Date()): void {
  const line = (device: string | null, text: string) => out.write(`${now().toISOString()} ${printable(device ?? '-')} ${printable(text)}\n`)
  events.on('runStarted', (e) => line(null, `run ${e.runId}: upgrade stack ${e.stack} (${e.devices.join(' -> ')}) to ${e.target.version}`))
  events.on('nodeState', (e) => line(e.device, `chainsync ${e.state}`))
  events.on('devicePhase', (e) => line(e.device, `${e.phase}: ${e.detail}`))
  events.on('stepFinished', (s) =>
    line(s.device, `step ${s.order} ${s.action}: ${s.status} in ${formatMs(s.duration_ms)}${s.error ? ` - ${s.error}` : ''}`),
  )
  events.on('gateEvaluated', (g) => line(g.device, `${g.type} gate "${g.name}": ${g.decision} - ${g.reason}`))
  events.on('trapSent', (t) =>
    line(t.reporter, `SNMP trap ${t.kind} sent to ${t.receivers.map((r) => `${r.target}${r.ok ? '' : ` (failed: ${r.error})`}`).join(', ') || 'no receiver'}`),
  )
  events.on('log', (l) => line(l.device, `${l.level}: ${l.message}`))
  events.on('runFinished', (r) =>
    line(null, `run ${r.execution_id} ${r.status} in ${formatMs(r.duration_ms)}${r.reason ? `: ${r.reason}` : ''}`),
  )
}
