/**
 * One run per stack, across processes (docs/journal.md "Locks: one run per stack"): the `locks` table, taken in an
 * IMMEDIATE transaction so contending processes are serialised by SQLite, and taken over from a holder process that
 * is gone from this host (liveness.ts). A lock held from another host is never taken over: only `chainup unlock
 * STACK --force` ({@link unlock}) releases it, and says so in the journal.
 */
import {hostname as osHostname, userInfo} from 'node:os'
import {dirname} from 'node:path'

import {isProcessAlive, processStartTime} from './liveness.js'
import type {JournalStore} from './store.js'
import type {HolderLiveness, LockHolder, LockResult, RunResumability, Unlocker, UnlockResult} from './types.js'
import {record} from './write.js'

interface LockRow {
  stack: string
  run_id: string
  pid: number
  pid_start: string | null
  hostname: string
  acquired_at: string
}

/** The event `chainup unlock` appends to the holder's run. */
export const UNLOCK_EVENT = 'stackUnlocked'

/**
 * `Journal.acquireLock`: no lock → taken; this process's own lock for the same run → ok; held by a live process on
 * this host or by any process on another host → refused with the holder; held by a dead process here → taken over,
 * with `tookOverFrom` and a one-line `note`.
 */
export function acquireLock(s: JournalStore, stack: string, runId: string): LockResult {
  const host = osHostname()
  return s.transaction((): LockResult => {
    const row = lockRow(s, stack)
    const take = () =>
      s.q(`INSERT OR REPLACE INTO locks (stack, run_id, pid, pid_start, hostname, acquired_at) VALUES (?, ?, ?, ?, ?, ?)`).run(
        stack,
        runId,
        process.pid,
        processStartTime(process.pid),
        host,
        s.now().toISOString(),
      )
    if (!row) {
      take()
      return {ok: true}
    }
    if (row.hostname === host && row.pid === process.pid && row.run_id === runId) return {ok: true}
    const holder = describeHolder(s, row, host)
    if (holder.liveness !== 'gone') return {ok: false, heldBy: holder}
    take()
    return {
      ok: true,
      tookOverFrom: holder,
      note: `took over the lock on stack ${stack} left by run ${row.run_id} (pid ${row.pid} on ${row.hostname}, since ${row.acquired_at}): that process is no longer running`,
    }
  })
}

/** `Journal.releaseLock`: deletes the stack's lock only if `runId` holds it. @returns whether it did */
export function releaseLock(s: JournalStore, stack: string, runId: string): boolean {
  return s.q(`DELETE FROM locks WHERE stack = ? AND run_id = ?`).run(stack, runId).changes > 0
}

/** `Journal.lockHolder`: who holds the stack's lock, or null. */
export function lockHolder(s: JournalStore, stack: string): LockHolder | null {
  const row = lockRow(s, stack)
  return row ? describeHolder(s, row, osHostname()) : null
}

/**
 * `Journal.unlock` (`chainup unlock STACK`): releases the stack's lock whoever holds it. Without `force` it refuses
 * when the holder may still run (alive on this host, or on another host, where it cannot be checked). A release is
 * recorded as a `stackUnlocked` event on the holder's run: who unlocked (user, uid, pid, host), the old holder and
 * whether it was forced; in the same transaction as the delete.
 */
export function unlock(s: JournalStore, stack: string, opts: {force: boolean; by?: Unlocker}): UnlockResult {
  const by = opts.by ?? currentUnlocker()
  return s.transaction((): UnlockResult => {
    const row = lockRow(s, stack)
    if (!row) return {released: false, holder: null}
    const holder = describeHolder(s, row, osHostname())
    if (holder.liveness !== 'gone' && !opts.force) return {released: false, holder}
    s.q(`DELETE FROM locks WHERE stack = ?`).run(stack)
    const run = s.q(`SELECT id FROM operation_runs WHERE id = ? AND kind = 'run'`).get(row.run_id) as {id: string} | undefined
    if (run) {
      record(s, run.id, run.id, UNLOCK_EVENT, null, s.redact({
        stack,
        forced: opts.force === true,
        by: {user: by.user, uid: by.uid, pid: by.pid, hostname: by.hostname},
        holder: {run_id: row.run_id, pid: row.pid, hostname: row.hostname, acquired_at: row.acquired_at, liveness: holder.liveness},
      }))
    }
    return {released: true, holder, by, journaled: run !== undefined}
  })
}

