/**
 * The run journal's port and its SQLite implementation: an embedded database (better-sqlite3) holding operation runs
 * (seed 001 §2.1: run → device → step, with lineage), gate evaluations, hash-chained events, the ChainSync outbox,
 * reload fences and per-stack locks. The `ChainExecutionResult` is built from it ({@link Journal.buildResult}).
 * Schema, hash chain, locking, permissions and redaction: docs/journal.md.
 *
 * This file owns the {@link Journal} interface and {@link openJournal}; the work is done by one module per concern:
 * open.ts (file, permissions, pragmas, migrations), store.ts (connection, transaction, lookups), write.ts (operation
 * runs, gates, events and the hash chain), outbox.ts (outbox and reload fences), lock.ts (stack locks), read.ts
 * (result, history, events), tree.ts (the operation-run tree), verify.ts (the chain and table check).
 *
 * Every method is synchronous (better-sqlite3 is); only {@link openJournal} is async, because it loads the
 * native module lazily so that CLI start stays fast.
 */
import type {ChainExecutionResult, GateEvaluation} from '../model/result.js'
import type {ChainStatus, OperationRunStatus, RunStatus} from '../model/status.js'
import type {Side} from '../protocol/state-machine.js'
import {createFleet, finishFleet, fleet, fleetOf, fleets, markFleetStack, reopenFleet, type CreateFleetInput, type FleetRecord, type FleetStackState} from './fleet.js'
import {acquireLock, lockHolder, releaseLock, unlock} from './lock.js'
import {openDatabase, type OpenJournalOptions} from './open.js'
import {clearFence, enqueue, markSent, openFence, pendingOutbox, recordReloadIntent} from './outbox.js'
import {buildResult, events, history} from './read.js'
import {JournalStore} from './store.js'
import {tree} from './tree.js'
import type {
  CreateRunInput,
  EventInput,
  EventRow,
  FenceOutcome,
  FinishStepInput,
  HistoryPage,
  HistoryQuery,
  Json,
  LockHolder,
  LockResult,
  OutboxMessage,
  ReloadFence,
  ReloadIntentInput,
  StartStepInput,
  TreeNode,
  Unlocker,
  UnlockResult,
  VerifyResult,
} from './types.js'
import {verify} from './verify.js'
import {appendEvent, createRun, finishRun, finishStep, recordGate, reopenRun, setStatus, startStep} from './write.js'

export {JOURNAL_FILE, type OpenJournalOptions} from './open.js'

/**
 * The journal port. {@link openJournal} returns the SQLite implementation; a test may satisfy it with a fake.
 * All timestamps are ISO 8601 UTC strings with milliseconds; all durations are milliseconds.
 * Methods that change something run in their own transaction (a savepoint inside {@link Journal.transaction});
 * those that change operation runs, gates or fences also append a `journal.*` event to the hash chain.
 */
export interface Journal {
  /** Absolute path of the database file. */
  readonly file: string

  /**
   * Creates the root run (status `running`) and one `device` run per device (status `pending`, lineage
   * root → device, in chain order), in one transaction.
   * @returns the device runs' ids by device name
   * @throws JournalError `RUN_EXISTS` if the id is taken, `DUPLICATE_DEVICE` if a device name repeats
   */
  createRun(input: CreateRunInput): {id: string; devices: Record<string, string>}

  /**
   * Starts a step on a device: a `step` run, child of that device's run (lineage root → device → step), status
   * `running`, order = 1 + the steps started so far in the whole run. The device run becomes `running` if it was
   * `pending`.
   * @returns the step's operation-run id
   * @throws JournalError `UNKNOWN_RUN`, `UNKNOWN_DEVICE`, `ALREADY_FINISHED` (the run has finished)
   */
  startStep(runId: string, device: string, input: StartStepInput): string

  /**
   * Finishes a running step with its status, output and error (redacted), merging `detail` into its detail.
   * @throws JournalError `UNKNOWN_OPERATION_RUN`, `ALREADY_FINISHED`, `INVALID_STATUS`
   */
  finishStep(stepId: string, input: FinishStepInput): void

