/**
 * The run journal: an embedded SQLite database (better-sqlite3) holding operation runs (seed 001 §2.1:
 * run → device → step, with lineage), gate evaluations, hash-chained events, the ChainSync outbox, reload
 * fences and per-stack locks. The `ChainExecutionResult` is built from it ({@link Journal.buildResult}).
 * Schema, hash chain, locking, permissions and redaction: docs/journal.md.
 *
 * Every method is synchronous (better-sqlite3 is); only {@link openJournal} is async, because it loads the
 * native module lazily so that CLI start stays fast.
 */
import {randomUUID} from 'node:crypto'
import {chmodSync, closeSync, constants, fchmodSync, fstatSync, mkdirSync, openSync, statSync} from 'node:fs'
import {hostname as osHostname} from 'node:os'
import {join} from 'node:path'

import type BetterSqlite3 from 'better-sqlite3'

import {InputError} from '../errors.js'
import type {ChainExecutionResult, GateEvaluation, StepExecution} from '../model/result.js'
import {JournalError} from './errors.js'
import {canonicalJson, eventHash, GENESIS_HASH} from './hash.js'
import {isProcessAlive, processStartTime} from './liveness.js'
import {LATEST_SCHEMA_VERSION, MIGRATIONS} from './migrations.js'
import {applyEvent, JournalEventType, PROJECTED_TYPES} from './projection.js'
import {redact, redactString} from './redact.js'
import {DeviceStatus, FINAL_STATUSES, RunStatus, StepStatus, type ChainStatus, type OperationRunStatus} from '../model/status.js'
import type {Side} from '../protocol/state-machine.js'
import {
  type CreateRunInput,
  type EventInput,
  type EventRow,
  type FenceOutcome,
  type FinishStepInput,
  type HistoryPage,
  type HistoryQuery,
  type Json,
  type LockHolder,
  type LockResult,
  type OperationKind,
  type OutboxMessage,
  type ReloadFence,
  type ReloadIntentInput,
  type StartStepInput,
  type TreeNode,
  type VerifyResult,
} from './types.js'

type Db = BetterSqlite3.Database
type DatabaseConstructor = typeof BetterSqlite3

/** The database file's name inside the state directory. */
export const JOURNAL_FILE = 'chainup.db'

/** Options of {@link openJournal}. */
export interface OpenJournalOptions {
  /** The clock for every timestamp the journal writes. @default () => new Date() */
  now?: () => Date
  /** How long a write waits for another process's write lock before failing with SQLITE_BUSY, ms. @default 5000 */
  busyTimeoutMs?: number
  /**
   * Secret values (passwords, communities …) to blank wherever they would appear in stored text, e.g. echoed
   * in a device's output. Values shorter than 4 characters are ignored. Kept in memory only.
   */
  secrets?: readonly string[]
}

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
   * Reopens a `cancelled` run for `chainup resume` (seed 001 §6.1: a cancelled run can be resumed): the root is
   * `running` again and its devices that did not finish (`not_started`, `cancelled`) are `pending`; devices that
   * finished keep their outcome. Recorded as a `journal.run_reopened` event.
   * @throws JournalError `UNKNOWN_RUN`, `INVALID_STATUS` when the run is not `cancelled`
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

  /** Closes the database (idempotent). */
  close(): void
}

const DEVICE_STATUSES = new Set<string>(Object.values(DeviceStatus))
const STEP_STATUSES = new Set<string>(Object.values(StepStatus))
const RUN_STATUSES = new Set<string>(Object.values(RunStatus))
const STATUSES_BY_KIND: Record<Exclude<OperationKind, 'run'>, ReadonlySet<string>> = {device: DEVICE_STATUSES, step: STEP_STATUSES}

interface OperationRunRow {
  id: string
  parent_id: string | null
  root_id: string
  lineage: string
  kind: OperationKind
  name: string
  stack: string
  device: string | null
  ord: number
  status: string
  started_at: string | null
  finished_at: string | null
  detail: string
}

interface GateRow {
  id: number
  run_id: string
  device_run_id: string | null
  type: GateEvaluation['type']
  name: string
  device: string | null
  decision: GateEvaluation['decision']
  reason: string
  at: string
}

interface EventDbRow {
  seq: number
  run_id: string
  operation_run_id: string | null
  at: string
  type: string
  device: string | null
  data: string
  prev_hash: string
  hash: string
}

