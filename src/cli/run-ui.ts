/**
 * The part `chainup upgrade` and `chainup resume` share: pick the renderer, resolve secrets and transports,
 * run, and map the result to an exit code.
 */
import type {Writable} from 'node:stream'

import type {Inventory, Playbook} from '../config/types.js'
import {ExitCode} from '../errors.js'
import {RunEvents} from '../model/events.js'
import type {ChainExecutionResult} from '../model/result.js'
import {resolveSecrets} from '../run/secrets.js'
import {runUpgrade, type UpgradeOptions} from '../run/upgrade.js'
import {attachPlainReporter} from '../ui/plain.js'

export interface RunUiOptions {
  json: boolean
  stateDir: string
  stdout: Writable & {isTTY?: boolean}
  stderr: Writable
  /** First interrupt: finish the device in progress, then stop (`cancelled`, exit 130). */
  cancel?: AbortSignal
  /** Second interrupt: stop at once. */
  kill?: AbortSignal
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

/** Progress on a terminal (listr2) or as timestamped lines; `note` writes one extra line the same way. */
export async function attachProgress(events: RunEvents, opts: RunUiOptions): Promise<{note: (line: string) => void; done: () => Promise<void>; tty: boolean}> {
  // listr2 on a terminal, timestamped plain lines otherwise; with --json progress goes to stderr.
  const progressOut = opts.json ? opts.stderr : opts.stdout
  const tty = !opts.json && opts.stdout.isTTY === true && !process.env.CI
  let listrDone: Promise<void> | undefined
  if (tty) {
    const {attachListrReporter} = await import('../ui/listr.js')
    listrDone = attachListrReporter(events).done
  } else {
    attachPlainReporter(events, progressOut)
  }
  return {
    tty,
    note: (line) => (tty ? opts.stderr : progressOut).write(`${new Date().toISOString()} ${line}\n`),
    done: async () => {
      if (listrDone) await listrDone
    },
  }
}

/**
 * Resolves secrets, runs (or resumes), and returns the result with its exit code.
 * @throws InputError (exit 2) for a missing secret or TLS file; StackLockedError (exit 4)
 */
export async function runWithUi(
  input: {inventory: Inventory; playbook: Playbook; env?: NodeJS.ProcessEnv; extra?: Partial<UpgradeOptions>},
  events: RunEvents,
  ui: Awaited<ReturnType<typeof attachProgress>>,
  opts: RunUiOptions,
): Promise<{result: ChainExecutionResult; exitCode: ExitCode}> {
  const {inventory, playbook} = input
  const {utils} = (await import('ssh2')).default
  const secrets = resolveSecrets(inventory, input.env ?? process.env, (key, passphrase) => utils.parseKey(key, passphrase))
  const result = await runUpgrade({
    inventory,
    playbook,
    secrets,
    events,
    stateDir: opts.stateDir,
    ...(opts.cancel ? {cancel: opts.cancel} : {}),
    ...(opts.kill ? {kill: opts.kill} : {}),
    ...input.extra,
  })
  await ui.done()
  if (ui.tty) {
    const {formatMs} = await import('../util/duration.js')
    opts.stdout.write(`run ${result.execution_id} ${result.status} in ${formatMs(result.duration_ms)}${result.reason ? `: ${result.reason}` : ''}\n`)
  }
  return {result, exitCode: exitCodeFor(result)}
}
