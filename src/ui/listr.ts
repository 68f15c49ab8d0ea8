/**
 * Terminal progress with listr2: the stack, and under it each device with its ChainSync state (draft §4)
 * and its current step. Only used on a TTY; cron and CI get {@link attachPlainReporter}.
 * Every text drawn is made printable first (control characters and escape sequences escaped): a step's command, a
 * phase's detail and a failure can quote what a device printed.
 */
import type {RunEvents} from '../model/events.js'
import type {StepPhase} from '../model/result.js'
import type {NodeState} from '../protocol/state-machine.js'
import {printable} from '../util/text.js'
import {stagingText} from './plain.js'
import {phaseText} from './wording.js'

interface DeviceView {
  state: NodeState | '-'
  /** What the device does now, in words (wording.ts), or the step in progress. */
  text: string
  /** The version it ran when the run first read its facts. */
  versionBefore?: string
  /** Why it failed (its last failure phase's detail, without its name). */
  failure?: string
  settle?: (outcome: {kind: 'ok' | 'skip' | 'fail'; message: string}) => void
  final?: {kind: 'ok' | 'skip' | 'fail'; message: string}
  title?: (t: string) => void
  /** Sets the line under the device's title (its image copy's progress). */
  output?: (t: string) => void
}

/** A step's phase as the words that start a device's line. */
const STEP_PHASE: Record<StepPhase, string> = {readiness: 'checking readiness', upgrade: 'upgrading', reboot: 'booting', rollback: 'rolling back'}

/** Where the display is drawn; both default to the process's own streams (tests pass fake TTY streams). */
export interface ListrOutput {
  stdout?: NodeJS.WriteStream
  stderr?: NodeJS.WriteStream
}

/**
 * Attaches a listr2 display to the run. Resolves `done` once the display has drawn the run's end.
 * listr2 is imported lazily so that other commands do not pay for it.
 */