  /**
   * Sets any operation run's status, merging `detail` (redacted) into its detail (e.g. a device's
   * `{version_before, version_after}`). A final status sets `finished_at`; `running` sets `started_at` if unset.
   * A final status never changes again. The root's status is set only by {@link Journal.finishRun}.
   * @throws JournalError `UNKNOWN_OPERATION_RUN`, `INVALID_STATUS` (not a status of that kind, or the root),
   *   `ALREADY_FINISHED`
   */
  setStatus(operationRunId: string, status: OperationRunStatus, detail?: {[key: string]: Json}): void

  /**
   * Records a gate evaluation, attached to the device's run (or to the root when `device` is null).
   * @throws JournalError `UNKNOWN_RUN`, `UNKNOWN_DEVICE`
   */
  recordGate(runId: string, gate: GateEvaluation): void

  /**
   * Appends an event to the hash chain: data goes through `redact()`, then
   * `hash = sha256(prev_hash ‖ canonical JSON of {at, data, device, operation_run_id, run_id, seq, type})`.
   * An event with a device is attached to that device's run, else to the root.
   * @throws JournalError `RESERVED_EVENT_TYPE` (`journal.*`), `UNKNOWN_RUN`, `UNKNOWN_DEVICE`
   */
  appendEvent(runId: string, input: EventInput): EventRow

  /**
   * Runs `fn` in one IMMEDIATE transaction (a savepoint when nested): everything it writes through the journal
   * commits together or, if it throws, not at all. `fn` must be synchronous.
   * @throws JournalError `ASYNC_TRANSACTION` if `fn` returns a promise (nothing is committed), or what `fn` threw
   */
  transaction<T>(fn: () => T): T

  /**
   * Puts a ChainSync line in the outbox. Call it inside the {@link Journal.transaction} that records the step's
   * result, send the line only after that commits, then {@link Journal.markSent}.
   * @returns the message id (send in id order)
   * @throws JournalError `UNKNOWN_RUN`
   */
  enqueue(runId: string, device: string, side: Side, line: string): number

  /** The run's messages not yet marked sent, in id order; after a restart, send these again. */
  pendingOutbox(runId: string): OutboxMessage[]

  /** Marks a message sent (idempotent). @returns false if there is no such message */
  markSent(id: number): boolean

  /**
   * Commits the intent to reload a device before the reload is sent: the fence a resumed run checks so that it
   * never reloads twice. At most one open fence per (run, device).
   * @returns the fence id
   * @throws JournalError `FENCE_OPEN` if one is already open, `UNKNOWN_RUN`, `UNKNOWN_DEVICE`
   */
  recordReloadIntent(input: ReloadIntentInput): number

  /** The open fence of a device in a run, or null. */
  openFence(runId: string, device: string): ReloadFence | null

  /**
   * Clears the device's open fence: `rebooted` once it booted after the reload (its boot time changed), `failed`
   * once waiting for it ended without that proof.
   * @returns false if no fence was open
   */
  clearFence(runId: string, device: string, outcome: FenceOutcome): boolean

  /**
   * Finishes the run: its status and reason; running steps become `cancelled`, running devices `cancelled`,
   * pending devices `not_started` (a parent does not end with open children, seed 001 §3.2).
   * @throws JournalError `UNKNOWN_RUN`, `ALREADY_FINISHED`
   */
  finishRun(runId: string, status: ChainStatus, reason: string | null): void

  /**
   * Reopens a `cancelled` run for `chainup resume` (seed 001 §6.1: a cancelled run can be resumed), or a `vetoed` one
   * the maintenance window parked (the caller checks that: docs/operations.md "Parking"): the root is `running` again
   * and its devices that did not finish (`not_started`, `cancelled`) are `pending`; devices that finished keep their
   * outcome. Recorded as a `journal.run_reopened` event.
   * @throws JournalError `UNKNOWN_RUN`, `INVALID_STATUS` when the run is neither `cancelled` nor `vetoed`
   */
  reopenRun(runId: string, reason: string): void

  /**
   * The DEC-002 `ChainExecutionResult` of a finished run, from the journal's rows: steps in start order, gates in
   * evaluation order, devices in chain order with versions from the device's (else its steps') detail, traps from
   * events of type `trap`. A `cancelled` run (chainup's addition to DEC-002's statuses) stays `cancelled`.
   * @throws JournalError `UNKNOWN_RUN`, `RUN_NOT_FINISHED`
   */
  buildResult(runId: string): ChainExecutionResult

