/**
 * Fleets in the journal (docs/fleets.md "Journal"): the level above a fleet's stack runs, DEC-002's council. A fleet
 * row holds the fleet's status and settings; one `fleet_stacks` row per inventory, in order, names the run id the stack
 * runs (or will run) under, so `chainup resume FLEET_ID` knows which stacks are left. The stack runs themselves are
 * ordinary runs (hash-chained, locked per stack); the fleet rows are not part of the hash chain.
 */
import {InputError} from '../errors.js'
import type {ChainStatus, RunStatus} from '../model/status.js'
import {canonicalJson} from './hash.js'
import {JournalError} from './errors.js'
import {durationMs, parseObj, str} from './rows.js'
import type {JournalStore} from './store.js'

/** Input of `Journal.createFleet`. */
export interface CreateFleetInput {
  /** The fleet's UUID. */
  id: string
  /** Stacks run at once. */
  concurrency: number
  /** Failed stacks that stop the fleet; null = no limit. */
  maxFailed: number | null
  /** In the order they start; each with the run id it will run under. */
  stacks: Array<{stack: string; inventory: string; runId: string}>
}

/** Where a fleet's stack stands: `pending` (not started yet), `started` (its run exists), `not_started` (refused, with a reason). */
export type FleetStackState = 'pending' | 'started' | 'not_started'

/** One stack of a {@link FleetRecord}. */
export interface FleetStackRecord {
  /** 1-based, inventory order. */
  ord: number
  stack: string
  /** The inventory file (absolute path). */
  inventory: string
  run_id: string
  state: FleetStackState
  /** Why it did not start (the latest refusal), or null. */
  reason: string | null
  /** The stack run's status once it exists, else null. */
  run_status: RunStatus | null
}

/** A fleet as the journal holds it. */
export interface FleetRecord {
  id: string
  status: RunStatus
  /** ISO 8601 UTC. */
  started_at: string
  /** ISO 8601 UTC, or null while it runs. */
  finished_at: string | null
  /** ms, or null while it runs. */
  duration_ms: number | null
  reason: string | null
  concurrency: number
  /** null = no limit. */
  max_failed: number | null
  stacks: FleetStackRecord[]
}

interface FleetRow {
  id: string
  status: string
  started_at: string
  finished_at: string | null
  detail: string
}

/** `Journal.createFleet`. @throws JournalError `RUN_EXISTS` when the id is taken */
export function createFleet(s: JournalStore, input: CreateFleetInput): void {
  s.transaction(() => {
    if (s.q(`SELECT 1 FROM fleets WHERE id = ?`).get(input.id)) throw new JournalError(`fleet ${input.id} already exists in the journal`, {code: 'RUN_EXISTS'})
    s.q(`INSERT INTO fleets (id, status, started_at, finished_at, detail) VALUES (?, 'running', ?, NULL, ?)`).run(
      input.id,
      s.now().toISOString(),
      canonicalJson({concurrency: input.concurrency, max_failed: input.maxFailed, reason: null}),
    )
    const insert = s.q(`INSERT INTO fleet_stacks (fleet_id, ord, stack, inventory, run_id, state, reason) VALUES (?, ?, ?, ?, ?, 'pending', NULL)`)
    input.stacks.forEach((st, i) => insert.run(input.id, i + 1, st.stack, st.inventory, st.runId))
  })
}

/** `Journal.markFleetStack`: a stack's run started, or the stack was refused (`not_started` with the reason). */
export function markFleetStack(s: JournalStore, fleetId: string, runId: string, state: Exclude<FleetStackState, 'pending'>, reason: string | null): void {
  const changed = s.q(`UPDATE fleet_stacks SET state = ?, reason = ? WHERE fleet_id = ? AND run_id = ?`).run(state, s.redactText(reason), fleetId, runId).changes
  if (changed === 0) throw new JournalError(`fleet ${fleetId} has no stack run ${runId}`, {code: 'UNKNOWN_RUN'})
}

