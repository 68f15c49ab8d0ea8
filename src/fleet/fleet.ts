/**
 * A fleet: several stacks upgraded as DEC-002's council (`council.ts`), journaled as a fleet above its stack runs
 * (journal/fleet.ts), each stack an ordinary run (`runUpgrade`: its own lock, journal records, result file). Resuming
 * a fleet resumes its unfinished stack runs and starts the stacks that never started (docs/fleets.md).
 */
import {randomUUID} from 'node:crypto'

import {inputsDigest} from '../config/load.js'
import type {Inventory, Playbook} from '../config/types.js'
import type {HostKeySource} from '../device/known-hosts.js'
import {ChainupError, ExitCode, InputError} from '../errors.js'
import type {FleetRecord, FleetStackRecord} from '../journal/fleet.js'
import {openJournal, type Journal} from '../journal/journal.js'
import {RunEvents} from '../model/events.js'
import type {ChainExecutionResult, FleetExecutionResult, FleetStackNotStarted} from '../model/result.js'
import type {ChainStatus} from '../model/status.js'
import {saveResult} from '../run/result-file.js'
import type {ResolvedSecrets} from '../run/secrets.js'
import {runUpgrade, type UpgradeOptions} from '../run/upgrade.js'
import {WindowEvent} from '../run/window-gate.js'
import {runCouncil, type StackOutcome} from './council.js'

/** One stack of a fleet, loaded and checked. */
export interface FleetStack {
  inventory: Inventory
  playbook: Playbook
  secrets: ResolvedSecrets
}

/** What a stack needs just before it starts, and how to clean up after it (e.g. the lab's simulators). */
export interface StackSetup {
  hostKeys?: ReadonlyMap<string, HostKeySource>
  /** Called once the stack run ended (or failed to start). */
  cleanup?: () => Promise<void>
}

export interface FleetOptions {
  /** In start order; their device addresses must not overlap ({@link sharedDevices}). */
  stacks: FleetStack[]
  /** The state directory (journal and result files). */
  stateDir: string
  /** Stacks run at once. @default 1 */
  concurrency?: number
  /** Failed stacks that stop the fleet; undefined = no limit (DEC-002). */
  maxFailed?: number
  /** The fleet's UUID; new by default. */
  fleetId?: string
  /** Continue this fleet from the journal instead of starting one ({@link resumeFleetPlan} gives the stacks). */
  resume?: string
  /** First SIGINT/SIGTERM: no new stack starts; running stacks finish the device in progress and park. */
  cancel?: AbortSignal
  /** Second interrupt: running stacks stop at once. */
  kill?: AbortSignal
  /** The event bus for stack `index` (progress, observers); a fresh one by default. */
  eventsFor?: (index: number) => RunEvents
  /**
   * Called before a stack starts: a reason not to start it (outside its maintenance window …) as a string, which
   * reports the stack as not started, or its setup.
   */
  beforeStack?: (index: number) => Promise<StackSetup | string>
  /** Extra run options for every stack (transport, extensions …). */
  extra?: Partial<UpgradeOptions>
  /** A stack starts in a slot (for the benchmark's critical path). */
  onStart?: (index: number, slot: number, runId: string) => void
  /** A stack ended. */
  onFinish?: (index: number, outcome: StackOutcome) => void
}

/**
 * Runs (or resumes) a fleet and returns its result. The fleet result is also saved as `runs/<fleet id>.json`.
 * Never throws for a stack's outcome: a stack locked by another run, outside its window or failing to start is
 * reported in `not_started`.
 * @throws JournalError when the journal cannot be opened; RangeError for a concurrency or maxFailed below 1
 */