/**
 * Opens (creating if needed) the journal at `STATE_DIR/chainup.db`: the directory is created 0700, the file
 * 0600 (tightened to 0600 if it was wider); WAL, `synchronous=FULL`, foreign keys on, a busy timeout; missing
 * migrations applied in one transaction.
 * @throws JournalError `JOURNAL_UNAVAILABLE` (better-sqlite3 cannot load), `JOURNAL_UNREADABLE` (not a database,
 *   no permission), `JOURNAL_TOO_NEW` (written by a newer chainup)
 */
export async function openJournal(stateDir: string, options: OpenJournalOptions = {}): Promise<Journal> {
  let Database: DatabaseConstructor
  try {
    Database = (await import('better-sqlite3')).default
  } catch (error) {
    throw new JournalError('cannot load the SQLite module (better-sqlite3)', {code: 'JOURNAL_UNAVAILABLE', hint: 'run `npm rebuild better-sqlite3`', cause: error})
  }
  const file = join(stateDir, JOURNAL_FILE)
  let db: Db
  try {
    mkdirSync(stateDir, {recursive: true, mode: 0o700})
    const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600)
    try {
      if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600)
    } finally {
      closeSync(fd)
    }
    db = new Database(file, {timeout: options.busyTimeoutMs ?? 5000})
  } catch (error) {
    throw new JournalError(`cannot open the journal ${file}: ${(error as Error).message}`, {code: 'JOURNAL_UNREADABLE', cause: error})
  }
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    db.pragma('foreign_keys = ON')
    migrate(db, file, options.now ?? (() => new Date()))
  } catch (error) {
    db.close()
    if (error instanceof JournalError) throw error
    throw new JournalError(`cannot use the journal ${file}: ${(error as Error).message}`, {code: 'JOURNAL_UNREADABLE', hint: 'is it a chainup journal? use --state-dir to choose another directory', cause: error})
  }
  for (const suffix of ['-wal', '-shm']) tighten(file + suffix)
  return new SqliteJournal(db, Database, file, options)
}

function tighten(path: string): void {
  try {
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600)
  } catch {
    // absent, or not ours: SQLite creates -wal/-shm with the database file's mode anyway
  }
}

