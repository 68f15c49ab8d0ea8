/**
 * Stopping a run (seed 001 §6.1, docs/runs.md "Cancel"): the first SIGINT/SIGTERM or `timeouts.run` lets the device in
 * progress finish, then the chain stops; a second interrupt halts at once. See {@link RunHalt} for stop vs halt.
 */
import type {RunEvents} from '../model/events.js'
import type {ChainStatus} from '../model/status.js'
import {systemClock, type Clock} from '../util/clock.js'
import {formatMs} from '../util/duration.js'
import type {RunHalt} from './halt.js'

export interface StopSources {
  /** First interrupt: stop after the device in progress. */
  cancel?: AbortSignal | undefined
  /** Second interrupt: halt now. */
  kill?: AbortSignal | undefined
  /** `timeouts.run`, ms; undefined = no limit. */
  runTimeoutMs: number | undefined
  /** Whether a device is working right now (its task runs). */
  working: () => boolean
  clock?: Clock
}

/** Watches the stop sources for one run. @returns a function that detaches the listeners and the timer */
export function watchStop(halt: RunHalt, events: RunEvents, sources: StopSources): () => void {
  const clock = sources.clock ?? systemClock
  const stop = (status: ChainStatus, reason: string) => stopRun(halt, events, status, reason, sources.working())
  // A fleet parking its stacks (src/fleet) says why in the signal's reason: `{stopReason}`.
  const onCancel = () => stop('cancelled', stopReasonOf(sources.cancel) ?? 'cancelled by the operator')
  const onKill = () => halt.haltNow('cancelled', 'cancelled by the operator (second interrupt: stopped at once)')
  sources.cancel?.addEventListener('abort', onCancel, {once: true})
  sources.kill?.addEventListener('abort', onKill, {once: true})
  const runMs = sources.runTimeoutMs
  const timer = runMs === undefined ? undefined : clock.setTimeout(() => stop('failed', `timeout: the run exceeded timeouts.run (${formatMs(runMs)})`), runMs)
  if (sources.cancel?.aborted) onCancel()
  return () => {
    clock.clearTimeout(timer)
    sources.cancel?.removeEventListener('abort', onCancel)
    sources.kill?.removeEventListener('abort', onKill)
  }
}

/**
 * Stops a run: no new device starts; the device in progress (if `working`) finishes, then the chain halts; with
 * nothing working it halts now. Says which in the log. The first stop stands.
 */
export function stopRun(halt: RunHalt, events: RunEvents, status: ChainStatus, reason: string, working: boolean): void {
  if (!halt.requestStop(status, reason)) return
  events.emit('log', {level: 'warn', device: null, message: `${reason}: ${working ? 'the device in progress finishes, then the chain stops' : 'stopping now'}`})
  if (!working) halt.haltNow(status, reason)
}

/** The line a cancel signal asks the run to end with (`abort({stopReason})`), else undefined. */
function stopReasonOf(signal: AbortSignal | undefined): string | undefined {
  const r = signal?.reason as unknown
  return r !== null && typeof r === 'object' && typeof (r as {stopReason?: unknown}).stopReason === 'string' ? (r as {stopReason: string}).stopReason : undefined
}
