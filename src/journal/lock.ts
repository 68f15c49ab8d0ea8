/**
 * One run per stack, across processes (docs/journal.md "Locks: one run per stack"): the `locks` table, taken in an
 * IMMEDIATE transaction so contending processes are serialised by SQLite, and taken over from a holder process that
 * is gone from this host (liveness.ts). A lock held from another host is never taken over.
 */
import {hostname as osHostname} from 'node:os'

import {isProcessAlive, processStartTime} from './liveness.js'
import type {JournalStore} from './store.js'
import type {LockHolder, LockResult} from './types.js'

/**
 * `Journal.acquireLock`: no lock → taken; this process's own lock for the same run → ok; held by a live process on
 * this host or by any process on another host → refused with the holder; held by a dead process here → taken over,
 * with `tookOverFrom` and a one-line `note`.
 */
export function acquireLock(s: JournalStore, stack: string, runId: string): LockResult {
  const host = osHostname()
  return s.transaction((): LockResult => {
    const row = s.q(`SELECT * FROM locks WHERE stack = ?`).get(stack) as
      | {stack: string; run_id: string; pid: number; pid_start: string | null; hostname: string; acquired_at: string}
      | undefined
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

/** `Journal.releaseLock`: deletes the stack's lock only if `runId` holds it. @returns whether it did */
export function releaseLock(s: JournalStore, stack: string, runId: string): boolean {
  return s.q(`DELETE FROM locks WHERE stack = ? AND run_id = ?`).run(stack, runId).changes > 0
}