export async function runFleet(opts: FleetOptions): Promise<FleetExecutionResult> {
  const fleetId = opts.resume ?? opts.fleetId ?? randomUUID()
  const journal = await openJournal(opts.stateDir)
  try {
    // Each stack's run id: recorded with the fleet, so a resume finds the runs again.
    let runIds: string[]
    const previous = new Map<number, ChainExecutionResult>()
    const resumeRun = new Set<number>()
    if (opts.resume) {
      const record = journal.fleet(opts.resume)
      if (!record) throw new InputError(`no fleet ${opts.resume} in ${journal.file}`, {code: 'NO_SUCH_RUN'})
      runIds = record.stacks.map((s) => s.run_id)
      record.stacks.forEach((s, i) => {
        if (s.run_status === null) return
        if (s.run_status === 'running' || s.run_status === 'cancelled' || parkedByWindow(journal, s.run_id, s.run_status)) resumeRun.add(i)
        else previous.set(i, journal.buildResult(s.run_id))
      })
      journal.reopenFleet(opts.resume)
    } else {
      runIds = opts.stacks.map(() => randomUUID())
      journal.createFleet({
        id: fleetId,
        concurrency: opts.concurrency ?? 1,
        maxFailed: opts.maxFailed ?? null,
        stacks: opts.stacks.map((s, i) => ({stack: s.inventory.stack, inventory: s.inventory.file, runId: runIds[i] as string})),
      })
    }
    const startedAt = new Date()
    const results = new Map<number, ChainExecutionResult>(previous)
    const notStarted = new Map<number, string>()
    const todo = opts.stacks.map((_, i) => i).filter((i) => !previous.has(i))

    const runOne = async (index: number, stop: AbortSignal, kill: AbortSignal): Promise<StackOutcome> => {
      const stack = opts.stacks[index] as FleetStack
      const runId = runIds[index] as string
      const refuse = (reason: string): StackOutcome => {
        notStarted.set(index, reason)
        journal.markFleetStack(fleetId, runId, 'not_started', reason)
        return {kind: 'not_started', reason}
      }
      let setup: StackSetup | string
      try {
        setup = opts.beforeStack ? await opts.beforeStack(index) : {}
      } catch (error) {
        // e.g. the lab's simulator port is taken: reported, and it counts as a failure
        const reason = `error before the stack started: ${(error as Error).message}`
        refuse(reason)
        return {kind: 'ran', status: 'failed', reason}
      }
      if (typeof setup === 'string') return refuse(setup)
      try {
        if (resumeRun.has(index)) {
          const why = reopenForResume(journal, runId, stack)
          if (why) return refuse(why)
        }
        const result = await runUpgrade({
          inventory: stack.inventory,
          playbook: stack.playbook,
          secrets: stack.secrets,
          stateDir: opts.stateDir,
          events: opts.eventsFor?.(index) ?? new RunEvents(),
          ...(resumeRun.has(index) ? {resume: runId} : {runId}),
          cancel: stop,
          kill,
          ...(setup.hostKeys ? {hostKeys: setup.hostKeys} : {}),
          ...opts.extra,
        })
        journal.markFleetStack(fleetId, runId, 'started', null)
        results.set(index, result)
        return {kind: 'ran', status: result.status, reason: result.reason}
      } catch (error) {
        // Refused before the run started: another run holds the stack (exit 4), bad input found late (exit 2) …
        if (error instanceof ChainupError && error.exitCode !== ExitCode.failed) return refuse(error.message)
        // The run could not start or broke off (a port in use, the journal …): reported, and it counts as a failure.
        const reason = `error: ${(error as Error).message}`
        refuse(reason)
        return {kind: 'ran', status: 'failed', reason}
      } finally {
        await setup.cleanup?.()
      }
    }

    const council = await runCouncil({
      stacks: todo,
      concurrency: opts.concurrency ?? 1,
      maxFailed: opts.maxFailed ?? Infinity,
      label: (i) => `stack ${opts.stacks[i]?.inventory.stack ?? i}`,
      cancel: opts.cancel,
      kill: opts.kill,
      run: (index, _k, control) => runOne(index, control.stop, control.kill),
      onStart: (k, slot) => opts.onStart?.(todo[k] as number, slot, runIds[todo[k] as number] as string),
      onFinish: (k, outcome) => opts.onFinish?.(todo[k] as number, outcome),
    })
    council.outcomes.forEach((o, k) => {
      const index = todo[k] as number
      // a stack that neither left a result nor a refusal (its setup threw) is listed with its reason
      if (!results.has(index) && !notStarted.has(index)) notStarted.set(index, o.reason ?? 'not started')
    })
    const {status, reason} = fleetStatus(council, [...previous.values()])
    journal.finishFleet(fleetId, status, reason)
    const record = journal.fleet(fleetId)
    const completedAt = new Date()
    const result: FleetExecutionResult = {
      execution_id: fleetId,
      status,
      started_at: record?.started_at ?? startedAt.toISOString(),
      completed_at: record?.finished_at ?? completedAt.toISOString(),
      duration_ms: record?.duration_ms ?? completedAt.getTime() - startedAt.getTime(),
      reason,
      stacks: opts.stacks.map((_, i) => results.get(i)).filter((r): r is ChainExecutionResult => r !== undefined),
      not_started: [...notStarted].sort(([a], [b]) => a - b).map(([i, why]): FleetStackNotStarted => ({
        chain_id: opts.stacks[i]?.inventory.stack ?? '',
        inventory: opts.stacks[i]?.inventory.file ?? '',
        execution_id: runIds[i] as string,
        reason: why,
      })),
    }
    try {
      saveResult(opts.stateDir, result)
    } catch {
      // the stack runs' own results are saved; the fleet's is printed with --json
    }
    return result
  } finally {
    journal.close()
  }
}

