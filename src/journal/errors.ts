import {ChainupError, ExitCode} from '../errors.js'

/**
 * A journal operation was refused or the journal cannot be used. `code` says which:
 * `JOURNAL_UNAVAILABLE`, `JOURNAL_UNREADABLE`, `JOURNAL_TOO_NEW`, `UNKNOWN_RUN`, `UNKNOWN_DEVICE`,
 * `UNKNOWN_OPERATION_RUN`, `RUN_EXISTS`, `DUPLICATE_DEVICE`, `INVALID_STATUS`, `ALREADY_FINISHED`,
 * `RUN_NOT_FINISHED`, `FENCE_OPEN`, `RESERVED_EVENT_TYPE`, `ASYNC_TRANSACTION`.
 */
export class JournalError extends ChainupError {
  constructor(message: string, options: {code: string; hint?: string; cause?: unknown}) {
    super(message, {...options, exitCode: ExitCode.failed})
  }
}
