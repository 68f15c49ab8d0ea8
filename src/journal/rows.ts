/**
 * The journal's rows as better-sqlite3 returns them (one interface per table the journal reads), the database
 * types, and the small conversions its readers share: durations from ISO timestamps, JSON `detail`/`data` text to
 * an object, a gate row to DEC-002's `GateEvaluation`.
 */
import type BetterSqlite3 from 'better-sqlite3'

import type {GateEvaluation} from '../model/result.js'
import type {Json, OperationKind} from './types.js'

/** An open better-sqlite3 connection. */
export type Db = BetterSqlite3.Database
/** better-sqlite3's default export (loaded lazily by `openDatabase`). */
export type DatabaseConstructor = typeof BetterSqlite3

/** One row of `operation_runs`. */
export interface OperationRunRow {
  id: string
  parent_id: string | null
  root_id: string
  /** JSON array of ids, root → self. */
  lineage: string
  kind: OperationKind
  name: string
  stack: string
  device: string | null
  ord: number
  status: string
  /** ISO 8601, or null (a device before its first step). */
  started_at: string | null
  finished_at: string | null
  /** JSON object. */
  detail: string
}

/** One row of `gate_evaluations`. */
export interface GateRow {
  /** Evaluation order across the journal. */
  id: number
  run_id: string
  device_run_id: string | null
  type: GateEvaluation['type']
  name: string
  device: string | null
  decision: GateEvaluation['decision']
  reason: string
  /** ISO 8601: when it was decided. */
  at: string
}

/** One row of `events`, `data` still as its canonical JSON text. */
export interface EventDbRow {
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

/** `end − start` in ms, or null unless both ISO 8601 timestamps are set. */
export function durationMs(start: string | null, end: string | null): number | null {
  if (start === null || end === null) return null
  return Date.parse(end) - Date.parse(start)
}

/** A JSON object column parsed; anything else (array, scalar) is `{}`. @throws SyntaxError for text that is not JSON */
export function parseObj(text: string): {[key: string]: Json} {
  const v = JSON.parse(text) as Json
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {}
}

/** The value if it is a string, else null. */
export const str = (v: Json | undefined): string | null => (typeof v === 'string' ? v : null)

/** A gate row as DEC-002's `GateEvaluation` (the result's `gates[]`). */
export function gateOut(g: GateRow): GateEvaluation {
  return {type: g.type, name: g.name, device: g.device, decision: g.decision, reason: g.reason}
}