/** Applies the missing migrations in one IMMEDIATE transaction; refuses a newer schema. */
function migrate(db: Db, file: string, now: () => Date): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`)
  db.transaction(() => {
    const current = (db.prepare(`SELECT COALESCE(MAX(version), 0) AS v FROM schema_version`).get() as {v: number}).v
    if (current > LATEST_SCHEMA_VERSION) {
      throw new JournalError(`the journal ${file} has schema version ${current}, newer than this chainup understands (${LATEST_SCHEMA_VERSION})`, {
        code: 'JOURNAL_TOO_NEW',
        hint: 'upgrade chainup, or use --state-dir to point at another directory',
      })
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue
      db.exec(m.sql)
      db.prepare(`INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`).run(m.version, m.name, now().toISOString())
    }
  }).immediate()
}

function durationMs(start: string | null, end: string | null): number | null {
  if (start === null || end === null) return null
  return Date.parse(end) - Date.parse(start)
}

function parseObj(text: string): {[key: string]: Json} {
  const v = JSON.parse(text) as Json
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {}
}

const str = (v: Json | undefined): string | null => (typeof v === 'string' ? v : null)

class SqliteJournal implements Journal {
  readonly file: string
  readonly #db: Db
  readonly #Database: DatabaseConstructor
  readonly #now: () => Date
  readonly #secrets: readonly string[]
  readonly #statements = new Map<string, BetterSqlite3.Statement>()
  readonly #tx: BetterSqlite3.Transaction<(fn: () => unknown) => unknown>
  #closed = false

  constructor(db: Db, Database: DatabaseConstructor, file: string, options: OpenJournalOptions) {
    this.#db = db
    this.#Database = Database
    this.file = file
    this.#now = options.now ?? (() => new Date())
    this.#secrets = [...(options.secrets ?? [])].filter((s) => s.length >= 4)
    this.#tx = db.transaction((fn: () => unknown) => {
      const result = fn()
      if (result !== null && typeof result === 'object' && typeof (result as {then?: unknown}).then === 'function') {
        throw new JournalError('a journal transaction function returned a promise; it must be synchronous', {code: 'ASYNC_TRANSACTION'})
      }
      return result
    })
  }

  #q(source: string): BetterSqlite3.Statement {
    let s = this.#statements.get(source)
    if (!s) this.#statements.set(source, (s = this.#db.prepare(source)))
    return s
  }

  transaction<T>(fn: () => T): T {
    return this.#tx.immediate(fn) as T
  }

  // ---- lookups ------------------------------------------------------------------------------------------

  #root(runId: string): OperationRunRow {
    const row = this.#q(`SELECT * FROM operation_runs WHERE id = ? AND kind = 'run'`).get(runId) as OperationRunRow | undefined
    if (!row) throw new JournalError(`no run ${runId} in the journal`, {code: 'UNKNOWN_RUN'})
    return row
  }

  #deviceRun(runId: string, device: string): OperationRunRow {
    const row = this.#q(`SELECT * FROM operation_runs WHERE root_id = ? AND kind = 'device' AND device = ?`).get(runId, device) as OperationRunRow | undefined
    if (!row) {
      this.#root(runId)
      throw new JournalError(`run ${runId} has no device ${device}`, {code: 'UNKNOWN_DEVICE'})
    }
    return row
  }

  #operationRun(id: string): OperationRunRow {
    const row = this.#q(`SELECT * FROM operation_runs WHERE id = ?`).get(id) as OperationRunRow | undefined
    if (!row) throw new JournalError(`no operation run ${id} in the journal`, {code: 'UNKNOWN_OPERATION_RUN'})
    return row
  }

  #assertOpen(row: OperationRunRow): void {
    if (FINAL_STATUSES.has(row.status)) {
      throw new JournalError(`${row.kind} ${row.name} (${row.id}) already finished as ${row.status}`, {code: 'ALREADY_FINISHED'})
    }
  }

  // ---- the event chain ----------------------------------------------------------------------------------

  /** Appends one event (data already redacted) and, for `journal.*` projection types, applies it. */
  #record(runId: string, operationRunId: string | null, type: string, device: string | null, data: Json): EventRow {
    const last = this.#q(`SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1`).get() as {seq: number; hash: string} | undefined
    const row = {seq: (last?.seq ?? 0) + 1, run_id: runId, operation_run_id: operationRunId, at: this.#now().toISOString(), type, device, data}
    if (PROJECTED_TYPES.has(type)) applyEvent(this.#db, row)
    const prev_hash = last?.hash ?? GENESIS_HASH
    const hash = eventHash(prev_hash, row)
    this.#q(`INSERT INTO events (seq, run_id, operation_run_id, at, type, device, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      row.seq,
      runId,
      operationRunId,
      row.at,
      type,
      device,
      canonicalJson(data),
      prev_hash,
      hash,
    )
    return {...row, prev_hash, hash}
  }

  #redact(value: unknown): Json {
    return redact(value, this.#secrets)
  }

  #redactText(text: string | null): string | null {
    return text === null ? null : redactString(text, this.#secrets)
  }

  // ---- operation runs -----------------------------------------------------------------------------------

  createRun(input: CreateRunInput): {id: string; devices: Record<string, string>} {
    return this.transaction(() => {
      if (this.#q(`SELECT 1 FROM operation_runs WHERE id = ?`).get(input.id)) {
        throw new JournalError(`run ${input.id} already exists in the journal`, {code: 'RUN_EXISTS'})
      }
      const seen = new Set<string>()
      for (const d of input.devices) {
        if (seen.has(d)) throw new JournalError(`device ${d} appears twice in run ${input.id}`, {code: 'DUPLICATE_DEVICE'})
        seen.add(d)
      }
      const devices = input.devices.map((name) => ({id: randomUUID(), name}))
      const target = this.#redact(input.target)
      this.#record(input.id, input.id, JournalEventType.runCreated, null, {stack: input.stack, devices, target})
      return {id: input.id, devices: Object.fromEntries(devices.map((d) => [d.name, d.id]))}
    })
  }

  startStep(runId: string, device: string, input: StartStepInput): string {
    return this.transaction(() => {
      this.#assertOpen(this.#root(runId))
      const deviceRun = this.#deviceRun(runId, device)
      this.#assertOpen(deviceRun)
      const order = (this.#q(`SELECT COALESCE(MAX(ord), 0) + 1 AS n FROM operation_runs WHERE root_id = ? AND kind = 'step'`).get(runId) as {n: number}).n
      const stepId = randomUUID()
      this.#record(runId, stepId, JournalEventType.stepStarted, device, {
        step_id: stepId,
        device,
        name: input.name,
        phase: input.phase,
        command: this.#redactText(input.command),
        order,
      })
      return stepId
    })
  }

  finishStep(stepId: string, input: FinishStepInput): void {
    this.transaction(() => {
      const step = this.#operationRun(stepId)
      if (step.kind !== 'step') throw new JournalError(`operation run ${stepId} is a ${step.kind}, not a step`, {code: 'INVALID_STATUS'})
      this.#assertOpen(step)
      if (!STEP_STATUSES.has(input.status) || (input.status as string) === 'running') {
        throw new JournalError(`"${input.status}" is not a final step status`, {code: 'INVALID_STATUS'})
      }
      this.#record(step.root_id, stepId, JournalEventType.stepFinished, step.device, {
        status: input.status,
        output: this.#redactText(input.output),
        error: this.#redactText(input.error),
        detail: this.#redact(input.detail ?? {}),
      })
    })
  }

  setStatus(operationRunId: string, status: OperationRunStatus, detail?: {[key: string]: Json}): void {
    this.transaction(() => {
      const row = this.#operationRun(operationRunId)
      if (row.kind === 'run') {
        throw new JournalError(`the run's own status is set by finishRun, which also closes its open children`, {code: 'INVALID_STATUS'})
      }
      if (!STATUSES_BY_KIND[row.kind].has(status)) {
        throw new JournalError(`"${status}" is not a status of a ${row.kind} run`, {code: 'INVALID_STATUS'})
      }
      // A compensating action reopens a finished device (seed 001 §3.4); everything else must still be open.
      const compensating = status === 'rolling_back' && row.kind === 'device' && ['upgraded', 'failed', 'cancelled'].includes(row.status)
      if (!compensating) this.#assertOpen(row)
      this.#record(row.root_id, operationRunId, JournalEventType.status, row.device, {status, detail: this.#redact(detail ?? {})})
    })
  }

  recordGate(runId: string, gate: GateEvaluation): void {
    this.transaction(() => {
      this.#root(runId)
      const deviceRunId = gate.device === null ? null : this.#deviceRun(runId, gate.device).id
      this.#record(runId, deviceRunId ?? runId, JournalEventType.gate, gate.device, {
        type: gate.type,
        name: gate.name,
        device: gate.device,
        device_run_id: deviceRunId,
        decision: gate.decision,
        reason: redactString(gate.reason, this.#secrets),
      })
    })
  }

  appendEvent(runId: string, input: EventInput): EventRow {
    if (input.type.startsWith('journal.')) {
      throw new JournalError(`event type ${input.type} is reserved for the journal itself`, {code: 'RESERVED_EVENT_TYPE'})
    }
    return this.transaction(() => {
      const device = input.device ?? null
      const operationRunId = device === null ? this.#root(runId).id : this.#deviceRun(runId, device).id
      return this.#record(runId, operationRunId, input.type, device, this.#redact(input.data))
    })
  }

  finishRun(runId: string, status: ChainStatus, reason: string | null): void {
    this.transaction(() => {
      const root = this.#root(runId)
      if (!RUN_STATUSES.has(status) || (status as string) === 'running') {
        throw new JournalError(`"${status}" is not a final run status`, {code: 'INVALID_STATUS'})
      }
      this.#assertOpen(root)
      this.#record(runId, runId, JournalEventType.runFinished, null, {status, reason: this.#redactText(reason)})
    })
  }

  reopenRun(runId: string, reason: string): void {
    this.transaction(() => {
      const root = this.#root(runId)
      if (root.status !== 'cancelled') throw new JournalError(`run ${runId} is ${root.status}, only a cancelled run can be reopened`, {code: 'INVALID_STATUS'})
      this.#record(runId, runId, JournalEventType.runReopened, null, {reason: this.#redactText(reason)})
    })
  }

  // ---- outbox -------------------------------------------------------------------------------------------

  enqueue(runId: string, device: string, side: Side, line: string): number {
    return this.transaction(() => {
      this.#root(runId)
      const r = this.#q(`INSERT INTO outbox (run_id, device, side, line, created_at) VALUES (?, ?, ?, ?, ?)`).run(runId, device, side, line, this.#now().toISOString())
      return Number(r.lastInsertRowid)
    })
  }

  pendingOutbox(runId: string): OutboxMessage[] {
    return this.#q(`SELECT id, run_id, device, side, line, created_at FROM outbox WHERE run_id = ? AND sent_at IS NULL ORDER BY id`).all(runId) as OutboxMessage[]
  }

  markSent(id: number): boolean {
    const r = this.#q(`UPDATE outbox SET sent_at = COALESCE(sent_at, ?) WHERE id = ?`).run(this.#now().toISOString(), id)
    return r.changes > 0
  }

  // ---- reload fences ------------------------------------------------------------------------------------

  recordReloadIntent(input: ReloadIntentInput): number {
    return this.transaction(() => {
      const deviceRun = this.#deviceRun(input.runId, input.device)
      const open = this.openFence(input.runId, input.device)
      if (open) {
        throw new JournalError(`a reload of ${input.device} was already committed at ${open.sentAt} in run ${input.runId} and not cleared`, {
          code: 'FENCE_OPEN',
          hint: 'check whether the device rebooted, then clear the fence; never reload twice',
        })
      }
      const at = this.#now().toISOString()
      const r = this.#q(
        `INSERT INTO reload_fences (run_id, device, sent_at, restarted_at_before, uptime_before, target_version) VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(input.runId, input.device, at, input.restartedAtBefore, input.uptimeBefore, input.targetVersion)
      const id = Number(r.lastInsertRowid)
      this.#record(input.runId, deviceRun.id, JournalEventType.reloadIntent, input.device, {
        fence_id: id,
        restarted_at_before: input.restartedAtBefore,
        uptime_before: input.uptimeBefore,
        target_version: input.targetVersion,
      })
      return id
    })
  }

  openFence(runId: string, device: string): ReloadFence | null {
    const row = this.#q(
      `SELECT id, run_id AS runId, device, sent_at AS sentAt, restarted_at_before AS restartedAtBefore, uptime_before AS uptimeBefore,
              target_version AS targetVersion
         FROM reload_fences WHERE run_id = ? AND device = ? AND cleared_at IS NULL`,
    ).get(runId, device) as ReloadFence | undefined
    return row ?? null
  }

  clearFence(runId: string, device: string, outcome: FenceOutcome): boolean {
    return this.transaction(() => {
      const open = this.openFence(runId, device)
      if (!open) return false
      this.#q(`UPDATE reload_fences SET cleared_at = ?, outcome = ? WHERE id = ?`).run(this.#now().toISOString(), outcome, open.id)
      this.#record(runId, this.#deviceRun(runId, device).id, JournalEventType.reloadCleared, device, {fence_id: open.id, outcome})
      return true
    })
  }

  // ---- reading ------------------------------------------------------------------------------------------

  #children(runId: string): OperationRunRow[] {
    return this.#q(`SELECT * FROM operation_runs WHERE root_id = ? AND kind != 'run' ORDER BY kind, ord`).all(runId) as OperationRunRow[]
  }

  #gates(runId: string): GateRow[] {
    return this.#q(`SELECT * FROM gate_evaluations WHERE run_id = ? ORDER BY id`).all(runId) as GateRow[]
  }

  buildResult(runId: string): ChainExecutionResult {
    const root = this.#root(runId)
    if (root.status === 'running' || root.finished_at === null) {
      throw new JournalError(`run ${runId} has not finished`, {code: 'RUN_NOT_FINISHED', hint: `\`chainup show ${runId} --tree\` shows a run in progress`})
    }
    const rootDetail = parseObj(root.detail)
    const children = this.#children(runId)
    const devices = children.filter((c) => c.kind === 'device')
    const steps = children.filter((c) => c.kind === 'step')
    const stepDetails = new Map(steps.map((s) => [s.id, parseObj(s.detail)]))
    const stepsOut: StepExecution[] = steps.map((s) => {
      const d = stepDetails.get(s.id) ?? {}
      return {
        order: s.ord,
        device: s.device ?? '',
        action: s.name,
        status: s.status as StepExecution['status'],
        output: str(d.output),
        error: str(d.error),
        phase: (str(d.phase) ?? 'upgrade') as StepExecution['phase'],
        command: str(d.command),
        started_at: s.started_at ?? root.started_at ?? '',
        duration_ms: durationMs(s.started_at, s.finished_at) ?? 0,
      }
    })
    const devicesOut = devices.map((dev) => {
      const d = parseObj(dev.detail)
      const own = steps.filter((s) => s.parent_id === dev.id).map((s) => stepDetails.get(s.id) ?? {})
      const before = str(d.version_before) ?? own.map((x) => str(x.version_before)).find((v) => v !== null) ?? null
      const after = str(d.version_after) ?? own.map((x) => str(x.version_after)).filter((v) => v !== null).pop() ?? null
      const status = dev.status === 'pending' ? 'not_started' : dev.status === 'running' ? 'cancelled' : dev.status
      return {name: dev.name, status: status as ChainExecutionResult['devices'][number]['status'], version_before: before, version_after: after}
    })
    const traps = this.#q(`SELECT data FROM events WHERE run_id = ? AND type = 'trap' ORDER BY seq`)
      .all(runId)
      .map((r) => {
        const d = parseObj((r as {data: string}).data)
        const receivers = Array.isArray(d.receivers) ? d.receivers : []
        return {
          kind: str(d.kind) ?? '',
          reporter: str(d.reporter) ?? '',
          reason: str(d.reason) ?? '',
          receivers: receivers.map((x) => {
            const o = x !== null && typeof x === 'object' && !Array.isArray(x) ? x : {}
            const error = str(o.error)
            return {target: str(o.target) ?? '', ok: o.ok === true, ...(error === null ? {} : {error})}
          }),
        }
      })
    return {
      execution_id: root.id,
      chain_id: root.stack,
      status: root.status as ChainExecutionResult['status'],
      started_at: root.started_at ?? '',
      completed_at: root.finished_at,
      duration_ms: durationMs(root.started_at, root.finished_at) ?? 0,
      steps: stepsOut,
      gates: this.#gates(runId).map(gateOut),
      reason: str(rootDetail.reason),
      devices: devicesOut,
      traps,
    }
  }

  history(query: HistoryQuery = {}): HistoryPage {
    const limit = query.limit ?? 20
    const page = query.page ?? 1
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new InputError(`--limit must be an integer from 1 to 1000, not ${limit}`, {code: 'HISTORY_QUERY_INVALID'})
    }
    if (!Number.isInteger(page) || page < 1) throw new InputError(`--page must be an integer from 1, not ${page}`, {code: 'HISTORY_QUERY_INVALID'})
    const where = [`kind = 'run'`]
    const params: string[] = []
    if (query.stack !== undefined) {
      where.push('stack = ?')
      params.push(query.stack)
    }
    if (query.status !== undefined) {
      where.push('status = ?')
      params.push(query.status)
    }
    const w = where.join(' AND ')
    const total = (this.#db.prepare(`SELECT COUNT(*) AS n FROM operation_runs WHERE ${w}`).get(...params) as {n: number}).n
    const rows = this.#db
      .prepare(`SELECT * FROM operation_runs WHERE ${w} ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?`)
      .all(...params, limit, (page - 1) * limit) as OperationRunRow[]
    const devicesOf = this.#q(`SELECT name, status FROM operation_runs WHERE root_id = ? AND kind = 'device' ORDER BY ord`)
    return {
      runs: rows.map((r) => ({
        execution_id: r.id,
        chain_id: r.stack,
        status: r.status as RunStatus,
        started_at: r.started_at ?? '',
        completed_at: r.finished_at,
        duration_ms: durationMs(r.started_at, r.finished_at),
        devices: devicesOf.all(r.id) as Array<{name: string; status: DeviceStatus}>,
      })),
      total,
      page,
      pages: Math.ceil(total / limit),
    }
  }

  tree(runId: string): TreeNode {
    const root = this.#root(runId)
    const node = (r: OperationRunRow): TreeNode => ({
      id: r.id,
      kind: r.kind,
      name: r.name,
      device: r.device,
      status: r.status as OperationRunStatus,
      started_at: r.started_at,
      finished_at: r.finished_at,
      duration_ms: durationMs(r.started_at, r.finished_at),
      gates: [],
      children: [],
    })
    const rootNode = node(root)
    const byId = new Map<string, TreeNode>([[root.id, rootNode]])
    // devices (kind 'device' sorts before 'step'), each in ord order, so parents exist before their children
    for (const c of this.#children(runId)) {
      const n = node(c)
      byId.set(c.id, n)
      byId.get(c.parent_id ?? root.id)?.children.push(n)
    }
    for (const g of this.#gates(runId)) byId.get(g.device_run_id ?? root.id)?.gates.push(gateOut(g))
    return rootNode
  }

  events(runId?: string): EventRow[] {
    const rows = (runId === undefined ? this.#q(`SELECT * FROM events ORDER BY seq`).all() : this.#q(`SELECT * FROM events WHERE run_id = ? ORDER BY seq`).all(runId)) as EventDbRow[]
    return rows.map((r) => ({...r, data: JSON.parse(r.data) as Json}))
  }

  // ---- verification -------------------------------------------------------------------------------------

  verify(runId?: string): VerifyResult {
    let lastSeq: number
    let runIds: string[]
    if (runId !== undefined) {
      this.#root(runId)
      lastSeq = (this.#q(`SELECT COALESCE(MAX(seq), 0) AS s FROM events WHERE run_id = ?`).get(runId) as {s: number}).s
      runIds = [runId]
    } else {
      lastSeq = Number.MAX_SAFE_INTEGER
      runIds = (this.#q(`SELECT id FROM operation_runs WHERE kind = 'run' ORDER BY rowid`).all() as Array<{id: string}>).map((r) => r.id)
    }
    // 1. The chain, from genesis through lastSeq (a run's record rests on every event before it).
    let prevHash = GENESIS_HASH
    let prevSeq = 0
    let head = GENESIS_HASH
    let counted = 0
    for (const r of this.#q(`SELECT * FROM events WHERE seq <= ? ORDER BY seq`).iterate(lastSeq) as IterableIterator<EventDbRow>) {
      const where = `event seq ${r.seq} (run ${r.run_id}, type ${r.type})`
      if (r.seq !== prevSeq + 1) {
        return {ok: false, firstBadSeq: r.seq, table: 'events', reason: `${where}: events ${prevSeq + 1}–${r.seq - 1} are missing (deleted)`}
      }
      if (r.prev_hash !== prevHash) {
        return {
          ok: false,
          firstBadSeq: r.seq,
          table: 'events',
          reason: `${where}: prev_hash does not match the hash of seq ${prevSeq} (one of them was altered, or rows were replaced)`,
        }
      }
      let data: Json
      try {
        data = JSON.parse(r.data) as Json
      } catch {
        return {ok: false, firstBadSeq: r.seq, table: 'events', reason: `${where}: data is not JSON (altered)`}
      }
      if (eventHash(r.prev_hash, {seq: r.seq, run_id: r.run_id, operation_run_id: r.operation_run_id, at: r.at, type: r.type, device: r.device, data}) !== r.hash) {
        return {ok: false, firstBadSeq: r.seq, table: 'events', reason: `${where}: content does not match its hash (altered)`}
      }
      prevHash = r.hash
      prevSeq = r.seq
      if (runId === undefined || r.run_id === runId) {
        counted++
        head = r.hash
      }
    }
    // 2. The tables against a replay of the (now trusted) events.
    for (const id of runIds) {
      const bad = this.#verifyProjection(id)
      if (bad) return bad
    }
    return {ok: true, events: counted, head}
  }

  #verifyProjection(runId: string): VerifyResult | null {
    const events = this.events(runId).filter((e) => PROJECTED_TYPES.has(e.type))
    const replay = new this.#Database(':memory:')
    try {
      replay.pragma('foreign_keys = ON')
      for (const m of MIGRATIONS) replay.exec(m.sql)
      for (const e of events) applyEvent(replay, e)
      const lastSeqOf = (id: string): number | null =>
        events.filter((e) => e.operation_run_id === id).pop()?.seq ?? events.find((e) => e.type === JournalEventType.runCreated)?.seq ?? null
      const runsSql = `SELECT id, parent_id, root_id, lineage, kind, name, stack, device, ord, status, started_at, finished_at, detail
                         FROM operation_runs WHERE root_id = ? ORDER BY id`
      const expected = new Map((replay.prepare(runsSql).all(runId) as OperationRunRow[]).map((r) => [r.id, r]))
      const actual = this.#db.prepare(runsSql).all(runId) as OperationRunRow[]
      for (const a of actual) {
        const e = expected.get(a.id)
        if (!e) return {ok: false, firstBadSeq: null, table: 'operation_runs', reason: `operation run ${a.id} (${a.kind} "${a.name}") is not backed by any event (inserted)`}
        expected.delete(a.id)
        for (const col of Object.keys(e) as Array<keyof OperationRunRow>) {
          if (a[col] !== e[col]) {
            return {
              ok: false,
              firstBadSeq: lastSeqOf(a.id),
              table: 'operation_runs',
              reason: `operation run ${a.id} (${a.kind} "${a.name}"): ${col} is ${JSON.stringify(a[col])} but the events say ${JSON.stringify(e[col])} (altered)`,
            }
          }
        }
      }
      for (const e of expected.values()) {
        return {ok: false, firstBadSeq: lastSeqOf(e.id), table: 'operation_runs', reason: `operation run ${e.id} (${e.kind} "${e.name}") is missing from the table (deleted)`}
      }
      const gateSql = `SELECT run_id, device_run_id, type, name, device, decision, reason, at FROM gate_evaluations WHERE run_id = ? ORDER BY id`
      const eg = replay.prepare(gateSql).all(runId) as Array<Record<string, unknown>>
      const ag = this.#db.prepare(gateSql).all(runId) as Array<Record<string, unknown>>
      const gateEvents = events.filter((e) => e.type === JournalEventType.gate)
      for (let i = 0; i < Math.max(eg.length, ag.length); i++) {
        const e = eg[i]
        const a = ag[i]
        const seq = gateEvents[Math.min(i, gateEvents.length - 1)]?.seq ?? null
        if (!e) return {ok: false, firstBadSeq: null, table: 'gate_evaluations', reason: `gate evaluation #${i + 1} of run ${runId} is not backed by any event (inserted)`}
        if (!a) return {ok: false, firstBadSeq: seq, table: 'gate_evaluations', reason: `gate evaluation #${i + 1} of run ${runId} is missing from the table (deleted)`}
        for (const col of Object.keys(e)) {
          if (a[col] !== e[col]) {
            return {
              ok: false,
              firstBadSeq: seq,
              table: 'gate_evaluations',
              reason: `gate evaluation #${i + 1} ("${String(e.name)}") of run ${runId}: ${col} is ${JSON.stringify(a[col])} but the events say ${JSON.stringify(e[col])} (altered)`,
            }
          }
        }
      }
      return null
    } finally {
      replay.close()
    }
  }

  // ---- locks --------------------------------------------------------------------------------------------

  acquireLock(stack: string, runId: string): LockResult {
    const host = osHostname()
    return this.transaction((): LockResult => {
      const row = this.#q(`SELECT * FROM locks WHERE stack = ?`).get(stack) as
        | {stack: string; run_id: string; pid: number; pid_start: string | null; hostname: string; acquired_at: string}
        | undefined
      const take = () =>
        this.#q(`INSERT OR REPLACE INTO locks (stack, run_id, pid, pid_start, hostname, acquired_at) VALUES (?, ?, ?, ?, ?, ?)`).run(
          stack,
          runId,
          process.pid,
          processStartTime(process.pid),
          host,
          this.#now().toISOString(),
        )
      if (!row) {
        take()
        return {ok: true}
      }
      const holder: LockHolder = {runId: row.run_id, pid: row.pid, hostname: row.hostname, acquiredAt: row.acquired_at}
      if (row.hostname === host && row.pid === process.pid && row.run_id === runId) return {ok: true}
      if (row.hostname !== host || isProcessAlive(row.pid, row.pid_start)) return {ok: false, heldBy: holder}
      take()
      return {
        ok: true,
        tookOverFrom: holder,
        note: `took over the lock on stack ${stack} left by run ${row.run_id} (pid ${row.pid} on ${row.hostname}, since ${row.acquired_at}): that process is no longer running`,
      }
    })
  }

  releaseLock(stack: string, runId: string): boolean {
    return this.#q(`DELETE FROM locks WHERE stack = ? AND run_id = ?`).run(stack, runId).changes > 0
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#db.close()
  }
}

function gateOut(g: GateRow): GateEvaluation {
  return {type: g.type, name: g.name, device: g.device, decision: g.decision, reason: g.reason}
}
