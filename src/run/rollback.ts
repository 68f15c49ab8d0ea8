/**
 * The backward wave of compensating actions (seed 001 §3.4, docs/decisions.md #17): the failed device first, then
 * the upgraded ones in reverse chain order. A rollback failure stops the wave, fails the run and is reported as
 * `chainHalted` (the notifier sends a trap). Run by the orchestrator after the ChainSync round halted.
 */
import type {RunEvents} from '../model/events.js'
import type {DeviceOutcome} from '../model/status.js'
import type {HaltCause, RunHalt} from './halt.js'

/** What the wave needs of a device's agent ({@link DeviceAgent} satisfies it). */
export interface RollbackTarget {
  readonly outcome: DeviceOutcome
  /** Reports the device's new status (journaled). */
  settle(outcome: DeviceOutcome): void
  readonly worker: {rollback(signal: AbortSignal): Promise<void>}
}

/** The order the backward wave visits devices in: failed or cut-short devices first, then upgraded ones reversed. */
export function rollbackOrder(names: readonly string[], outcomeOf: (name: string) => string | undefined): string[] {
  const failed = names.filter((n) => outcomeOf(n) === 'failed' || outcomeOf(n) === 'cancelled')
  const upgraded = names.filter((n) => outcomeOf(n) === 'upgraded').reverse()
  return [...failed, ...upgraded]
}

/**
 * Rolls back every device {@link rollbackOrder} names and overrides the run's halt cause with the outcome.
 * @param kill aborting it (a second Ctrl-C) stops the device in progress
 */
export async function rollBack(cause: HaltCause, agents: ReadonlyMap<string, RollbackTarget>, names: readonly string[], halt: RunHalt, events: RunEvents, kill?: AbortSignal): Promise<void> {
  const order = rollbackOrder(names, (n) => agents.get(n)?.outcome)
  if (order.length === 0) return
  events.emit('log', {level: 'warn', device: null, message: `on_failure: rollback: rolling back ${order.join(' -> ')}`})
  const signal = new AbortController()
  const onKill = () => signal.abort('cancelled by the operator')
  kill?.addEventListener('abort', onKill, {once: true})
  try {
    for (const name of order) {
      const agent = agents.get(name)!
      agent.settle('rolling_back')
      try {
        await agent.worker.rollback(signal.signal)
        agent.settle('rolled_back')
      } catch (error) {
        agent.settle('rollback_failed')
        const message = (error as Error).message
        halt.override({status: 'failed', reason: `${cause.reason}; rollback failed on ${message}`})
        events.emit('log', {level: 'error', device: name, message: `rollback failed, stopping the rollback: ${message}`})
        events.emit('chainHalted', {device: name, reason: `rollback failed: ${message}`})
        return
      }
    }
    halt.override({status: cause.status, reason: `${cause.reason}; rolled back ${order.join(', ')}`})
  } finally {
    kill?.removeEventListener('abort', onKill)
  }
}
