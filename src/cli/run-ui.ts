/**
 * The part `chainup upgrade` and `chainup resume` share: pick the renderer, resolve secrets and transports,
 * run, and map the result to an exit code.
 */
import {appendFileSync} from 'node:fs'
import {join} from 'node:path'
import {Writable} from 'node:stream'

import type {Inventory, Playbook} from '../config/types.js'
import {ExitCode, InputError} from '../errors.js'
import {RunEvents} from '../model/events.js'
import type {ChainExecutionResult} from '../model/result.js'
import {openJournal} from '../journal/journal.js'
import {resolveSecrets} from '../run/secrets.js'
import {runUpgrade, type UpgradeOptions} from '../run/upgrade.js'
import {WindowEvent} from '../run/window-gate.js'
import {attachPlainReporter} from '../ui/plain.js'
import {runRecap} from '../ui/recap.js'
import {shellWord} from '../util/shell.js'
import {stateDirectory} from './state-dir.js'

export interface RunUiOptions {
  json: boolean
  stateDir: string
  stdout: Writable & {isTTY?: boolean}
  stderr: Writable
  /** First interrupt: finish the device in progress, then stop (`cancelled`, exit 130). */
  cancel?: AbortSignal
  /** Second interrupt: stop at once. */
  kill?: AbortSignal
  /** `--log-file`: the plain timestamped lines (ui/plain.ts) are appended to this file too, whatever the terminal shows. */
  logFile?: string
  /** "Now" for the maintenance window (the outside-window check and the window gate); tests inject it. @default () => new Date() */
  now?: () => Date
  /** `--ignore-window`: start outside the maintenance window and run without the window gate (journaled as `windowIgnored`). */
  ignoreWindow?: boolean
  /** `--transcript DIR`: every device session is written, redacted, to `DIR/<run id>/<device>.log` (docs/devices.md "Transcripts"). */
  transcriptDir?: string
  /** The run's event bus, when the caller watches it too (`chainup serve`: SSE, metrics); a new one by default. */
  events?: RunEvents
  /** The devices are the lab's simulators (`--lab`): the commands the recap suggests carry `--lab` too. */
  lab?: boolean
}

/**
 * The run's secrets from `env` (passwords, keys, communities), as the run will resolve them.
 * @throws InputError (exit 2) naming a missing variable or file, or a key that does not parse
 */
export async function runSecrets(inventory: Inventory, env: NodeJS.ProcessEnv = process.env): Promise<ReturnType<typeof resolveSecrets>> {
  const {utils} = (await import('ssh2')).default
  return resolveSecrets(inventory, env, (key, passphrase) => utils.parseKey(key, passphrase))
}

/** The lab of one run (`--lab`): secrets it made up, the simulators' host keys, and how to stop it. */
export interface RunLab {
  env: NodeJS.ProcessEnv
  hostKeys: ReadonlyMap<string, import('../device/known-hosts.js').HostKeySource>
  /** Traps sent in the run: a trap in flight gets a moment to reach the lab's receiver before it stops. */
  stop: (trapsSent: number) => Promise<void>
}

/**
 * Starts the lab for an inventory (`--lab`, shared by `upgrade`, `resume` and `serve`) and says so through `note`.
 * @throws InputError when a device is not on loopback; the listen error when a port is taken
 */
export async function startRunLab(inventory: Inventory, note: (line: string) => void): Promise<RunLab> {
  const {startLab} = await import('../lab/lab.js')
  const lab = await startLab(inventory, {onTrap: (line) => note(`lab trap receiver: ${line}`)})
  note(`lab started ${lab.switches.length} simulated ${lab.simulates} switches (${lab.switches.map((s) => `${s.port}`).join(', ')}) and ${lab.receivers.length} trap receiver(s)`)
  return {
    env: {...process.env, ...lab.env},
    hostKeys: lab.hostKeys,
    stop: async (trapsSent) => {
      if (trapsSent > 0) await new Promise((r) => setTimeout(r, 200))
      await lab.stop()
    },
  }
}

/**
 * Appends one timestamped line to the `--log-file` (created 0600 if absent).
 * @throws InputError (exit 2) when the file cannot be written (checked before anything is touched)
 */
