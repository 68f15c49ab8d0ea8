/**
 * What `chainup upgrade` does, apart from flag parsing: load and check the input, start the lab if asked,
 * run, and map the result to an exit code.
 */
import {loadStack} from '../config/load.js'
import type {ExitCode} from '../errors.js'
import {RunEvents} from '../model/events.js'
import type {ChainExecutionResult} from '../model/result.js'
import {attachProgress, runWithUi, type RunUiOptions} from './run-ui.js'

export {exitCodeFor} from './run-ui.js'

export interface UpgradeCommandOptions extends RunUiOptions {
  inventoryPath: string
  lab: boolean
  /** Overrides inventory.chainsync.extensions (`--no-extensions`). */
  extensions?: boolean
}

/**
 * @returns the result and the exit code
 * @throws InputError (exit 2) for bad files or missing secrets, before anything is touched; StackLockedError (exit 4)
 */
export async function upgradeCommand(opts: UpgradeCommandOptions): Promise<{result: ChainExecutionResult; exitCode: ExitCode}> {
  const {inventory, playbook} = await loadStack(opts.inventoryPath)
  const events = new RunEvents()
  const ui = await attachProgress(events, opts)

  let lab: Awaited<ReturnType<typeof import('../lab/lab.js').startLab>> | undefined
  let env: NodeJS.ProcessEnv = process.env
  if (opts.lab) {
    const {startLab} = await import('../lab/lab.js')
    lab = await startLab(inventory, {onTrap: (line) => ui.note(`lab trap receiver: ${line}`)})
    env = {...process.env, ...lab.env}
    ui.note(`lab started ${lab.switches.length} simulated Catalyst 9000 switches (${lab.switches.map((s) => `${s.port}`).join(', ')}) and ${lab.receivers.length} trap receiver(s)`)
  }
  try {
    const out = await runWithUi(
      {inventory, playbook, env, extra: {...(opts.extensions === undefined ? {} : {extensions: opts.extensions}), ...(lab ? {hostKeys: lab.hostKeys} : {})}},
      events,
      ui,
      opts,
    )
    // Give a trap in flight a moment to reach the lab receiver before it stops.
    if (lab && out.result.traps.length > 0) await new Promise((r) => setTimeout(r, 200))
    return out
  } finally {
    await lab?.stop()
  }
}
