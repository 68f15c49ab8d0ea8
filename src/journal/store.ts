/**
 * What the journal's parts share for one open connection: the database, the clock, the secrets to blank, the cache of
 * prepared statements, the IMMEDIATE transaction (savepoints when nested), and the lookups that refuse unknown or
 * finished operation runs with the journal's error codes. The write side (write.ts, outbox.ts, lock.ts) and the read
 * side (read.ts, tree.ts, verify.ts) are functions of a {@link JournalStore}; journal.ts puts them behind the
 * `Journal` port.
 */
import type BetterSqlite3 from 'better-sqlite3'

import {FINAL_STATUSES} from '../model/status.js'
import {JournalError} from './errors.js'
import type {OpenJournalOptions} from './open.js'
import {redact, redactString} from './redact.js'
import type {DatabaseConstructor, Db, GateRow, OperationRunRow} from './rows.js'
import type {Json} from './types.js'

/** One open journal connection and what every journal operation needs of it. */
export class JournalStore {
  readonly db: Db
  /** The better-sqlite3 constructor, for `verify()`'s in-memory replay. */
  readonly Database: DatabaseConstructor
  /** Absolute path of the database file. */
  readonly file: string
  /** The clock for every timestamp the journal writes. */
  readonly now: () => Date
  /** Registered secret values of 4 characters or more, blanked in stored text. */
  readonly secrets: readonly string[]
  readonly #statements = new Map<string, BetterSqlite3.Statement>()
  readonly #tx: BetterSqlite3.Transaction<(fn: () => unknown) => unknown>

  constructor(db: Db, Database: DatabaseConstructor, file: string, options: OpenJournalOptions) {
    this.db = db
    this.Database = Database
    this.file = file
    this.now = options.now ?? (() => new Date())
    this.secrets = [...(options.secrets ?? [])].filter((s) => s.length >= 4)
    this.#tx = db.transaction((fn: () => unknown) => {
      const result = fn()
      if (result !== null && typeof result === 'object' && typeof (result as {then?: unknown}).then === 'function') {
        throw new JournalError('a journal transaction function returned a promise; it must be synchronous', {code: 'ASYNC_TRANSACTION'})
      }
      return result
    })
  }

  /** The prepared statement for `source`, prepared once per connection. */
  q(source: string): BetterSqlite3.Statement {
    let s = this.#statements.get(source)
    if (!s) this.#statements.set(source, (s = this.db.prepare(source)))
    return s
  }

  /**
   * Runs synchronous `fn` in one IMMEDIATE transaction, or a savepoint inside an open one.
   * @throws JournalError `ASYNC_TRANSACTION` if `fn` returns a promise (nothing commits), or what `fn` threw
   */
  transaction<T>(fn: () => T): T {
    return this.#tx.immediate(fn) as T
  }

  /**
   * Runs `fn` so that what it commits survives a power loss, not only a crash of chainup: `synchronous=FULL` for its
   * commit (the WAL is fsynced), then back to the connection's NORMAL. Inside an open transaction `fn` just runs: the
   * outer commit decides (callers that need it make the outer one durable). For reload fences, stack locks, a
   * device's outcome with the COMPLETE it sends, and a run's end (docs/journal.md "Durability").
   */
  durable<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn()
    this.db.pragma('synchronous = FULL')
    try {
      return fn()
    } finally {
      this.db.pragma('synchronous = NORMAL')
    }
  }

  // ---- lookups ------------------------------------------------------------------------------------------

  /** The run's root row. @throws JournalError `UNKNOWN_RUN` */
  root(runId: string): OperationRunRow {
    const row = this.q(`SELECT * FROM operation_runs WHERE id = ? AND kind = 'run'`).get(runId) as OperationRunRow | undefined
    if (!row) throw new JournalError(`no run ${runId} in the journal`, {code: 'UNKNOWN_RUN'})
    return row
  }

  /** A device's run in a run. @throws JournalError `UNKNOWN_RUN`, `UNKNOWN_DEVICE` */
  deviceRun(runId: string, device: string): OperationRunRow {
    const row = this.q(`SELECT * FROM operation_runs WHERE root_id = ? AND kind = 'device' AND device = ?`).get(runId, device) as OperationRunRow | undefined
    if (!row) {
      this.root(runId)
      throw new JournalError(`run ${runId} has no device ${device}`, {code: 'UNKNOWN_DEVICE'})
    }
    return row
  }

  /** Any operation run by id. @throws JournalError `UNKNOWN_OPERATION_RUN` */
  operationRun(id: string): OperationRunRow {
    const row = this.q(`SELECT * FROM operation_runs WHERE id = ?`).get(id) as OperationRunRow | undefined
    if (!row) throw new JournalError(`no operation run ${id} in the journal`, {code: 'UNKNOWN_OPERATION_RUN'})
    return row
  }

  /** @throws JournalError `ALREADY_FINISHED` when the row has a final status */
  assertOpen(row: OperationRunRow): void {
    if (FINAL_STATUSES.has(row.status)) {
      throw new JournalError(`${row.kind} ${row.name} (${row.id}) already finished as ${row.status}`, {code: 'ALREADY_FINISHED'})
    }
  }

  /** The run's devices (chain order), then its steps (start order). */
  children(runId: string): OperationRunRow[] {
    return this.q(`SELECT * FROM operation_runs WHERE root_id = ? AND kind != 'run' ORDER BY kind, ord`).all(runId) as OperationRunRow[]
  }

  /** The run's gate evaluations in evaluation order. */
  gates(runId: string): GateRow[] {
    return this.q(`SELECT * FROM gate_evaluations WHERE run_id = ? ORDER BY id`).all(runId) as GateRow[]
  }

  // ---- redaction ----------------------------------------------------------------------------------------

  /** `redact()` with this journal's secrets: what is stored (and hashed) of any JSON-ish value. */
  redact(value: unknown): Json {
    return redact(value, this.secrets)
  }

  /** `redactString()` with this journal's secrets; null stays null. */
  redactText(text: string | null): string | null {
    return text === null ? null : redactString(text, this.secrets)
  }
}
