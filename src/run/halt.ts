/**
 * Why and how a run ends early. Two ways (seed 001 §6.1, docs/runs.md "Cancel"):
 * - **halt**: the chain stops now: ABORT travels both ways (draft-dohmeyer-chainsync-03 with chainup's extension) and
 *   every device's work is aborted. The first cause wins (a veto, a failed device, a predecessor timeout …).
 * - **stop**: the operator cancelled or `timeouts.run` passed: the device in progress finishes, then the chain halts.
 */
import type {ChainStatus} from '../model/status.js'

export interface HaltCause {
  status: ChainStatus
  reason: string
  /** A device failure, a veto or a predecessor timeout: `on_failure: rollback` applies (not a stop or a lost link). */
  rollback?: boolean
}

/** The part of {@link RunHalt} a device agent uses. */
export interface HaltPort {
  /** Aborted when the chain halts. */
  readonly signal: AbortSignal
  /** Records a cause without aborting. First cause wins. */
  record(status: ChainStatus, reason: string, rollback?: boolean): void
  /** Aborts {@link signal} (idempotent) without recording a cause; `reason` becomes the signal's reason. */
  abort(reason: string): void
  /** Set once a stop was requested: the device in progress finishes, then the chain halts with this. */
  stopRequested(): {status: ChainStatus; reason: string} | undefined
}

/** One run's halt and stop state. */
export class RunHalt implements HaltPort {
  private readonly controller = new AbortController()
  private first: HaltCause | undefined
  private stopping: {status: ChainStatus; reason: string} | undefined
  /** While the chain runs: halts it through the nodes (ABORT both ways), not only locally. */
  private viaChain: ((status: ChainStatus, reason: string) => void) | undefined

  get signal(): AbortSignal {
    return this.controller.signal
  }

  /** The cause the run ends with, if it does not complete. */
  get cause(): HaltCause | undefined {
    return this.first
  }

  record(status: ChainStatus, reason: string, rollback = false): void {
    this.first ??= {status, reason, rollback}
  }

  /** Replaces the cause (a rollback's outcome, a stack-wide gate's veto): these decide the run's end by themselves. */
  override(cause: HaltCause): void {
    this.first = cause
  }

  halt(status: ChainStatus, reason: string, rollback = false): void {
    this.record(status, reason, rollback)
    this.abort(reason)
  }

  /** Halts now: through the chain when one runs (so every node sends ABORT), else locally. */
  haltNow(status: ChainStatus, reason: string): void {
    if (this.viaChain) {
      this.record(status, reason)
      this.viaChain(status, reason)
    } else this.halt(status, reason)
  }

  /** Aborts the signal (idempotent) without recording a cause. */
  abort(reason: string): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason)
  }

  /**
   * Requests a stop: the agent whose device is working halts the chain when its task ends (it reads
   * {@link stopRequested}); when nothing works, the caller halts at once with {@link haltNow}.
   * @returns false when a stop was already requested (the first one stands)
   */
  requestStop(status: ChainStatus, reason: string): boolean {
    if (this.stopping) return false
    this.stopping = {status, reason}
    return true
  }

  stopRequested(): {status: ChainStatus; reason: string} | undefined {
    return this.stopping
  }

  /** While a chain runs, {@link haltNow} goes through `halt` (an agent that aborts the round on its node). */
  routeThroughChain(halt: ((status: ChainStatus, reason: string) => void) | undefined): void {
    this.viaChain = halt
  }
}