export function appendLogLine(file: string, line: string): void {
  try {
    appendFileSync(file, line === '' ? '' : `${new Date().toISOString()} ${line}\n`, {mode: 0o600})
  } catch (error) {
    throw new InputError(`--log-file ${file}: cannot write: ${(error as Error).message}`, {code: 'LOG_FILE', hint: 'name a file in a directory that exists and that you can write'})
  }
}

/** A stream that appends each chunk to `file` at once (a crash loses no line; nothing to close). Write errors are dropped after the first, which goes to `stderr`. */
function logFileStream(file: string, stderr: Writable): Writable {
  let failed = false
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        if (!failed) appendFileSync(file, chunk)
      } catch (error) {
        failed = true
        stderr.write(`warning: --log-file ${file}: ${(error as Error).message}; no more lines are written to it\n`)
      }
      callback()
    },
  })
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
export async function attachProgress(events: RunEvents, opts: RunUiOptions): Promise<{note: (line: string) => void; done: () => Promise<void>; tty: boolean; saved: () => string | undefined}> {
  // listr2 on a terminal, timestamped plain lines otherwise; with --json progress goes to stderr.
  const progressOut = opts.json ? opts.stderr : opts.stdout
  const tty = !opts.json && opts.stdout.isTTY === true && !process.env.CI
  let listrDone: Promise<void> | undefined
  // The run's own line about its result file (run/record.ts: `result saved to …`, or where it went instead), for the recap.
  let saved: string | undefined
  events.on('log', (l) => {
    if (l.device === null && /^result (saved to|could not be saved)/.test(l.message)) saved = l.message
  })
  if (tty) {
    const {attachListrReporter} = await import('../ui/listr.js')
    listrDone = attachListrReporter(events).done
  } else {
    attachPlainReporter(events, progressOut)
  }
  let log: Writable | undefined
  if (opts.logFile) {
    appendLogLine(opts.logFile, '')
    log = logFileStream(opts.logFile, opts.stderr)
    attachPlainReporter(events, log)
  }
  return {
    tty,
    saved: () => saved,
    note: (line) => {
      const stamped = `${new Date().toISOString()} ${line}\n`
      ;(tty ? opts.stderr : progressOut).write(stamped)
      log?.write(stamped)
    },
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
  const secrets = await runSecrets(inventory, input.env ?? process.env)
  const result = await runUpgrade({
    inventory,
    playbook,
    secrets,
    events,
    stateDir: opts.stateDir,
    ...(opts.cancel ? {cancel: opts.cancel} : {}),
    ...(opts.kill ? {kill: opts.kill} : {}),
    ...(opts.now ? {now: opts.now} : {}),
    ...(opts.ignoreWindow ? {ignoreWindow: true} : {}),
    ...(opts.transcriptDir === undefined ? {} : {transcriptDir: opts.transcriptDir}),
    ...input.extra,
  })
  await ui.done()
  writeRecap(
    opts.stderr,
    runRecap(result, {
      saved: ui.saved() ?? `result saved to ${join(opts.stateDir, 'runs', `${result.execution_id}.json`)}`,
      stateDirArg: stateDirArg(opts.stateDir),
      lab: opts.lab === true,
      inventory: inventory.file,
      parked: result.status === 'vetoed' && (await parkedByWindow(opts.stateDir, result.execution_id)),
    }),
    ui.tty,
  )
  return {result, exitCode: exitCodeFor(result)}
}

/**
 * Writes the recap to `out`: as it is on a terminal; without one (cron, CI) every line starts with the timestamp and
 * `-` (no device), like every other plain line, so a log stays one timestamped line per event (README "Progress").
 */
export function writeRecap(out: Writable, lines: string[], tty: boolean): void {
  const stamp = tty ? '' : `${new Date().toISOString()} - `
  out.write(lines.map((l) => stamp + l).join('\n') + '\n')
}

/** ` --state-dir DIR` for the commands the recap suggests, when `stateDir` is not the default one; else ''. */
export function stateDirArg(stateDir: string): string {
  return stateDir === stateDirectory(undefined) ? '' : ` --state-dir ${shellWord(stateDir)}`
}

/** Whether the maintenance window parked the run (its journal has a `windowParked` event); false when the journal cannot say. */
async function parkedByWindow(stateDir: string, runId: string): Promise<boolean> {
  try {
    const journal = await openJournal(stateDir)
    try {
      return journal.events(runId).some((e) => e.type === WindowEvent.parked)
    } finally {
      journal.close()
    }
  } catch {
    return false
  }
}