/** This process as the one that unlocks: login name (or `uid N`), uid, pid, host name. */
export function currentUnlocker(): Unlocker {
  let user: string
  let uid: number | null = typeof process.getuid === 'function' ? process.getuid() : null
  try {
    const info = userInfo()
    user = info.username
    if (info.uid >= 0) uid = info.uid
  } catch {
    // no passwd entry (a container running as an arbitrary uid)
    user = process.env.USER || process.env.LOGNAME || (uid === null ? 'unknown' : `uid ${uid}`)
  }
  return {user, uid, pid: process.pid, hostname: osHostname()}
}

function lockRow(s: JournalStore, stack: string): LockRow | undefined {
  return s.q(`SELECT * FROM locks WHERE stack = ?`).get(stack) as LockRow | undefined
}

function describeHolder(s: JournalStore, row: LockRow, host: string): LockHolder {
  const liveness: HolderLiveness = row.hostname !== host ? 'unknown' : isProcessAlive(row.pid, row.pid_start) ? 'running' : 'gone'
  return {
    runId: row.run_id,
    pid: row.pid,
    hostname: row.hostname,
    acquiredAt: row.acquired_at,
    liveness,
    resume: resumability(s, row.run_id),
    stateDir: dirname(s.file),
  }
}

/**
 * Whether `chainup resume` would continue the run once its process is gone, from the journal alone (the same
 * refusals as run/resume.ts `planResume` and cli/resume.ts): the run must be in the journal, `running` or
 * `cancelled`, not stopped at a failed device no on_error gate let past, and not in the middle of a rollback.
 * (A resume also refuses an inventory or playbook that changed since; that needs the files.)
 */
export function resumability(s: JournalStore, runId: string): RunResumability {
  const root = s.q(`SELECT status FROM operation_runs WHERE id = ? AND kind = 'run'`).get(runId) as {status: string} | undefined
  if (!root) return {resumable: false, reason: `run ${runId} is not in this journal (its process stopped before it recorded the run)`}
  if (root.status !== 'running' && root.status !== 'cancelled') return {resumable: false, reason: `run ${runId} already finished (${root.status})`}
  const devices = s.q(`SELECT device, status FROM operation_runs WHERE root_id = ? AND kind = 'device' ORDER BY ord`).all(runId) as Array<{device: string; status: string}>
  const rolling = devices.filter((d) => ['rolling_back', 'rolled_back', 'rollback_failed'].includes(d.status))
  if (rolling.length > 0) return {resumable: false, reason: `run ${runId} died during its rollback (${rolling.map((d) => d.device).join(', ')}); chainup does not resume a rollback`}
  const failed = devices.filter((d) => d.status === 'failed')
  if (failed.length > 0) {
    const allowed = new Set(
      (s.q(`SELECT device, data FROM events WHERE run_id = ? AND type = 'journal.status' AND device IS NOT NULL`).all(runId) as Array<{device: string; data: string}>)
        .filter((e) => {
          const d = JSON.parse(e.data) as {status?: string; detail?: {on_error?: string}}
          return d.status === 'failed' && d.detail?.on_error === 'allow'
        })
        .map((e) => e.device),
    )
    const halted = failed.filter((d) => !allowed.has(d.device))
    if (halted.length > 0) return {resumable: false, reason: `run ${runId} stopped at a failed device (${halted.map((d) => d.device).join(', ')}) no on_error gate let past`}
  }
  return {resumable: true}
}
