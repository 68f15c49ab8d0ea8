/**
 * `chainup upgrade A.yml B.yml …` (more than one inventory) and `chainup resume FLEET_ID`: a fleet of stacks as
 * DEC-002's council (src/fleet, docs/fleets.md). Loads and checks every inventory before anything is touched (bad
 * input, a device in two inventories, a missing secret: exit 2), runs the fleet with one progress line per stack,
 * and maps the fleet's status to an exit code (0 completed, 1 failed, 3 vetoed, 130 cancelled).
 */
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import type {Writable} from 'node:stream'

import {loadStack} from '../config/load.js'
import type {Inventory} from '../config/types.js'
import {ExitCode, InputError} from '../errors.js'
import {fleetResultFromJournal, runFleet, sharedDevices, type FleetStack, type StackSetup} from '../fleet/fleet.js'
import {openJournal} from '../journal/journal.js'
import {RunEvents} from '../model/events.js'
import type {FleetExecutionResult} from '../model/result.js'
import type {ChainStatus} from '../model/status.js'
import {resolveSecrets} from '../run/secrets.js'
import {formatMs} from '../util/duration.js'
import {printable} from '../util/text.js'
import {fleetRecap} from '../ui/recap.js'
import {phaseText} from '../ui/wording.js'
import {windowState, formatInZone} from '../window/window.js'
import {appendLogLine, stateDirArg, writeRecap, type RunUiOptions} from './run-ui.js'

export interface FleetCommandOptions extends RunUiOptions {
  /** Two or more inventory files, in start order. */
  inventoryPaths: string[]
  /** Start the simulated switches of each stack just before it runs, stop them after (`--lab`). */
  lab: boolean
  /** Stacks at once (`--concurrency`). @default 1 */
  concurrency?: number
  /** Failed stacks that stop the fleet (`--max-failed`); undefined = no limit. */
  maxFailed?: number
  /** Overrides every inventory's chainsync.extensions (`--no-extensions`). */
  extensions?: boolean
  /** Start stacks outside their maintenance window (`--ignore-window`). */
  ignoreWindow?: boolean
  /** "Now" for the window check. @default () => new Date() */
  now?: () => Date
  /** The fleet's id; a new UUID by default (`chainup serve` names it before the fleet starts). */
  fleetId?: string
  /** Called with each stack's event bus before the stack runs (`chainup serve`: SSE, metrics). */
  watchStack?: (index: number, events: RunEvents) => void
}

/** Exit code for a fleet status: 0 completed, 1 failed, 3 vetoed, 130 cancelled. */
export function fleetExitCode(status: ChainStatus): ExitCode {
  return status === 'completed' ? ExitCode.completed : status === 'vetoed' ? ExitCode.vetoed : status === 'cancelled' ? ExitCode.cancelled : ExitCode.failed
}

/**
 * Runs a fleet.
 * @returns the fleet result and its exit code
 * @throws InputError (exit 2) for a bad inventory or playbook, a device in two inventories, a flag out of range or a
 *   missing secret, before any device is touched
 */
export async function fleetCommand(opts: FleetCommandOptions): Promise<{result: FleetExecutionResult; exitCode: ExitCode}> {
  checkFlags(opts)
  const {stacks, env} = await loadFleet(opts.inventoryPaths, opts.lab)
  return execute(stacks, env, opts, undefined)
}

/**
 * `chainup resume FLEET_ID`: resumes the fleet's unfinished stack runs and starts the stacks that never started, with
 * the fleet's concurrency and --max-failed.
 * A fleet with nothing left to do is reported as it ended.
 * @returns null when FLEET_ID is not a fleet (then it is a run id)
 * @throws InputError (exit 2) when an inventory cannot be loaded any more
 */
export async function resumeFleetCommand(opts: RunUiOptions & {fleetId: string; watchStack?: NonNullable<FleetCommandOptions['watchStack']>}): Promise<{result: FleetExecutionResult; exitCode: ExitCode} | null> {
  const journal = await openJournal(opts.stateDir)
  let record
  try {
    record = journal.fleet(opts.fleetId)
  } finally {
    journal.close()
  }
  if (!record) return null
  const left = record.stacks.filter((s) => s.run_status === null || s.run_status === 'running' || s.run_status === 'cancelled')
  if (record.status !== 'running' && left.length === 0) {
    // Nothing left to do: report the fleet as it ended (as `chainup resume` does for a finished run).
    const j = await openJournal(opts.stateDir)
    try {
      const result = fleetResultFromJournal(j, record)
      return {result, exitCode: fleetExitCode(result.status)}
    } finally {
      j.close()
    }
  }
  const {stacks, env} = await loadFleet(record.stacks.map((s) => s.inventory), false)
  return execute(stacks, env, {...opts, inventoryPaths: [], lab: false, concurrency: record.concurrency, ...(record.max_failed === null ? {} : {maxFailed: record.max_failed})}, opts.fleetId)
}

