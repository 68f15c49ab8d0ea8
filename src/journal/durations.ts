/**
 * Past task durations, for estimates (`chainup plan`, the window gate): how long each device's *task* took in the runs
 * the journal holds. A task is what a device's node does after START (draft §6.3): the `upgrade`-phase steps (facts,
 * the upgrade steps, the reload), the `reboot` step (the wait for the boot), and the `after` gates. Its duration is the
 * span from the start of its first `upgrade`/`reboot` step to the later of its last such step's end and its last
 * `after` gate's decision; readiness (run at the start, in parallel) and the wait for its turn are not part of it.
 *
 * Only devices that ended `upgraded` count (a skipped device's task is a facts read, a failed or cancelled one says
 * nothing about a whole task), in any finished run: a device that upgraded is a valid sample even when a device after
 * it failed (docs/plan.md "Estimates").
 *
 * It reads through its own read-only connection to the journal file (SQLite in WAL mode lets it read while a run
 * writes), so that it needs nothing of the `Journal` port but its `file`, and stays synchronous.
 */
import {existsSync} from 'node:fs'
import {createRequire} from 'node:module'

import {JournalError} from './errors.js'
import type {DatabaseConstructor, Db} from './rows.js'

/** One device's task in one past run. */
export interface TaskDurationSample {
  /** The run (root operation run) id. */
  run_id: string
  stack: string
  device: string
  /** The playbook file the run used (its `runConfig` event), or null when the run recorded none. */
  playbook: string | null
  /** The playbook's `platform` if the run recorded one (`runConfig.platform`), else null. */
  platform: string | null
  /** ISO 8601 UTC: when the task's first step started. */
  started_at: string
  /** The task's duration, ms (≥ 0). */
  duration_ms: number
}

/** Which samples {@link taskDurations} returns. Every filter given must hold. */
export interface TaskDurationQuery {
  /** Only runs of this stack. */
  stack?: string
  /** Only this device (by name). */
  device?: string
  /** Only runs whose `runConfig` names this playbook file, or (second clause) … */
  playbook?: string
  /** … whose `runConfig` records this platform: with both set, either matches. */
  platform?: string
  /** Leave out this stack's device of this name (the platform's *other* devices). */
  exclude?: {stack: string; device: string}
  /** The newest this many samples (by task start). @default 100 */
  limit?: number
}

const SQL = `
WITH tasks AS (
  SELECT d.root_id AS run_id, d.stack AS stack, d.device AS device,
    (SELECT MIN(s.started_at) FROM operation_runs s
      WHERE s.parent_id = d.id AND s.kind = 'step' AND json_extract(s.detail, '$.phase') IN ('upgrade', 'reboot')) AS task_start,
    (SELECT MAX(s.finished_at) FROM operation_runs s
      WHERE s.parent_id = d.id AND s.kind = 'step' AND json_extract(s.detail, '$.phase') IN ('upgrade', 'reboot')) AS steps_end,
    (SELECT MAX(g.at) FROM gate_evaluations g WHERE g.run_id = d.root_id AND g.device_run_id = d.id AND g.type = 'after') AS gates_end,
    (SELECT json_extract(e.data, '$.playbook') FROM events e WHERE e.run_id = d.root_id AND e.type = 'runConfig' ORDER BY e.seq LIMIT 1) AS playbook,
    (SELECT json_extract(e.data, '$.platform') FROM events e WHERE e.run_id = d.root_id AND e.type = 'runConfig' ORDER BY e.seq LIMIT 1) AS platform
  FROM operation_runs d JOIN operation_runs r ON r.id = d.root_id
  WHERE d.kind = 'device' AND d.status = 'upgraded' AND r.status != 'running'
    AND (@stack IS NULL OR d.stack = @stack) AND (@device IS NULL OR d.device = @device)
    AND (@xstack IS NULL OR NOT (d.stack = @xstack AND d.device = @xdevice))
)
SELECT * FROM tasks
WHERE task_start IS NOT NULL AND steps_end IS NOT NULL
  AND ((@playbook IS NULL AND @platform IS NULL) OR playbook = @playbook OR platform = @platform)
ORDER BY task_start DESC
LIMIT @limit`

interface Row {
  run_id: string
  stack: string
  device: string
  task_start: string
  steps_end: string
  gates_end: string | null
  playbook: unknown
  platform: unknown
}

/**
 * The newest past task durations matching `query`, newest first (see the file comment for what a task is). A journal
 * file that does not exist yet has no history: `[]`.
 * @param file the journal's database file (`Journal.file`)
 * @throws JournalError `JOURNAL_UNAVAILABLE` (better-sqlite3 cannot load), `JOURNAL_UNREADABLE` (not a chainup journal)
 */
export function taskDurations(file: string, query: TaskDurationQuery = {}): TaskDurationSample[] {
  if (!existsSync(file)) return []
  const limit = query.limit ?? 100
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, not ${limit}`)
  let Database: DatabaseConstructor
  try {
    Database = createRequire(import.meta.url)('better-sqlite3') as DatabaseConstructor
  } catch (error) {
    throw new JournalError('cannot load the SQLite module (better-sqlite3)', {code: 'JOURNAL_UNAVAILABLE', hint: 'run `npm rebuild better-sqlite3`', cause: error})
  }
  let db: Db | undefined
  try {
    db = new Database(file, {readonly: true, fileMustExist: true, timeout: 5000})
    const rows = db
      .prepare(SQL)
      .all({
        stack: query.stack ?? null,
        device: query.device ?? null,
        playbook: query.playbook ?? null,
        platform: query.platform ?? null,
        xstack: query.exclude?.stack ?? null,
        xdevice: query.exclude?.device ?? null,
        limit,
      }) as Row[]
    return rows.map((r) => {
      const end = Math.max(Date.parse(r.steps_end), r.gates_end === null ? 0 : Date.parse(r.gates_end))
      return {
        run_id: r.run_id,
        stack: r.stack,
        device: r.device,
        playbook: typeof r.playbook === 'string' ? r.playbook : null,
        platform: typeof r.platform === 'string' ? r.platform : null,
        started_at: r.task_start,
        duration_ms: Math.max(0, end - Date.parse(r.task_start)),
      }
    })
  } catch (error) {
    throw new JournalError(`cannot read past durations from the journal ${file}: ${(error as Error).message}`, {code: 'JOURNAL_UNREADABLE', cause: error})
  } finally {
    db?.close()
  }
}