export function attachListrReporter(events: RunEvents, output: ListrOutput = {}): {done: Promise<void>} {
  let resolveDone: () => void = () => undefined
  const done = new Promise<void>((r) => (resolveDone = r))
  const views = new Map<string, DeviceView>()
  let target: string | undefined
  // `sw1      ready (running 17.06.05, target 17.09.05) · ChainSync READY`: what the device does, then its node's state.
  const title = (name: string, v: DeviceView) => printable(`${name.padEnd(8)} ${v.text}${v.state === '-' ? '' : ` · ChainSync ${v.state}`}`)
  const refresh = (name: string) => {
    const v = views.get(name)
    // A settled device keeps its final title.
    if (v?.title && !v.final) v.title(title(name, v))
  }
  const settle = (name: string, kind: 'ok' | 'skip' | 'fail', message: string) => {
    const v = views.get(name)
    if (!v || v.final) return
    v.final = {kind, message}
    v.settle?.(v.final)
  }

  events.once('runStarted', (run) => {
    target = run.target.version
    for (const d of run.devices) views.set(d, {state: '-', text: 'waiting to start'})
    void (async () => {
      const {Listr, ListrLogger, ProcessOutput} = await import('listr2')
      // listr2's default renderer writes through its logger's ProcessOutput (process.stdout/stderr unless given).
      const logger = output.stdout || output.stderr
        ? new ListrLogger({useIcons: true, toStderr: [], processOutput: new ProcessOutput(output.stdout, output.stderr)})
        : undefined
      const list = new Listr(
        [
          {
            title: printable(`Upgrade ${run.stack} to ${run.target.version} (run ${run.runId})`),
            task: (_ctx, task) =>
              task.newListr(
                run.devices.map((name) => ({
                  title: printable(name),
                  task: (_c: unknown, t: {title: string; skip: (m: string) => void}) =>
                    new Promise<void>((resolve, reject) => {
                      const v = views.get(name)!
                      v.title = (s) => (t.title = s)
                      v.output = (s) => ((t as {output?: string}).output = s)
                      refresh(name)
                      const finish = (o: {kind: 'ok' | 'skip' | 'fail'; message: string}) => {
                        if (o.kind === 'ok') {
                          t.title = printable(`${name.padEnd(8)} ${o.message}`)
                          resolve()
                        } else if (o.kind === 'skip') {
                          t.skip(printable(`${name.padEnd(8)} ${o.message}`))
                          resolve()
                        } else {
                          // The title says how it ended, the error line under it says why (once).
                          const [status, ...why] = o.message.split(': ')
                          t.title = printable(`${name.padEnd(8)} ${status}`)
                          reject(new Error(printable(why.length > 0 ? why.join(': ') : (status ?? ''))))
                        }
                      }
                      if (v.final) finish(v.final)
                      else v.settle = finish
                    }),
                })),
                {concurrent: true, exitOnError: false},
              ),
          },
        ],
        {exitOnError: false, rendererOptions: {collapseSubtasks: false, collapseErrors: false, ...(logger ? {logger} : {})}},
      )
      await list.run().catch(() => undefined)
      resolveDone()
    })()
  })
  events.on('nodeState', (e) => {
    const v = views.get(e.device)
    if (v) v.state = e.state
    refresh(e.device)
  })
  events.on('deviceFacts', (e) => {
    const v = views.get(e.device)
    if (v && v.versionBefore === undefined) v.versionBefore = e.versionBefore
  })
  events.on('devicePhase', (e) => {
    const v = views.get(e.device)
    if (!v) return
    v.text = phaseText(e.device, e.phase, e.detail, {target, versionBefore: v.versionBefore})
    if (e.phase === 'failed' || e.phase === 'cancelled' || e.phase === 'rollback_failed') v.failure = e.detail.startsWith(`${e.device}: `) ? e.detail.slice(e.device.length + 2) : e.detail
    refresh(e.device)
    if (e.phase === 'upgraded') settle(e.device, 'ok', v.text)
    if (e.phase === 'skipped' && e.detail.startsWith('running ')) settle(e.device, 'skip', `skipped, already on ${e.detail.slice('running '.length)}`)
  })
  // Image staging: bytes, percent and MB/s on a line of its own under the device (docs/staging.md "Progress").
  events.on('stagingProgress', (p) => {
    const v = views.get(p.device)
    if (!v) return
    const text = p.state === 'copied' ? `staged ${p.image}: ${stagingText(p)}, verifying` : `staging ${p.image}: ${p.state === 'failed' ? 'interrupted at ' : ''}${stagingText(p)}`
    v.output?.(printable(text))
  })
  events.on('stepFinished', (s) => {
    // The copy's line ends with the on-device check's verdict (staging.ts names the step).
    if (s.action === 'stage: verify image') views.get(s.device)?.output?.(s.status === 'completed' ? 'image staged and verified' : 'image staged, but its digest does not verify')
  })
  events.on('stepStarted', (s) => {
    const v = views.get(s.device)
    if (!v) return
    v.text = `${STEP_PHASE[s.phase]}: ${s.action}${s.command ? ` (${s.command})` : ''}`
    refresh(s.device)
  })
  events.on('runFinished', (r) => {
    for (const d of r.devices) {
      const v = views.get(d.name)
      if (d.status === 'upgraded') settle(d.name, 'ok', `upgraded ${d.version_before ?? '?'} -> ${d.version_after ?? '?'}`)
      else if (d.status === 'skipped') settle(d.name, 'skip', `skipped, already on ${d.version_after ?? d.version_before ?? '?'}`)
      else if (d.status === 'failed' || d.status === 'rollback_failed') settle(d.name, 'fail', `${d.status === 'failed' ? 'failed' : 'rollback failed'}: ${v?.failure ?? v?.text ?? r.reason ?? ''}`)
      else if (d.status === 'rolled_back') settle(d.name, 'skip', `rolled back to ${d.version_after ?? d.version_before ?? '?'}`)
      else if (d.status === 'remote') settle(d.name, 'skip', 'its node runs in another process')
      else settle(d.name, 'skip', d.status === 'cancelled' ? 'cancelled while it worked: the chain stopped' : 'not started: the chain stopped')
    }
    if (views.size === 0) resolveDone()
  })
  return {done}
}
