import {closeSync, existsSync, openSync, writeSync} from 'node:fs'
import {join} from 'node:path'

import {Command} from '@oclif/core'

import {ChainupError, ExitCode, formatError} from '../errors.js'
import {JOURNAL_FILE} from '../journal/open.js'
import {stateDirectory} from './state-dir.js'

/** Base of every chainup command: one printer for errors, one place that maps them to exit codes. */
export abstract class ChainupCommand extends Command {
  /** Tells the process-level handlers ({@link installProcessHandlers}) where this command's journal is. */
  override async init(): Promise<void> {
    await super.init()
    const flags = (this.constructor as typeof Command).flags ?? {}
    if ('state-dir' in flags) crashContext.stateDir = stateDirectory(flagValue(this.argv, '--state-dir'))
    crashContext.runs = this.id === 'upgrade' || this.id === 'resume'
    internalErrorFailpoint()
  }

  protected override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (error instanceof ChainupError) {
      process.stderr.write(formatError(error) + '\n')
      return this.exit(error.exitCode)
    }
    // oclif's own parse errors (missing argument, unknown flag) are bad input too.
    if (error.oclif?.exit === 2 || /Missing \d+ required arg|Nonexistent flag|Unexpected argument/.test(error.message)) {
      process.stderr.write(`Error: ${error.message}\n`)
      return this.exit(ExitCode.badInput)
    }
    return super.catch(error)
  }
}

/** What the process-level handlers know about the command that is running. */
const crashContext: CrashContext = {}

/** What the process-level handlers say about the command a crash interrupts. */
export interface CrashContext {
  /** The command's state directory (journal, crash log). */
  stateDir?: string
  /** The command runs an upgrade (`upgrade`, `resume`): the report says how to continue it. */
  runs?: boolean
  /** The run it works on, once known. */
  runId?: string
}

/** Lets the handlers name the run a crash interrupts (`chainup resume RUN_ID` continues it). */
export function noteCrashContext(context: CrashContext): void {
  Object.assign(crashContext, context)
}

let installed = false

/**
 * Installs `unhandledRejection` and `uncaughtException` handlers for the CLI process (bin/run.js; never in a test
 * worker). A failure of chainup's own that nothing caught prints one line on stderr (`chainup: internal error: …`,
 * naming the journal and what continues the run when the command has one), writes the stack to
 * `<state-dir>/crash-<pid>.log` when the state directory exists (on stderr under `DEBUG`, or when the file cannot be
 * written), and exits 1: never silently, never a bare stack trace as the only output. Idempotent.
 */
export function installProcessHandlers(): void {
  if (installed) return
  installed = true
  let handling = false
  const handler = (error: unknown) => {
    if (handling) process.exit(ExitCode.failed)
    handling = true
    try {
      writeSync(2, internalErrorReport(error, crashContext, process.env.DEBUG !== undefined && process.env.DEBUG !== ''))
    } finally {
      process.exit(ExitCode.failed)
    }
  }
  process.on('uncaughtException', handler)
  process.on('unhandledRejection', handler)
}

/** The text the handlers print (and the crash file they write). Exported for tests. */
export function internalErrorReport(error: unknown, context: CrashContext, debug: boolean): string {
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim().slice(0, 500) || '(no message)'
  const stack = error instanceof Error && error.stack ? error.stack : String(error)
  let line = `chainup: internal error: ${message}`
  let showStack = debug
  if (context.stateDir !== undefined) {
    const log = join(context.stateDir, `crash-${process.pid}.log`)
    if (writeCrashLog(log, stack)) line += `; details in ${log}`
    else showStack = true
    if (context.runs) {
      line += `; the run's journal is in ${join(context.stateDir, JOURNAL_FILE)}`
      line += context.runId
        ? `: chainup resume ${context.runId} --state-dir ${context.stateDir} continues it`
        : `: chainup history --state-dir ${context.stateDir} names the run, chainup resume RUN_ID continues it`
    }
  }
  return line + '\n' + (showStack ? stack + '\n' : '')
}

function writeCrashLog(file: string, stack: string): boolean {
  if (!existsSync(join(file, '..'))) return false
  try {
    const fd = openSync(file, 'a', 0o600)
    try {
      writeSync(fd, `${new Date().toISOString()} pid ${process.pid}: chainup ${process.argv.slice(2).join(' ')}\n${stack}\n\n`)
    } finally {
      closeSync(fd)
    }
    return true
  } catch {
    return false
  }
}

/** `--flag VALUE` or `--flag=VALUE` from raw argv (the last one wins, as oclif's parser does). */
function flagValue(argv: readonly string[], flag: string): string | undefined {
  let value: string | undefined
  argv.forEach((a, i) => {
    if (a === flag) value = argv[i + 1]
    else if (a.startsWith(flag + '=')) value = a.slice(flag.length + 1)
  })
  return value
}

/**
 * Test-only: `CHAINUP_FAILPOINT=internal-error:uncaught` throws from a timer and `internal-error:rejection` leaves a
 * promise rejected, right after a command started (docs/runs.md "Crash points"), so that the spawned CLI tests can see
 * what the process-level handlers do.
 */
function internalErrorFailpoint(): void {
  const point = process.env.CHAINUP_FAILPOINT
  if (point === 'internal-error:uncaught') {
    setImmediate(() => {
      throw new Error('failpoint internal-error:uncaught')
    })
  } else if (point === 'internal-error:rejection') {
    void Promise.reject(new Error('failpoint internal-error:rejection'))
  }
}
