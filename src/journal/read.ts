/**
 * The journal's read side for records: the DEC-002 `ChainExecutionResult` of a finished run built from its rows,
 * the history of runs (newest first, filtered, paged), and the events of a run in seq order. The operation-run tree
 * is tree.ts; the hash-chain check is verify.ts.
 */
import {InputError} from '../errors.js'
import type {ChainExecutionResult, StepExecution} from '../model/result.js'
import type {DeviceStatus, RunStatus} from '../model/status.js'
import {JournalError} from './errors.js'
import {durationMs, gateOut, parseObj, str, type EventDbRow, type OperationRunRow} from './rows.js'
import type {JournalStore} from './store.js'
import type {EventRow, HistoryPage, HistoryQuery, Json} from './types.js'

/**
 * `Journal.buildResult`: steps in start order, gates in evaluation order, devices in chain order (a device left
 * `pending` reads `not_started`, one left `running` reads `cancelled`) with versions from the device's detail, else
 * its steps', traps from events of type `trap`; durations in ms.
 * @throws JournalError `UNKNOWN_RUN`, `RUN_NOT_FINISHED`
 */
export function buildResult(s: JournalStore, runId: string): ChainExecutionResult {
  const root = s.root(runId)
  if (root.status === 'running' || root.finished_at === null) {
    throw new JournalError(`run ${runId} has not finished`, {code: 'RUN_NOT_FINISHED', hint: `\`chainup show ${runId} --tree\` shows a run in progress`})
  }
  const rootDetail = parseObj(root.detail)
  const children = s.children(runId)
  const devices = children.filter((c) => c.kind === 'device')
  const steps = children.filter((c) => c.kind === 'step')
  const stepDetails = new Map(steps.map((st) => [st.id, parseObj(st.detail)]))
  const stepsOut: StepExecution[] = steps.map((st) => {
    const d = stepDetails.get(st.id) ?? {}
    return {
      order: st.ord,
      device: st.device ?? '',
      action: st.name,
      status: st.status as StepExecution['status'],
      output: str(d.output),
      error: str(d.error),
      phase: (str(d.phase) ?? 'upgrade') as StepExecution['phase'],
      command: str(d.command),
      started_at: st.started_at ?? root.started_at ?? '',
      duration_ms: durationMs(st.started_at, st.finished_at) ?? 0,
    }
  })
  const devicesOut = devices.map((dev) => {
    const d = parseObj(dev.detail)
    const own = steps.filter((st) => st.parent_id === dev.id).map((st) => stepDetails.get(st.id) ?? {})
    const before = str(d.version_before) ?? own.map((x) => str(x.version_before)).find((v) => v !== null) ?? null
    const after = str(d.version_after) ?? own.map((x) => str(x.version_after)).filter((v) => v !== null).pop() ?? null
    const status = dev.status === 'pending' ? 'not_started' : dev.status === 'running' ? 'cancelled' : dev.status
    return {name: dev.name, status: status as ChainExecutionResult['devices'][number]['status'], version_before: before, version_after: after}
  })
  const traps = s
    .q(`SELECT data FROM events WHERE run_id = ? AND type = 'trap' ORDER BY seq`)
    .all(runId)
    .map((r) => {
      const d = parseObj((r as {data: string}).data)
      const receivers = Array.isArray(d.receivers) ? d.receivers : []
      return {
        kind: str(d.kind) ?? '',
        reporter: str(d.reporter),
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
    gates: s.gates(runId).map(gateOut),
    reason: str(rootDetail.reason),
    devices: devicesOut,
    traps,
  }
}

/**
 * `Journal.history`: root runs newest first (by start time, then insertion), `limit` (1–1000, default 20) per
 * `page` (from 1), with their devices in chain order.
 * @throws InputError `HISTORY_QUERY_INVALID` for a limit outside 1–1000 or a page below 1
 */
export function history(s: JournalStore, query: HistoryQuery = {}): HistoryPage {
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
  const total = (s.db.prepare(`SELECT COUNT(*) AS n FROM operation_runs WHERE ${w}`).get(...params) as {n: number}).n
  const rows = s.db
    .prepare(`SELECT * FROM operation_runs WHERE ${w} ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?`)
    .all(...params, limit, (page - 1) * limit) as OperationRunRow[]
  const devicesOf = s.q(`SELECT name, status FROM operation_runs WHERE root_id = ? AND kind = 'device' ORDER BY ord`)
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

/** `Journal.events`: the run's events (or all), in seq order, `data` parsed. */
export function events(s: JournalStore, runId?: string): EventRow[] {
  const rows = (runId === undefined ? s.q(`SELECT * FROM events ORDER BY seq`).all() : s.q(`SELECT * FROM events WHERE run_id = ? ORDER BY seq`).all(runId)) as EventDbRow[]
  return rows.map((r) => ({...r, data: JSON.parse(r.data) as Json}))
}
