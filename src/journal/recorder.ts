/**
 * Writes a run's events into the journal as they happen (an observer, like the renderers): steps as step
 * operation runs, gate decisions, ChainSync state changes, device outcomes, traps and log lines as hash-chained
 * events. The ChainExecutionResult is then built from the journal (docs/runs.md).
 */
import type {RunEventMap, RunEvents} from '../model/events.js'
import type {Journal} from './journal.js'

/**
 * Attaches the recorder. Journal writes are synchronous, so each event is durable before the next one is handled.
 * @param onError when given, a write that throws (disk full, SQLITE_BUSY, I/O error) is handed to it once and the
 *   recorder stops writing, instead of the error escaping into whoever emitted the event (a socket handler, a
 *   device task); without it the error propagates to the emitter
 */
export function attachJournal(journal: Journal, runId: string, deviceRuns: Readonly<Record<string, string>>, events: RunEvents, onError?: (error: Error) => void): void {
  const steps = new Map<number, string>()
  let broken = false
  const on = <K extends keyof RunEventMap>(name: K, handler: (...args: RunEventMap[K]) => void) => {
    events.on(name, ((...args: RunEventMap[K]) => {
      if (broken) return
      try {
        handler(...args)
      } catch (error) {
        if (!onError) throw error
        broken = true
        onError(error as Error)
      }
    }) as never)
  }
  const event = (type: string, device: string | null, data: unknown) => journal.appendEvent(runId, {type, device, data})
  on('stepStarted', (s) => {
    steps.set(s.order, journal.startStep(runId, s.device, {name: s.action, phase: s.phase, command: s.command}))
  })
  on('stepFinished', (s) => {
    const id = steps.get(s.order)
    if (id === undefined) return
    steps.delete(s.order)
    journal.finishStep(id, {status: s.status === 'cancelled' ? 'cancelled' : s.status, output: s.output, error: s.error})
  })
  on('gateEvaluated', (g) => journal.recordGate(runId, g))
  on('nodeState', (e) => event('nodeState', e.device, {state: e.state}))
  on('devicePhase', (e) => event('devicePhase', e.device, {phase: e.phase, detail: e.detail}))
  on('deviceOutcome', (e) => {
    const id = deviceRuns[e.device]
    if (id === undefined || e.outcome === 'remote') return
    journal.setStatus(id, e.outcome, {version_before: e.versionBefore, version_after: e.versionAfter, ...(e.onError ? {on_error: e.onError} : {})})
  })
  on('deviceFacts', (e) => event('deviceFacts', e.device, {version_before: e.versionBefore}))
  on('hostKeyRepinned', (e) => event('hostKeyRepinned', e.device, {old: e.old, new: e.new, known_hosts: e.knownHosts}))
  on('trapSent', (t) => event('trap', t.reporter, t))
  on('log', (l) => event('log', l.device, {level: l.level, message: l.message}))
}
