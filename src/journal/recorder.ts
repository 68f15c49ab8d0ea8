/**
 * Writes a run's events into the journal as they happen (an observer, like the renderers): steps as step
 * operation runs, gate decisions, ChainSync state changes, device outcomes, traps and log lines as hash-chained
 * events. The ChainExecutionResult is then built from the journal (docs/runs.md).
 */
import type {RunEvents} from '../model/events.js'
import type {Journal} from './journal.js'

/** Attaches the recorder. Journal writes are synchronous, so each event is durable before the next one is handled. */
export function attachJournal(journal: Journal, runId: string, deviceRuns: Readonly<Record<string, string>>, events: RunEvents): void {
  const steps = new Map<number, string>()
  const event = (type: string, device: string | null, data: unknown) => journal.appendEvent(runId, {type, device, data})
  events.on('stepStarted', (s) => {
    steps.set(s.order, journal.startStep(runId, s.device, {name: s.action, phase: s.phase, command: s.command}))
  })
  events.on('stepFinished', (s) => {
    const id = steps.get(s.order)
    if (id === undefined) return
    steps.delete(s.order)
    journal.finishStep(id, {status: s.status === 'cancelled' ? 'cancelled' : s.status, output: s.output, error: s.error})
  })
  events.on('gateEvaluated', (g) => journal.recordGate(runId, g))
  events.on('nodeState', (e) => event('nodeState', e.device, {state: e.state}))
  events.on('devicePhase', (e) => event('devicePhase', e.device, {phase: e.phase, detail: e.detail}))
  events.on('deviceOutcome', (e) => {
    const id = deviceRuns[e.device]
    if (id === undefined || e.outcome === 'remote') return
    journal.setStatus(id, e.outcome, {version_before: e.versionBefore, version_after: e.versionAfter, ...(e.onError ? {on_error: e.onError} : {})})
  })
  events.on('deviceFacts', (e) => event('deviceFacts', e.device, {version_before: e.versionBefore}))
  events.on('trapSent', (t) => event('trap', t.reporter, t))
  events.on('log', (l) => event('log', l.device, {level: l.level, message: l.message}))
}
