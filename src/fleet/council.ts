/**
 * DEC-002's council of chains (`CouncilExecutor`), for a fleet of stacks: runs one stack run per inventory, at most
 * `concurrency` at once, in inventory order. A **vetoed** stack halts the council: no new stack starts, and the stacks
 * still running are asked to stop (they finish the device in progress and park, `cancelled`, resumable). A **failed**
 * stack is reported and the others go on, until `maxFailed` failed stacks halt the council the same way. An operator's
 * cancel does the same. Pure orchestration: the stack runner is a function, so tests can pass fakes (docs/fleets.md).
 */
import {setMaxListeners} from 'node:events'

import type {ChainStatus} from '../model/status.js'

/** What one stack's run came to, as the council sees it. */
export type StackOutcome =
  /** The stack run ran (or was parked by a halt of the council: `cancelled`). */
  | {kind: 'ran'; status: ChainStatus; reason: string | null}
  /** The stack run never started: locked by another run, outside its window, or the council halted first. */
  | {kind: 'not_started'; reason: string}

/** What a stack runner gets from the council. */
export interface StackControl {
  /**
   * Aborted when the council halts (a veto, `maxFailed`, the operator): the stack finishes the device in progress,
   * then parks. Its `reason` is a {@link ParkReason}.
   */
  stop: AbortSignal
  /** Aborted by a second interrupt: the stack stops at once. */
  kill: AbortSignal
  /** Which of the `concurrency` slots runs the stack, from 0 (for the benchmark's critical path). */
  slot: number
}

/** The reason the council's stop signal carries: the line a parked stack run ends with. */
export interface ParkReason {
  stopReason: string
}

export interface CouncilOptions<S> {
  /** In the order they start. */
  stacks: readonly S[]
  /** Stacks run at once, ≥ 1. @default 1 */
  concurrency?: number
  /** Failed stacks that halt the council, ≥ 1; `Infinity` = none does (DEC-002). @default Infinity */
  maxFailed?: number
  /**
   * Runs one stack. Should not throw for the stack's own outcome (return it); a throw counts as a failed stack whose
   * reason is the error's message.
   */
  run: (stack: S, index: number, control: StackControl) => Promise<StackOutcome>
  /** A stack's name in reasons. @default `stack N` (from 1) */
  label?: (stack: S, index: number) => string
  /** First interrupt: no new stack starts; running stacks finish the device in progress and park. */
  cancel?: AbortSignal | undefined
  /** Second interrupt: passed to every running stack. */
  kill?: AbortSignal | undefined
  /** A stack starts in a slot. */
  onStart?: (index: number, slot: number) => void
  /** A stack's outcome is known. */
  onFinish?: (index: number, outcome: StackOutcome) => void
  /** The council halts (first cause only). */
  onHalt?: (cause: {status: ChainStatus; reason: string}) => void
}

/** The council's decision. */
export interface CouncilResult {
  /**
   * `completed` when every stack ran and completed; the halt's status when the council halted (`vetoed`, `failed`
   * for `maxFailed`, `cancelled`); else `failed` (a stack failed or did not start).
   */
  status: ChainStatus
  /** One line saying why the fleet did not complete, or null. */
  reason: string | null
  /** One per stack, in input order. */
  outcomes: StackOutcome[]
}

/**
 * Runs the council to its end. Never throws for a stack's outcome.
 * @throws RangeError for a concurrency below 1 or a maxFailed below 1
 */
export async function runCouncil<S>(opts: CouncilOptions<S>): Promise<CouncilResult> {
  const concurrency = opts.concurrency ?? 1
  const maxFailed = opts.maxFailed ?? Infinity
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be an integer ≥ 1, not ${concurrency}`)
  if (!(maxFailed === Infinity || (Number.isInteger(maxFailed) && maxFailed >= 1))) throw new RangeError(`maxFailed must be an integer ≥ 1, not ${maxFailed}`)
  const n = opts.stacks.length
  const label = (i: number) => (opts.label ? opts.label(opts.stacks[i] as S, i) : `stack ${i + 1}`)
  const outcomes: Array<StackOutcome | undefined> = new Array<StackOutcome | undefined>(n).fill(undefined)
  const stop = new AbortController()
  const kill = opts.kill ?? new AbortController().signal
  // Every running stack listens on both signals (25 stacks at once is ordinary), so no leak warning at 11.
  setMaxListeners(0, stop.signal, kill)
  let halted: {status: ChainStatus; reason: string} | undefined
  let failed = 0
  const halt = (status: ChainStatus, reason: string, park: string) => {
    if (halted) return
    halted = {status, reason}
    opts.onHalt?.(halted)
    stop.abort({stopReason: park} satisfies ParkReason)
  }
  const onCancel = () => halt('cancelled', 'cancelled by the operator', 'parked: the fleet was cancelled by the operator')
  opts.cancel?.addEventListener('abort', onCancel, {once: true})
  if (opts.cancel?.aborted) onCancel()

  let next = 0
  const worker = async (slot: number) => {
    while (!halted && next < n) {
      const index = next++
      const stack = opts.stacks[index] as S
      opts.onStart?.(index, slot)
      let outcome: StackOutcome
      try {
        outcome = await opts.run(stack, index, {stop: stop.signal, kill, slot})
      } catch (error) {
        outcome = {kind: 'ran', status: 'failed', reason: `error: ${(error as Error).message}`}
      }
      outcomes[index] = outcome
      opts.onFinish?.(index, outcome)
      if (outcome.kind !== 'ran') continue
      if (outcome.status === 'vetoed') {
        halt('vetoed', `${label(index)} vetoed${outcome.reason ? `: ${outcome.reason}` : ''}`, `parked: the fleet halted because ${label(index)} was vetoed`)
      } else if (outcome.status === 'failed' && ++failed >= maxFailed) {
        halt('failed', `${failed} failed stack${failed === 1 ? '' : 's'} reached --max-failed ${maxFailed}`, `parked: the fleet stopped after ${failed} failed stack${failed === 1 ? '' : 's'} (--max-failed ${maxFailed})`)
      }
    }
  }
  try {
    await Promise.all(Array.from({length: Math.min(concurrency, n)}, (_, slot) => worker(slot)))
  } finally {
    opts.cancel?.removeEventListener('abort', onCancel)
  }
  const done: StackOutcome[] = outcomes.map((o) => o ?? {kind: 'not_started', reason: `not started: the fleet halted (${halted?.reason ?? 'unknown'})`})
  if (halted) return {status: halted.status, reason: halted.reason, outcomes: done}
  const bad = done.map((o, i) => ({o, i})).filter(({o}) => o.kind !== 'ran' || o.status !== 'completed')
  if (bad.length === 0) return {status: 'completed', reason: null, outcomes: done}
  const says = (o: StackOutcome) => (o.kind === 'ran' ? o.status : 'not started')
  return {status: 'failed', reason: `${bad.length} of ${n} stacks did not complete: ${bad.map(({o, i}) => `${label(i)} ${says(o)}`).join(', ')}`, outcomes: done}
}

/** The line a stack parked by the council ends with, from its stop signal's reason (else null). */
export function parkReason(signal: AbortSignal): string | null {
  const r = signal.reason as unknown
  return r !== null && typeof r === 'object' && typeof (r as ParkReason).stopReason === 'string' ? (r as ParkReason).stopReason : null
}
