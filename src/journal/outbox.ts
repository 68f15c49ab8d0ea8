/**
 * What a run must not do twice after a crash (docs/journal.md "Transactions and the outbox", "Reload fences"): the
 * ChainSync outbox (a line is committed with the step result that emits it, sent after the commit, then marked) and
 * the reload fences (the intent to reload a device is committed before the reload is sent, and cleared once the
 * device is back). Fence changes are `journal.reload_*` events on the hash chain; outbox rows are not.
 */
import type {Side} from '../protocol/state-machine.js'
import {JournalError} from './errors.js'
import {JournalEventType} from './projection.js'
import type {JournalStore} from './store.js'
import type {FenceOutcome, OutboxMessage, ReloadFence, ReloadIntentInput} from './types.js'
import {record} from './write.js'

/** `Journal.enqueue`. @returns the message id @throws JournalError `UNKNOWN_RUN` */
export function enqueue(s: JournalStore, runId: string, device: string, side: Side, line: string): number {
  return s.transaction(() => {
    s.root(runId)
    const r = s.q(`INSERT INTO outbox (run_id, device, side, line, created_at) VALUES (?, ?, ?, ?, ?)`).run(runId, device, side, line, s.now().toISOString())
    return Number(r.lastInsertRowid)
  })
}

/** `Journal.pendingOutbox`: the run's unsent messages in id order. */
export function pendingOutbox(s: JournalStore, runId: string): OutboxMessage[] {
  return s.q(`SELECT id, run_id, device, side, line, created_at FROM outbox WHERE run_id = ? AND sent_at IS NULL ORDER BY id`).all(runId) as OutboxMessage[]
}

/** `Journal.markSent` (idempotent: the first `sent_at` stays). @returns false if there is no such message */
export function markSent(s: JournalStore, id: number): boolean {
  const r = s.q(`UPDATE outbox SET sent_at = COALESCE(sent_at, ?) WHERE id = ?`).run(s.now().toISOString(), id)
  return r.changes > 0
}

/** `Journal.recordReloadIntent`. @returns the fence id @throws JournalError `FENCE_OPEN`, `UNKNOWN_RUN`, `UNKNOWN_DEVICE` */
export function recordReloadIntent(s: JournalStore, input: ReloadIntentInput): number {
  return s.transaction(() => {
    const deviceRun = s.deviceRun(input.runId, input.device)
    const open = openFence(s, input.runId, input.device)
    if (open) {
      throw new JournalError(`a reload of ${input.device} was already committed at ${open.sentAt} in run ${input.runId} and not cleared`, {
        code: 'FENCE_OPEN',
        hint: 'check whether the device rebooted, then clear the fence; never reload twice',
      })
    }
    const at = s.now().toISOString()
    const r = s
      .q(`INSERT INTO reload_fences (run_id, device, sent_at, restarted_at_before, uptime_before, target_version) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(input.runId, input.device, at, input.restartedAtBefore, input.uptimeBefore, input.targetVersion)
    const id = Number(r.lastInsertRowid)
    record(s, input.runId, deviceRun.id, JournalEventType.reloadIntent, input.device, {
      fence_id: id,
      restarted_at_before: input.restartedAtBefore,
      uptime_before: input.uptimeBefore,
      target_version: input.targetVersion,
    })
    return id
  })
}

/** `Journal.openFence`: the device's open fence in the run, or null. */
export function openFence(s: JournalStore, runId: string, device: string): ReloadFence | null {
  const row = s
    .q(
      `SELECT id, run_id AS runId, device, sent_at AS sentAt, restarted_at_before AS restartedAtBefore, uptime_before AS uptimeBefore,
              target_version AS targetVersion
         FROM reload_fences WHERE run_id = ? AND device = ? AND cleared_at IS NULL`,
    )
    .get(runId, device) as ReloadFence | undefined
  return row ?? null
}

/** `Journal.clearFence`. @returns false if no fence was open */
export function clearFence(s: JournalStore, runId: string, device: string, outcome: FenceOutcome): boolean {
  return s.transaction(() => {
    const open = openFence(s, runId, device)
    if (!open) return false
    s.q(`UPDATE reload_fences SET cleared_at = ?, outcome = ? WHERE id = ?`).run(s.now().toISOString(), outcome, open.id)
    record(s, runId, s.deviceRun(runId, device).id, JournalEventType.reloadCleared, device, {fence_id: open.id, outcome})
    return true
  })
}