function checkFlags(opts: FleetCommandOptions): void {
  const c = opts.concurrency ?? 1
  if (!Number.isInteger(c) || c < 1) throw new InputError(`--concurrency must be an integer ≥ 1, not ${c}`, {code: 'FLEET_FLAGS'})
  const m = opts.maxFailed
  if (m !== undefined && (!Number.isInteger(m) || m < 1)) throw new InputError(`--max-failed must be an integer ≥ 1, not ${m}`, {code: 'FLEET_FLAGS'})
}

/** Loads every inventory and resolves its secrets; refuses shared devices. */
async function loadFleet(paths: string[], lab: boolean): Promise<{stacks: FleetStack[]; env: NodeJS.ProcessEnv}> {
  const loaded = []
  for (const path of paths) loaded.push(await loadStack(path))
  const shared = sharedDevices(loaded)
  if (shared.length > 0) {
    throw new InputError(`${shared.length} device address${shared.length === 1 ? '' : 'es'} in more than one inventory of the fleet`, {
      code: 'FLEET_SHARED_DEVICE',
      problems: shared,
      hint: 'each device belongs to one stack: remove it from all but one inventory',
    })
  }
  const env: NodeJS.ProcessEnv = {...process.env}
  if (lab) {
    // The lab makes up a password per stack when its variable is unset; a fleet makes one up once, up front.
    for (const {inventory} of loaded) if (inventory.ssh.password_env && !env[inventory.ssh.password_env]) env[inventory.ssh.password_env] = randomBytes(12).toString('base64url')
  }
  const {utils} = (await import('ssh2')).default
  const stacks = loaded.map(({inventory, playbook}) => ({inventory, playbook, secrets: resolveSecrets(inventory, env, (key, passphrase) => utils.parseKey(key, passphrase))}))
  return {stacks, env}
}

async function execute(stacks: FleetStack[], env: NodeJS.ProcessEnv, opts: FleetCommandOptions, resume: string | undefined): Promise<{result: FleetExecutionResult; exitCode: ExitCode}> {
  const out = opts.json ? opts.stderr : opts.stdout
  // --log-file: checked before anything starts (exit 2), then every plain line goes there as well
  if (opts.logFile) appendLogLine(opts.logFile, '')
  const progress = new FleetProgress(stacks.map((s) => s.inventory.stack), out, !opts.json && opts.stdout.isTTY === true && !process.env.CI, opts.logFile)
  const now = opts.now ?? (() => new Date())
  try {
    const result = await runFleet({
      stacks,
      stateDir: opts.stateDir,
      concurrency: opts.concurrency ?? 1,
      ...(opts.maxFailed === undefined ? {} : {maxFailed: opts.maxFailed}),
      ...(resume ? {resume} : {}),
      ...(opts.cancel ? {cancel: opts.cancel} : {}),
      ...(opts.kill ? {kill: opts.kill} : {}),
      extra: {...(opts.extensions === undefined ? {} : {extensions: opts.extensions}), ...(opts.ignoreWindow ? {ignoreWindow: true} : {}), ...(opts.now ? {now: opts.now} : {})},
      ...(opts.fleetId && !resume ? {fleetId: opts.fleetId} : {}),
      eventsFor: (i) => {
        const events = progress.watch(i)
        opts.watchStack?.(i, events)
        return events
      },
      beforeStack: async (i): Promise<StackSetup | string> => {
        const {inventory} = stacks[i] as FleetStack
        const outside = opts.ignoreWindow ? null : outsideWindow(inventory, now())
        if (outside) return outside
        if (!opts.lab) return {}
        const {startLab} = await import('../lab/lab.js')
        const lab = await startLab(inventory, {env, trapReceivers: false})
        return {hostKeys: lab.hostKeys, cleanup: () => lab.stop()}
      },
      onStart: (i, _slot, runId) => progress.started(i, runId),
      onFinish: (i, outcome) => progress.finished(i, outcome.kind === 'ran' ? outcome.status : 'not started', outcome.reason),
    })
    progress.done(`fleet ${result.execution_id} ${result.status} in ${formatMs(result.duration_ms)}${result.reason ? `: ${result.reason}` : ''}`)
    // The recap on stderr (stdout stays the --json result): each stack's end, where the result is, what to run next.
    const file = join(opts.stateDir, 'runs', `${result.execution_id}.json`)
    const saved = existsSync(file) ? `result saved to ${file}` : 'the fleet result could not be saved (each stack run\'s result is under runs/; --json prints the fleet\'s)'
    writeRecap(opts.stderr, fleetRecap(result, {saved, stateDirArg: stateDirArg(opts.stateDir)}), progress.tty)
    return {result, exitCode: fleetExitCode(result.status)}
  } finally {
    progress.stop()
  }
}