/** `Journal.finishFleet`. @throws JournalError `UNKNOWN_RUN`, `ALREADY_FINISHED` */
export function finishFleet(s: JournalStore, fleetId: string, status: ChainStatus, reason: string | null): void {
  s.transaction(() => {
    const row = fleetRow(s, fleetId)
    if (row.status !== 'running') throw new JournalError(`fleet ${fleetId} already finished as ${row.status}`, {code: 'ALREADY_FINISHED'})
    s.q(`UPDATE fleets SET status = ?, finished_at = ?, detail = ? WHERE id = ?`).run(status, s.now().toISOString(), canonicalJson({...parseObj(row.detail), reason: s.redactText(reason)}), fleetId)
  })
}

/**
 * `Journal.reopenFleet`: a finished fleet runs again (`chainup resume FLEET_ID`): status `running`, no end time;
 * stacks refused before are `pending` again.
 * @throws JournalError `UNKNOWN_RUN`
 */
export function reopenFleet(s: JournalStore, fleetId: string): void {
  s.transaction(() => {
    fleetRow(s, fleetId)
    s.q(`UPDATE fleets SET status = 'running', finished_at = NULL WHERE id = ?`).run(fleetId)
    s.q(`UPDATE fleet_stacks SET state = 'pending' WHERE fleet_id = ? AND state = 'not_started'`).run(fleetId)
  })
}

/** `Journal.fleet`: the fleet with its stacks in order, or null when there is no such fleet. */
export function fleet(s: JournalStore, fleetId: string): FleetRecord | null {
  const row = s.q(`SELECT * FROM fleets WHERE id = ?`).get(fleetId) as FleetRow | undefined
  return row ? record(s, row) : null
}

/**
 * `Journal.fleets`: fleets newest first (by start time), at most `limit` (1–1000, default 20), optionally only those
 * with a status.
 * @throws InputError `HISTORY_QUERY_INVALID` for a limit outside 1–1000
 */
export function fleets(s: JournalStore, query: {status?: RunStatus; limit?: number} = {}): FleetRecord[] {
  const limit = query.limit ?? 20
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new InputError(`--limit must be an integer from 1 to 1000, not ${limit}`, {code: 'HISTORY_QUERY_INVALID'})
  const rows = (
    query.status === undefined
      ? s.q(`SELECT * FROM fleets ORDER BY started_at DESC, rowid DESC LIMIT ?`).all(limit)
      : s.q(`SELECT * FROM fleets WHERE status = ? ORDER BY started_at DESC, rowid DESC LIMIT ?`).all(query.status, limit)
  ) as FleetRow[]
  return rows.map((r) => record(s, r))
}

/** `Journal.fleetOf`: the fleet a run belongs to, or null. */
export function fleetOf(s: JournalStore, runId: string): string | null {
  return (s.q(`SELECT fleet_id FROM fleet_stacks WHERE run_id = ?`).get(runId) as {fleet_id: string} | undefined)?.fleet_id ?? null
}

function fleetRow(s: JournalStore, fleetId: string): FleetRow {
  const row = s.q(`SELECT * FROM fleets WHERE id = ?`).get(fleetId) as FleetRow | undefined
  if (!row) throw new JournalError(`no fleet ${fleetId} in the journal`, {code: 'UNKNOWN_RUN'})
  return row
}

function record(s: JournalStore, row: FleetRow): FleetRecord {
  const detail = parseObj(row.detail)
  const stacks = s
    .q(
      `SELECT f.ord, f.stack, f.inventory, f.run_id, f.state, f.reason, r.status AS run_status
         FROM fleet_stacks f LEFT JOIN operation_runs r ON r.id = f.run_id AND r.kind = 'run'
        WHERE f.fleet_id = ? ORDER BY f.ord`,
    )
    .all(row.id) as FleetStackRecord[]
  return {
    id: row.id,
    status: row.status as RunStatus,
    started_at: row.started_at,
    finished_at: row.finished_at,
    duration_ms: durationMs(row.started_at, row.finished_at),
    reason: str(detail.reason),
    concurrency: typeof detail.concurrency === 'number' ? detail.concurrency : 1,
    max_failed: typeof detail.max_failed === 'number' ? detail.max_failed : null,
    stacks,
  }
}
