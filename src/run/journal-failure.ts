/**
 * When the journal cannot write any more (disk full, `SQLITE_BUSY` past its timeout, an I/O error): the run stops
 * safely instead of dying mid-reload (issue #8, docs/security.md "A failure of ours"). No new device starts, the one
 * in progress finishes its reload and is waited for, a `chainHalted` event (reporter `journal`) makes the notifier
 * send a trap, and the result is built from what the process still knows.
 */
import type {RunEvents} from '../model/events.js'
import type {RunHalt} from './halt.js'
import {stopRun} from './stop.js'

export class JournalFailure {
  /** The first journal write that failed, if any. */
  error: Error | undefined

  constructor(
    private readonly halt: RunHalt,
    private readonly events: RunEvents,
    /** Whether a device is working right now (its reload is then waited for). */
    private readonly working: () => boolean,
  ) {}

  /** Reports a failed write (the first one stops the run; later ones change nothing). */
  readonly onError = (error: Error): void => {
    if (this.error) return
    this.error = error
    const reason = `journal write failed: ${error.message}`
    this.events.emit('chainHalted', {device: 'journal', reason})
    stopRun(this.halt, this.events, 'failed', reason, this.working())
  }

  /** Runs a write the run's end depends on; a failure is remembered (the result then comes from memory). */
  attempt(write: () => void): void {
    try {
      write()
    } catch (error) {
      this.error ??= error as Error
    }
  }
}

/** Runs a clean-up that must not hide the run's result (releasing the lock, closing the journal); logs a failure. */
export function bestEffort(events: RunEvents, what: string, work: () => void): void {
  try {
    work()
  } catch (error) {
    events.emit('log', {level: 'error', device: null, message: `could not ${what}: ${(error as Error).message}`})
  }
}
