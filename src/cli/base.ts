import {Command} from '@oclif/core'

import {ChainupError, ExitCode, formatError} from '../errors.js'

/** Base of every chainup command: one printer for errors, one place that maps them to exit codes. */
export abstract class ChainupCommand extends Command {
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