/**
 * The fleet's status: the council's halt (`vetoed`, `failed` at --max-failed, `cancelled`) or its verdict over the
 * stacks it ran; on a resume, stacks that had finished before count as well (a vetoed one keeps the fleet `vetoed`).
 */
function fleetStatus(council: {status: ChainStatus; reason: string | null}, earlier: ChainExecutionResult[]): {status: ChainStatus; reason: string | null} {
  if (council.status !== 'completed' || earlier.every((r) => r.status === 'completed')) return council
  const bad = earlier.filter((r) => r.status !== 'completed')
  return {
    status: bad.some((r) => r.status === 'vetoed') ? 'vetoed' : 'failed',
    reason: `earlier in this fleet: ${bad.map((r) => `stack ${r.chain_id} ${r.status}`).join(', ')}`,
  }
}

/** Reopens a cancelled (or window-parked) stack run for a resume, after checking its inputs did not change. @returns why not, or null */
function reopenForResume(journal: Journal, runId: string, stack: FleetStack): string | null {
  const config = journal.events(runId).find((e) => e.type === 'runConfig')?.data as {inputs_sha256?: string} | undefined
  if (config?.inputs_sha256 !== undefined && config.inputs_sha256 !== inputsDigest(stack.inventory, stack.playbook)) {
    return `the inventory or playbook of run ${runId} changed since it started (${stack.inventory.file}); resume it with the files as they were`
  }
  const status = journal.tree(runId).status
  if (status === 'cancelled' || parkedByWindow(journal, runId, status)) journal.reopenRun(runId, 'chainup resume of a fleet')
  return null
}

/** A stack run the maintenance window parked (`vetoed` with a `windowParked` event): a fleet resume continues it. */
function parkedByWindow(journal: Journal, runId: string, status: string): boolean {
  return status === 'vetoed' && journal.events(runId).some((e) => e.type === WindowEvent.parked)
}

/**
 * Devices that appear in more than one inventory (the same `host:port`, or the same ChainSync `node` address): a fleet
 * refuses them before anything is touched (two stacks must never reload the same switch).
 * @returns one problem line per shared address (empty when none)
 */
export function sharedDevices(stacks: ReadonlyArray<{inventory: Inventory}>): string[] {
  const seen = new Map<string, string>()
  const problems: string[] = []
  const stackNames = new Map<string, string>()
  for (const {inventory} of stacks) {
    const other = stackNames.get(inventory.stack)
    if (other !== undefined) problems.push(`stack ${inventory.stack} appears twice: ${other} and ${inventory.file}`)
    stackNames.set(inventory.stack, inventory.file)
    for (const d of inventory.devices) {
      const keys = [`${d.host.toLowerCase()}:${d.port}`, ...(d.node ? [`node ${d.node.host.toLowerCase()}:${d.node.port}`] : [])]
      for (const key of keys) {
        const where = `${inventory.file} ${d.name}`
        const first = seen.get(key)
        if (first !== undefined && !first.startsWith(`${inventory.file} `)) problems.push(`${key} is in two inventories: ${first} and ${where}`)
        else if (first === undefined) seen.set(key, where)
      }
    }
  }
  return problems
}

/**
 * A fleet's result from the journal (`chainup show FLEET_ID`): the results of its stack runs that finished, its stacks
 * that did not start with their reasons. A fleet still running has `completed_at` "" and `duration_ms` 0.
 */
export function fleetResultFromJournal(journal: Journal, record: FleetRecord): FleetExecutionResult {
  const finished = (s: FleetStackRecord) => s.run_status !== null && s.run_status !== 'running'
  return {
    execution_id: record.id,
    status: record.status === 'running' ? 'failed' : record.status,
    started_at: record.started_at,
    completed_at: record.finished_at ?? '',
    duration_ms: record.duration_ms ?? 0,
    reason: record.status === 'running' ? 'the fleet is still running (or its process died: chainup resume FLEET_ID)' : record.reason,
    stacks: record.stacks.filter(finished).map((s) => journal.buildResult(s.run_id)),
    not_started: record.stacks
      .filter((s) => s.run_status === null)
      .map((s) => ({chain_id: s.stack, inventory: s.inventory, execution_id: s.run_id, reason: s.reason ?? 'not started'})),
  }
}