  /**
   * Root runs, newest first (by start time).
   * @throws InputError `HISTORY_QUERY_INVALID` for a limit outside 1–1000 or a page below 1
   */
  history(query?: HistoryQuery): HistoryPage

  /** The run's operation-run hierarchy with statuses, durations and gates. @throws JournalError `UNKNOWN_RUN` */
  tree(runId: string): TreeNode

  /** The run's events (or all), in seq order. */
  events(runId?: string): EventRow[]

  /**
   * Recomputes the hash chain from the first event (through the run's last event, or the whole journal), then
   * replays the run's (or every run's) `journal.*` events and compares the result with `operation_runs` and
   * `gate_evaluations`. Names the first bad row.
   * @throws JournalError `UNKNOWN_RUN`
   */
  verify(runId?: string): VerifyResult

  /**
   * Takes the stack's lock for a run, across processes. A lock held by a process that is no longer running on
   * this host (pid gone, zombie, or pid reused) is taken over, with a note. Re-acquiring one's own lock is ok.
   * A lock held from another host is never taken over.
   */
  acquireLock(stack: string, runId: string): LockResult

  /** Releases the stack's lock if this run holds it. @returns whether it did */
  releaseLock(stack: string, runId: string): boolean

  /** Who holds the stack's lock (with whether it still runs and whether its run could be resumed), or null. */
  lockHolder(stack: string): LockHolder | null

  /**
   * `chainup unlock`: releases the stack's lock whoever holds it. Without `force` it refuses (`released: false`
   * with the holder) when the holder may still run: alive on this host, or on another host (which cannot be
   * checked from here). A release appends a `stackUnlocked` event to the holder's run (who unlocked: user, uid,
   * pid, host; the old holder; `forced`) in the same transaction. `by` defaults to this process.
   */
  unlock(stack: string, opts: {force: boolean; by?: Unlocker}): UnlockResult

  /**
   * Creates a fleet (status `running`) with its stacks in order, each `pending` under the run id it will run as
   * (docs/fleets.md "Journal").
   * @throws JournalError `RUN_EXISTS` when the id is taken
   */
  createFleet(input: CreateFleetInput): void

  /** A fleet's stack run started, or the stack was refused (`not_started`, with why). @throws JournalError `UNKNOWN_RUN` */
  markFleetStack(fleetId: string, runId: string, state: Exclude<FleetStackState, 'pending'>, reason: string | null): void

  /** Finishes a fleet with its status and reason. @throws JournalError `UNKNOWN_RUN`, `ALREADY_FINISHED` */
  finishFleet(fleetId: string, status: ChainStatus, reason: string | null): void

  /** A finished fleet runs again (`chainup resume FLEET_ID`); refused stacks are `pending` again. @throws JournalError `UNKNOWN_RUN` */
  reopenFleet(fleetId: string): void

  /** The fleet with its stacks (and their runs' statuses), or null when there is no such fleet. */
  fleet(fleetId: string): FleetRecord | null

  /** Fleets newest first. @throws InputError `HISTORY_QUERY_INVALID` for a limit outside 1–1000 */
  fleets(query?: {status?: RunStatus; limit?: number}): FleetRecord[]

  /** The fleet a run belongs to, or null. */
  fleetOf(runId: string): string | null

  /** Closes the database (idempotent). */
  close(): void
}

/**
 * Opens (creating if needed) the journal at `STATE_DIR/chainup.db`: the directory is created 0700, the file
 * 0600 (tightened to 0600 if it was wider); WAL, `synchronous=NORMAL` (FULL for fences, locks, outcomes and a run's end), foreign keys on, a busy timeout; missing
 * migrations applied in one transaction.
 * @throws JournalError `JOURNAL_UNAVAILABLE` (better-sqlite3 cannot load), `JOURNAL_UNREADABLE` (not a database,
 *   no permission), `JOURNAL_TOO_NEW` (written by a newer chainup)
 */
export async function openJournal(stateDir: string, options: OpenJournalOptions = {}): Promise<Journal> {
  const {db, Database, file} = await openDatabase(stateDir, options)
  return new SqliteJournal(new JournalStore(db, Database, file, options))
}

