/**
 * What `chainup upgrade` does, apart from flag parsing: load and check the input, resolve secrets,
 * start the lab if asked, pick the renderer, run, and map the result to an exit code.
 */
import type {Writable} from 'node:stream'

import type {ChainSyncTransport} from '../protocol/transport.js'
import {loadStack} from '../config/load.js'
import {ExitCode} from '../errors.js'
import {RunEvents} from '../run/events.js'
import type {ChainExecutionResult} from '../run/result.js'
import {resolveSecrets} from '../run/secrets.js'
import {runUpgrade} from '../run/upgrade.js'
import {attachPlainReporter} from '../ui/plain.js'

export interface UpgradeCommandOptions {
  inventoryPath: string
  lab: boolean
  json: boolean
  stateDir: string
  /** Overrides inventory.chainsync.extensions (`--no-extensions`). */
  extensions?: boolean
  stdout: Writable & {isTTY?: boolean}
  stderr: Writable
}

/** Exit code for a run status (README "Exit codes"). */
export function exitCodeFor(result: ChainExecutionResult): ExitCode {
  switch (result.status) {
    case 'completed':
      return ExitCode.completed
    case 'vetoed':
      return ExitCode.vetoed
    case 'cancelled':
      return ExitCode.cancelled
    case 'failed':
      return ExitCode.failed
  }
}

/**
 * @returns the result and the exit code
 * @throws InputError (exit 2) for bad files or missing secrets, before anything is touched
 */
export async function upgradeCommand(opts: UpgradeCommandOptions): Promise<{result: ChainExecutionResult; exitCode: ExitCode}> {
  const {inventory, playbook} = await loadStack(opts.inventoryPath)
  const events = new RunEvents()
  // Progress: listr2 on a terminal, timestamped plain lines otherwise; with --json progress goes to stderr.
  const progressOut = opts.json ? opts.stderr : opts.stdout
  const tty = !opts.json && opts.stdout.isTTY === true && !process.env.CI
  let listrDone: Promise<void> | undefined
  if (tty) {
    const {attachListrReporter} = await import('../ui/listr.js')
    listrDone = attachListrReporter(events).done
  } else {
    attachPlainReporter(events, progressOut)
  }
  const note = (line: string) => (tty ? opts.stderr : progressOut).write(`${new Date().toISOString()} lab ${line}\n`)

  let lab: Awaited<ReturnType<typeof import('../lab/lab.js').startLab>> | undefined
  let env: NodeJS.ProcessEnv = process.env
  if (opts.lab) {
    const {startLab} = await import('../lab/lab.js')
    lab = await startLab(inventory, {onTrap: (line) => note(`trap receiver: ${line}`)})
    env = {...process.env, ...lab.env}
    note(`started ${lab.switches.length} simulated Catalyst 9000 switches (${lab.switches.map((s) => `${s.port}`).join(', ')}) and ${lab.receivers.length} trap receiver(s)`)
  }
  try {
    const secrets = resolveSecrets(inventory, env)
    const {chainsyncTransport} = await import('../run/transport.js')
    const transports = new Map<string, ChainSyncTransport | undefined>()
    for (const d of inventory.devices) if (!d.remote) transports.set(d.name, await chainsyncTransport(inventory, d.name))
    const result = await runUpgrade({
      inventory,
      playbook,
      secrets,
      events,
      stateDir: opts.stateDir,
      ...(opts.extensions === undefined ? {} : {extensions: opts.extensions}),
      transportFor: (device) => transports.get(device),
      ...(lab ? {hostKeys: lab.hostKeys} : {}),
    })
    if (listrDone) {
      await listrDone
      const {formatMs} = await import('../util/duration.js')
      opts.stdout.write(`run ${result.execution_id} ${result.status} in ${formatMs(result.duration_ms)}${result.reason ? `: ${result.reason}` : ''}\n`)
    }
    if (lab) {
      // Give a trap in flight a moment to reach the lab receiver before it stops.
      if (result.traps.length > 0) await new Promise((r) => setTimeout(r, 200))
    }
    return {result, exitCode: exitCodeFor(result)}
  } finally {
    await lab?.stop()
  }
}
