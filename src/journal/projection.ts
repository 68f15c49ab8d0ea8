/**
 * The journal's tables `operation_runs` and `gate_evaluations` are a projection of its hash-chained events:
 * every change to them is a `journal.*` event, applied by {@link applyEvent}. Writing applies the event to the
 * journal; `verify()` replays a run's events into an empty in-memory database with the same function and
 * compares, so a row edited behind the journal's back is caught even though only events are hashed.
 */
import type BetterSqlite3 from 'better-sqlite3'

import {canonicalJson} from './hash.js'
import type {Json} from './types.js'

type Db = BetterSqlite3.Database

/** Event types the journal writes itself; `appendEvent` refuses the `journal.` prefix. */
export const JournalEventType = {
  /** Root + device runs created. data: `{stack, devices: [{id, name}], target}`. */
  runCreated: 'journal.run_created',
  /** A step run created. data: `{step_id, device, name, phase, command, order}`. */
  stepStarted: 'journal.step_started',
  /** A step run finished. data: `{status, output, error, detail}`. */
  stepFinished: 'journal.step_finished',
  /** An operation run's status (and detail) changed. data: `{status, detail}`. */
  status: 'journal.status',
  /** A gate was evaluated. data: `{type, name, device, device_run_id, decision, reason}`. */
  gate: 'journal.gate',
  /** The run finished; open children are closed. data: `{status, reason}`. */
  runFinished: 'journal.run_finished',
  /** A cancelled run is resumed: the root is `running` again, devices that did not finish are `pending`. data: `{reason}`. */
  runReopened: 'journal.run_reopened',
  /** A reload is about to be sent (fence opened). Not projected. */
  reloadIntent: 'journal.reload_intent',
  /** A reload fence was cleared. Not projected. */
  reloadCleared: 'journal.reload_cleared',
} as const
export type JournalEventType = (typeof JournalEventType)[keyof typeof JournalEventType]

/** Events {@link applyEvent} turns into rows. */
export const PROJECTED_TYPES: ReadonlySet<string> = new Set([
  JournalEventType.runCreated,
  JournalEventType.stepStarted,
  JournalEventType.stepFinished,
  JournalEventType.status,
  JournalEventType.gate,
  JournalEventType.runFinished,
  JournalEventType.runReopened,
])

/** What {@link applyEvent} reads of an event. */
export interface ProjectedEvent {
  run_id: string
  operation_run_id: string | null
  at: string
  type: string
  data: Json
}

const cache = new WeakMap<Db, Map<string, BetterSqlite3.Statement>>()
function sql(db: Db, source: string): BetterSqlite3.Statement {
  let m = cache.get(db)
  if (!m) cache.set(db, (m = new Map()))
  let s = m.get(source)
  if (!s) m.set(source, (s = db.prepare(source)))
  return s
}

type Obj = {[key: string]: Json}
const obj = (v: Json | undefined): Obj => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {})
const str = (v: Json | undefined): string | null => (typeof v === 'string' ? v : null)

/** `{...old, ...patch}` of a `detail` column, written as canonical JSON. */
export function mergeDetail(old: string, patch: Obj): string {
  return canonicalJson({...obj(JSON.parse(old) as Json), ...patch})
}

const FINAL = `('completed','failed','vetoed','cancelled','upgraded','skipped','not_started','rolled_back','rollback_failed')`

