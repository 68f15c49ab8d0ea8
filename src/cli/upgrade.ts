/**
 * What `chainup upgrade` does, apart from flag parsing: load and check the input, check the maintenance window,
 * continue a run the window parked (or start one), start the lab if asked, run, and map the result to an exit code.
 */
import {loadStack} from '../config/load.js'
import type {Inventory} from '../config/types.js'
import {ChainupError, ExitCode} from '../errors.js'
import {RunEvents} from '../model/events.js'
import type {ChainExecutionResult} from '../model/result.js'
import {formatInZone, windowState} from '../window/window.js'
import {findParkedRun, prepareResume} from './resume.js'
import {appendLogLine, attachProgress, runWithUi, startRunLab, type RunUiOptions} from './run-ui.js'

export {exitCodeFor} from './run-ui.js'

export interface UpgradeCommandOptions extends RunUiOptions {
  inventoryPath: string
  lab: boolean
  /** Overrides inventory.chainsync.extensions (`--no-extensions`). */
  extensions?: boolean
  /** `--new-run`: start a new run even when the stack's newest run was parked by the maintenance window. */
  newRun?: boolean
  /** The new run's id (ROUND-ID); a new UUID by default (`chainup serve` names it before the run starts). */
  runId?: string
}

/** Not started: outside the inventory's maintenance window (exit 5); nothing was touched. */
export class OutsideWindowError extends ChainupError {
  /** When the next window opens. */
  readonly nextOpensAt: Date

  constructor(inventory: Inventory & {window: NonNullable<Inventory['window']>}, nextOpensAt: Date) {
    super(
      `not started: outside the maintenance window; next window opens at ${nextOpensAt.toISOString()} (${formatInZone(nextOpensAt, inventory.window.timezone)} ${inventory.window.timezone})`,
      {code: 'OUTSIDE_WINDOW', exitCode: ExitCode.outsideWindow, hint: `--ignore-window starts anyway; chainup schedule ${inventory.file} prints the crontab line that starts it when the window opens`},
    )
    this.nextOpensAt = nextOpensAt
  }
}

/**
 * Refuses to start outside the inventory's window (no window, or `--ignore-window`: no check).
 * @throws OutsideWindowError (exit 5), also written to the `--log-file`
 */
function checkWindow(inventory: Inventory, opts: UpgradeCommandOptions): void {
  const window = inventory.window
  if (!window || opts.ignoreWindow) return
  const state = windowState(window, (opts.now ?? (() => new Date()))())
  if (state.inside) return
  const error = new OutsideWindowError({...inventory, window}, state.next_opens_at)
  if (opts.logFile) appendLogLine(opts.logFile, `- ${error.message}`)
  throw error
}

/**
 * @returns the result and the exit code
 * @throws InputError (exit 2) for bad files or missing secrets, before anything is touched, and for a parked run
 *   whose inputs changed (`RESUME_INPUTS_CHANGED`: `--new-run` starts over); StackLockedError (exit 4);
 *   OutsideWindowError (exit 5) outside the maintenance window, before the lab starts or any device is contacted
 */
export async function upgradeCommand(opts: UpgradeCommandOptions): Promise<{result: ChainExecutionResult; exitCode: ExitCode}> {
  const {inventory, playbook} = await loadStack(opts.inventoryPath)
  if (opts.logFile) appendLogLine(opts.logFile, '')
  checkWindow(inventory, opts)
  // The stack's newest run, parked by the window, is continued (docs/operations.md "Parking") unless --new-run.
  const parked = opts.newRun ? undefined : await findParkedRun(opts.stateDir, inventory.stack)
  const resume = parked && !(await prepareResume(opts.stateDir, parked, inventory.file, {lab: opts.lab})).already ? parked : undefined
  const events = opts.events ?? new RunEvents()
  const ui = await attachProgress(events, opts)
  if (resume) ui.note(`continuing run ${resume} of stack ${inventory.stack}, parked by the maintenance window (--new-run starts over)`)

  const lab = opts.lab ? await startRunLab(inventory, ui.note) : undefined
  let traps = 0
  try {
    const out = await runWithUi(
      {
        inventory,
        playbook,
        env: lab?.env ?? process.env,
        extra: {...(opts.extensions === undefined ? {} : {extensions: opts.extensions}), ...(lab ? {hostKeys: lab.hostKeys} : {}), ...(resume ? {resume} : opts.runId ? {runId: opts.runId} : {})},
      },
      events,
      ui,
      opts,
    )
    traps = out.result.traps.length
    return out
  } finally {
    await lab?.stop(traps)
  }
}