/** The {@link Journal} port over one {@link JournalStore}: each method is its concern's function. */
class SqliteJournal implements Journal {
  readonly file: string
  readonly #s: JournalStore
  #closed = false

  constructor(store: JournalStore) {
    this.#s = store
    this.file = store.file
  }

  createRun(input: CreateRunInput): {id: string; devices: Record<string, string>} {
    return this.#s.durable(() => createRun(this.#s, input))
  }
  startStep(runId: string, device: string, input: StartStepInput): string {
    return startStep(this.#s, runId, device, input)
  }
  finishStep(stepId: string, input: FinishStepInput): void {
    finishStep(this.#s, stepId, input)
  }
  setStatus(operationRunId: string, status: OperationRunStatus, detail?: {[key: string]: Json}): void {
    setStatus(this.#s, operationRunId, status, detail)
  }
  recordGate(runId: string, gate: GateEvaluation): void {
    recordGate(this.#s, runId, gate)
  }
  appendEvent(runId: string, input: EventInput): EventRow {
    return appendEvent(this.#s, runId, input)
  }
  transaction<T>(fn: () => T): T {
    return this.#s.durable(() => this.#s.transaction(fn))
  }
  enqueue(runId: string, device: string, side: Side, line: string): number {
    return enqueue(this.#s, runId, device, side, line)
  }
  pendingOutbox(runId: string): OutboxMessage[] {
    return pendingOutbox(this.#s, runId)
  }
  markSent(id: number): boolean {
    return markSent(this.#s, id)
  }
  recordReloadIntent(input: ReloadIntentInput): number {
    return this.#s.durable(() => recordReloadIntent(this.#s, input))
  }
  openFence(runId: string, device: string): ReloadFence | null {
    return openFence(this.#s, runId, device)
  }
  clearFence(runId: string, device: string, outcome: FenceOutcome): boolean {
    return this.#s.durable(() => clearFence(this.#s, runId, device, outcome))
  }
  finishRun(runId: string, status: ChainStatus, reason: string | null): void {
    this.#s.durable(() => finishRun(this.#s, runId, status, reason))
  }
  reopenRun(runId: string, reason: string): void {
    reopenRun(this.#s, runId, reason)
  }
  buildResult(runId: string): ChainExecutionResult {
    return buildResult(this.#s, runId)
  }
  history(query?: HistoryQuery): HistoryPage {
    return history(this.#s, query)
  }
  tree(runId: string): TreeNode {
    return tree(this.#s, runId)
  }
  events(runId?: string): EventRow[] {
    return events(this.#s, runId)
  }
  verify(runId?: string): VerifyResult {
    return verify(this.#s, runId)
  }
  acquireLock(stack: string, runId: string): LockResult {
    return this.#s.durable(() => acquireLock(this.#s, stack, runId))
  }
  releaseLock(stack: string, runId: string): boolean {
    return this.#s.durable(() => releaseLock(this.#s, stack, runId))
  }
  lockHolder(stack: string): LockHolder | null {
    return lockHolder(this.#s, stack)
  }
  unlock(stack: string, opts: {force: boolean; by?: Unlocker}): UnlockResult {
    return this.#s.durable(() => unlock(this.#s, stack, opts))
  }
  createFleet(input: CreateFleetInput): void {
    createFleet(this.#s, input)
  }
  markFleetStack(fleetId: string, runId: string, state: Exclude<FleetStackState, 'pending'>, reason: string | null): void {
    markFleetStack(this.#s, fleetId, runId, state, reason)
  }
  finishFleet(fleetId: string, status: ChainStatus, reason: string | null): void {
    finishFleet(this.#s, fleetId, status, reason)
  }
  reopenFleet(fleetId: string): void {
    reopenFleet(this.#s, fleetId)
  }
  fleet(fleetId: string): FleetRecord | null {
    return fleet(this.#s, fleetId)
  }
  fleets(query?: {status?: RunStatus; limit?: number}): FleetRecord[] {
    return fleets(this.#s, query)
  }
  fleetOf(runId: string): string | null {
    return fleetOf(this.#s, runId)
  }
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#s.db.close()
  }
}