/** Applies one projected event to `db` (the journal, or a replay database). Other event types are ignored. */
export function applyEvent(db: Db, ev: ProjectedEvent): void {
  const d = obj(ev.data)
  switch (ev.type) {
    case JournalEventType.runCreated: {
      const stack = str(d.stack) ?? ''
      const insert = sql(
        db,
        `INSERT INTO operation_runs (id, parent_id, root_id, lineage, kind, name, stack, device, ord, status, started_at, finished_at, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
      )
      insert.run(ev.run_id, null, ev.run_id, JSON.stringify([ev.run_id]), 'run', stack, stack, null, 0, 'running', ev.at, canonicalJson({target: d.target ?? null}))
      const devices = Array.isArray(d.devices) ? d.devices : []
      devices.forEach((dev, i) => {
        const o = obj(dev)
        const id = str(o.id) ?? ''
        const name = str(o.name) ?? ''
        insert.run(id, ev.run_id, ev.run_id, JSON.stringify([ev.run_id, id]), 'device', name, stack, name, i + 1, 'pending', null, '{}')
      })
      return
    }
    case JournalEventType.stepStarted: {
      const parent = sql(db, `SELECT id, lineage, stack FROM operation_runs WHERE root_id = ? AND kind = 'device' AND device = ?`).get(ev.run_id, str(d.device)) as
        | {id: string; lineage: string; stack: string}
        | undefined
      if (!parent) throw new Error(`no device run for ${String(d.device)} in run ${ev.run_id}`)
      const stepId = str(d.step_id) ?? ''
      const lineage = JSON.stringify([...(JSON.parse(parent.lineage) as string[]), stepId])
      sql(
        db,
        `INSERT INTO operation_runs (id, parent_id, root_id, lineage, kind, name, stack, device, ord, status, started_at, finished_at, detail)
         VALUES (?, ?, ?, ?, 'step', ?, ?, ?, ?, 'running', ?, NULL, ?)`,
      ).run(stepId, parent.id, ev.run_id, lineage, str(d.name) ?? '', parent.stack, str(d.device), typeof d.order === 'number' ? d.order : 0, ev.at, canonicalJson({phase: d.phase ?? null, command: d.command ?? null}))
      sql(db, `UPDATE operation_runs SET status = 'running', started_at = ? WHERE id = ? AND status = 'pending'`).run(ev.at, parent.id)
      return
    }
    case JournalEventType.stepFinished:
    case JournalEventType.status: {
      const row = sql(db, `SELECT detail, started_at FROM operation_runs WHERE id = ?`).get(ev.operation_run_id) as {detail: string; started_at: string | null} | undefined
      if (!row) throw new Error(`no operation run ${String(ev.operation_run_id)}`)
      const status = str(d.status) ?? ''
      const patch = ev.type === JournalEventType.stepFinished ? {...obj(d.detail), output: d.output ?? null, error: d.error ?? null} : obj(d.detail)
      sql(
        db,
        `UPDATE operation_runs SET status = @status, detail = @detail,
           started_at = COALESCE(started_at, CASE WHEN @status = 'running' THEN @at END),
           finished_at = CASE WHEN @status = 'rolling_back' THEN NULL ELSE COALESCE(finished_at, CASE WHEN @status IN ${FINAL} THEN @at END) END
         WHERE id = @id`,
      ).run({status, detail: mergeDetail(row.detail, patch), at: ev.at, id: ev.operation_run_id})
      return
    }
    case JournalEventType.gate:
      sql(db, `INSERT INTO gate_evaluations (run_id, device_run_id, type, name, device, decision, reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(
        ev.run_id,
        str(d.device_run_id),
        str(d.type),
        str(d.name),
        str(d.device),
        str(d.decision),
        str(d.reason),
        ev.at,
      )
      return
    case JournalEventType.runFinished: {
      const row = sql(db, `SELECT detail FROM operation_runs WHERE id = ?`).get(ev.run_id) as {detail: string} | undefined
      if (!row) throw new Error(`no run ${ev.run_id}`)
      sql(db, `UPDATE operation_runs SET status = ?, finished_at = ?, detail = ? WHERE id = ?`).run(str(d.status), ev.at, mergeDetail(row.detail, {reason: d.reason ?? null}), ev.run_id)
      sql(db, `UPDATE operation_runs SET status = 'cancelled', finished_at = ? WHERE root_id = ? AND kind = 'step' AND status = 'running'`).run(ev.at, ev.run_id)
      sql(db, `UPDATE operation_runs SET status = 'cancelled', finished_at = ? WHERE root_id = ? AND kind = 'device' AND status = 'running'`).run(ev.at, ev.run_id)
      sql(db, `UPDATE operation_runs SET status = 'not_started', finished_at = ? WHERE root_id = ? AND kind = 'device' AND status = 'pending'`).run(ev.at, ev.run_id)
      return
    }
    case JournalEventType.runReopened: {
      sql(db, `UPDATE operation_runs SET status = 'running', finished_at = NULL WHERE id = ?`).run(ev.run_id)
      sql(db, `UPDATE operation_runs SET status = 'pending', finished_at = NULL, started_at = NULL WHERE root_id = ? AND kind = 'device' AND status IN ('not_started', 'cancelled')`).run(ev.run_id)
      return
    }
    default:
      return
  }
}
