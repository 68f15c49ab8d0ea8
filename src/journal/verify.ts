/**
 * `chainup show RUN_ID --verify` (docs/journal.md "Hash chain"): walks the hash chain from seq 1 through the run's
 * last event (or the whole journal), then replays the run's `journal.*` events into an empty in-memory database with
 * projection.ts and compares every column of `operation_runs` and `gate_evaluations` with the journal's rows. The
 * answer names the first bad row and why.
 */
import {eventHash, GENESIS_HASH} from './hash.js'
import {MIGRATIONS} from './migrations.js'
import {applyEvent, JournalEventType, PROJECTED_TYPES} from './projection.js'
import {events} from './read.js'
import type {EventDbRow, OperationRunRow} from './rows.js'
import type {JournalStore} from './store.js'
import type {Json, VerifyResult} from './types.js'

/**
 * `Journal.verify`: `{ok: true, events, head}` (events checked, the hash of the run's last event) or
 * `{ok: false, firstBadSeq, table, reason}` for the first row that is missing, altered, inserted or unlinked.
 * @throws JournalError `UNKNOWN_RUN`
 */
export function verify(s: JournalStore, runId?: string): VerifyResult {
  let lastSeq: number
  let runIds: string[]
  if (runId !== undefined) {
    s.root(runId)
    lastSeq = (s.q(`SELECT COALESCE(MAX(seq), 0) AS s FROM events WHERE run_id = ?`).get(runId) as {s: number}).s
    runIds = [runId]
  } else {
    lastSeq = Number.MAX_SAFE_INTEGER
    runIds = (s.q(`SELECT id FROM operation_runs WHERE kind = 'run' ORDER BY rowid`).all() as Array<{id: string}>).map((r) => r.id)
  }
  // 1. The chain, from genesis through lastSeq (a run's record rests on every event before it).
  let prevHash = GENESIS_HASH
  let prevSeq = 0
  let head = GENESIS_HASH
  let counted = 0
  for (const r of s.q(`SELECT * FROM events WHERE seq <= ? ORDER BY seq`).iterate(lastSeq) as IterableIterator<EventDbRow>) {
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
    const bad = verifyProjection(s, id)
    if (bad) return bad
  }
  return {ok: true, events: counted, head}
}

/** The run's `operation_runs` and `gate_evaluations` rows against a replay of its events; null when they match. */
function verifyProjection(s: JournalStore, runId: string): VerifyResult | null {
  const projected = events(s, runId).filter((e) => PROJECTED_TYPES.has(e.type))
  const replay = new s.Database(':memory:')
  try {
    replay.pragma('foreign_keys = ON')
    for (const m of MIGRATIONS) replay.exec(m.sql)
    for (const e of projected) applyEvent(replay, e)
    const lastSeqOf = (id: string): number | null =>
      projected.filter((e) => e.operation_run_id === id).pop()?.seq ?? projected.find((e) => e.type === JournalEventType.runCreated)?.seq ?? null
    const runsSql = `SELECT id, parent_id, root_id, lineage, kind, name, stack, device, ord, status, started_at, finished_at, detail
                       FROM operation_runs WHERE root_id = ? ORDER BY id`
    const expected = new Map((replay.prepare(runsSql).all(runId) as OperationRunRow[]).map((r) => [r.id, r]))
    const actual = s.db.prepare(runsSql).all(runId) as OperationRunRow[]
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
    const ag = s.db.prepare(gateSql).all(runId) as Array<Record<string, unknown>>
    const gateEvents = projected.filter((e) => e.type === JournalEventType.gate)
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