/** Why a stack must not start now (outside its maintenance window, checked just before it would start), or null. */
export function outsideWindow(inventory: Inventory, now: Date): string | null {
  if (!inventory.window) return null
  const state = windowState(inventory.window, now)
  return state.inside ? null : `not started: outside the maintenance window; next window opens at ${formatInZone(state.next_opens_at, inventory.window.timezone)}`
}

/**
 * The fleet's progress: one line per stack (its status and the device in progress). On a terminal the block is
 * redrawn in place (at most every 200 ms); otherwise a timestamped line for each change that matters: a stack starts
 * or ends, a device starts upgrading, boots, ends.
 */
class FleetProgress {
  private readonly rows: Array<{stack: string; status: string; device: string; since: number}>
  private drawn = 0
  private timer: NodeJS.Timeout | undefined

  constructor(
    stacks: string[],
    private readonly out: Writable,
    readonly tty: boolean,
    private readonly logFile?: string,
  ) {
    this.rows = stacks.map((stack) => ({stack, status: 'pending', device: '', since: 0}))
    if (tty) this.timer = setInterval(() => this.draw(), 1000)
  }

  /** The event bus for stack `i`. */
  watch(i: number): RunEvents {
    const events = new RunEvents()
    events.on('devicePhase', (e) => {
      if (!['upgrading', 'booting', 'verifying', 'upgraded', 'skipped', 'failed', 'rolling_back', 'rolled_back', 'rollback_failed'].includes(e.phase)) return
      this.update(i, {device: `${e.device} ${e.phase}`}, `${e.device} ${phaseText(e.device, e.phase, e.detail)}`)
    })
    events.on('log', (l) => {
      if (l.level !== 'info') this.line(i, `${l.device ?? '-'} ${l.level}: ${l.message}`)
    })
    return events
  }

  started(i: number, runId: string): void {
    this.update(i, {status: 'running', since: Date.now()}, `run ${runId} started`)
  }

  finished(i: number, status: string, reason: string | null): void {
    const row = this.rows[i]
    const took = row && row.since > 0 ? ` in ${formatMs(Date.now() - row.since)}` : ''
    this.update(i, {status, device: ''}, `${status}${took}${reason ? `: ${reason}` : ''}`)
  }

  done(summary: string): void {
    this.toFile(printable(summary))
    this.draw()
    this.out.write(`${this.tty ? '' : `${new Date().toISOString()} `}${printable(summary)}\n`)
    this.drawn = 0
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
  }

  private update(i: number, patch: Partial<{status: string; device: string; since: number}>, text: string): void {
    const row = this.rows[i]
    if (!row) return
    Object.assign(row, patch)
    if (this.tty) this.schedule()
    this.line(i, text)
  }

  private line(i: number, text: string): void {
    const plain = `${printable(this.rows[i]?.stack ?? '-')} ${printable(text)}`
    this.toFile(plain)
    if (!this.tty) this.out.write(`${new Date().toISOString()} ${plain}\n`)
  }

  private fileFailed = false
  private toFile(line: string): void {
    if (!this.logFile || this.fileFailed) return
    try {
      appendLogLine(this.logFile, line)
    } catch (error) {
      this.fileFailed = true
      process.stderr.write(`warning: ${(error as Error).message}; no more lines are written to it\n`)
    }
  }

  private pending = false
  private schedule(): void {
    if (this.pending) return
    this.pending = true
    setTimeout(() => {
      this.pending = false
      this.draw()
    }, 200).unref()
  }

  private draw(): void {
    if (!this.tty) return
    const width = Math.max(...this.rows.map((r) => r.stack.length), 5)
    const lines = this.rows.map((r) => {
      const t = r.status === 'running' && r.since > 0 ? ` ${formatMs(Date.now() - r.since)}` : ''
      return `${printable(r.stack).padEnd(width)}  ${r.status.padEnd(11)}${printable(r.device)}${t}`
    })
    const up = this.drawn > 0 ? `\x1b[${this.drawn}A` : ''
    this.out.write(up + lines.map((l) => `\x1b[2K${l}\n`).join(''))
    this.drawn = lines.length
  }
}
