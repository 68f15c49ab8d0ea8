/**
 * One error root for chainup, split by whose fault it is (STYLE.md: Shopify/cli AbortError vs BugError).
 * Every error the CLI prints goes through {@link formatError}; every exit code comes from {@link ExitCode}.
 */

/** Process exit codes (README "Exit codes"). */
export const ExitCode = {
  /** The run completed: every device upgraded or already on target, every gate allowed. */
  completed: 0,
  /** The run failed: a device task failed and on_error did not allow continuing, or the chain halted on a fault (e.g. predecessor timeout). */
  failed: 1,
  /** Bad input (inventory, playbook, flags, missing secret): nothing was touched. */
  badInput: 2,
  /** A gate vetoed: nothing more was started after the veto. Includes the maintenance window's gate parking the run (docs/operations.md). */
  vetoed: 3,
  /** Another run of the same stack holds the lock (its run id and pid are printed). */
  locked: 4,
  /** Not started: outside the inventory's maintenance window (`window:`), no device was contacted; `--ignore-window` overrides. */
  outsideWindow: 5,
  /** Cancelled by the operator (SIGINT/SIGTERM); `chainup resume RUN_ID` continues it (128 + SIGINT). */
  cancelled: 130,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** Base class of every error chainup raises on purpose. */
export class ChainupError extends Error {
  /** Stable machine-readable code, e.g. `INVENTORY_INVALID`. */
  readonly code: string
  /** One line telling the user what to do about it, if there is something to do. */
  readonly hint: string | undefined
  /** The process exit code this error leads to. */
  readonly exitCode: ExitCode

  constructor(message: string, options: {code: string; hint?: string; exitCode?: ExitCode; cause?: unknown}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.code = options.code
    this.hint = options.hint
    this.exitCode = options.exitCode ?? ExitCode.failed
  }
}

/** The user can fix this (bad file, missing variable, wrong flag). Exits 2 and touches no device. */
export class InputError extends ChainupError {
  /** Individual problems, each already formatted as `file:line:col path: message`. */
  readonly problems: readonly string[]

  constructor(message: string, options: {code: string; hint?: string; problems?: readonly string[]; cause?: unknown}) {
    super(message, {...options, exitCode: ExitCode.badInput})
    this.problems = options.problems ?? []
  }
}

/** Renders an error and its `cause` chain as plain lines, without stack traces for {@link ChainupError}s. */
export function formatError(error: unknown): string {
  const lines: string[] = []
  let current: unknown = error
  let depth = 0
  while (current !== undefined && depth < 8) {
    if (current instanceof InputError) {
      lines.push(`${depth === 0 ? 'Error' : 'Caused by'}: ${current.message}`)
      for (const p of current.problems) lines.push(`  ${p}`)
    } else if (current instanceof Error) {
      lines.push(`${depth === 0 ? 'Error' : 'Caused by'}: ${current.message}`)
    } else {
      lines.push(`${depth === 0 ? 'Error' : 'Caused by'}: ${String(current)}`)
    }
    if (current instanceof ChainupError && current.hint) lines.push(`Hint: ${current.hint}`)
    current = current instanceof Error ? current.cause : undefined
    depth++
  }
  return lines.join('\n')
}
