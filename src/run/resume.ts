/**
 * Picking a run up again from the journal (docs/runs.md "Resume", seed 001 §3.1, §5): steps the dead process left
 * running are closed as interrupted, each device's phase is re-derived (never replayed), and the outbox's committed
 * but unsent ChainSync lines are sent again or superseded.
 */
import {hostname} from 'node:os'

import type {Inventory, Playbook} from '../config/types.js'
import type {DeviceResume} from '../device/worker.js'
import {InputError} from '../errors.js'
import type {Journal} from '../journal/journal.js'
import type {LogLevel} from '../model/events.js'
import type {ChainSyncNode} from '../protocol/node.js'

/** What a resumed run knows of each device from the journal. */
export interface ResumePlan {
  /** Each device's phase. */
  states: Map<string, DeviceResume>
  /** The version each device ran when the run first read its facts. */
  versionsBefore: Map<string, string>
  /** Upgrade steps each device started before the restart (a rollback compensates them). */
  startedBefore: Map<string, string[]>
}

/**
 * Reopens the journal side of a run: running steps become `cancelled` ("interrupted"), a `resumed` event is added.
 * @returns the device operation-run ids by device name
 */
export function reopenDevices(journal: Journal, runId: string): Record<string, string> {
  const deviceRuns: Record<string, string> = {}
  for (const device of journal.tree(runId).children) {
    deviceRuns[device.name] = device.id
    for (const step of device.children) {
      if (step.status === 'running') journal.finishStep(step.id, {status: 'cancelled', output: null, error: 'interrupted: the process running this step died'})
    }
  }
  journal.appendEvent(runId, {type: 'resumed', data: {pid: process.pid, hostname: hostname()}})
  return deviceRuns
}

/**
 * Each device's phase from the journal (the device itself is checked again by its worker).
 * @throws InputError `RESUME_HALTED` when the chain stopped at a failed device no on_error gate let past;
 *   `RESUME_ROLLBACK` when the run died during its rollback
 */
export function planResume(journal: Journal, runId: string, inventory: Inventory, playbook: Playbook): ResumePlan {
  const tree = journal.tree(runId)
  const events = journal.events(runId)
  const booted = new Set(events.filter((e) => e.type === 'journal.reload_cleared' && (e.data as {outcome?: string}).outcome === 'rebooted').map((e) => e.device))
  const allowed = new Set(
    events
      .filter((e) => e.type === 'journal.status' && (e.data as {status?: string}).status === 'failed' && (e.data as {detail?: {on_error?: string}}).detail?.on_error === 'allow')
      .map((e) => e.device),
  )
  const halted = tree.children.filter((c) => c.status === 'failed' && !allowed.has(c.name))
  if (halted.length > 0) {
    // The chain stopped at this device (no on_error gate allowed going on): resuming would go past it.
    throw new InputError(`run ${runId} stopped at a failed device (${halted.map((c) => c.name).join(', ')}) whose on_error gates did not allow continuing; chainup does not resume past it`, {
      code: 'RESUME_HALTED',
      hint: 'check the device, then start a new run',
    })
  }
  const rolling = tree.children.filter((c) => ['rolling_back', 'rolled_back', 'rollback_failed'].includes(c.status))
  if (rolling.length > 0) {
    // Safety first: never re-run an upgrade on a stack that was half rolled back.
    throw new InputError(`run ${runId} died during its rollback (${rolling.map((c) => `${c.name} ${c.status}`).join(', ')}); chainup does not resume a rollback`, {
      code: 'RESUME_ROLLBACK',
      hint: 'check each device by hand (show version), then start a new run',
    })
  }
  const upgradeSteps = new Set(playbook.upgrade.map((st) => st.name))
  const plan: ResumePlan = {states: new Map(), versionsBefore: new Map(), startedBefore: new Map()}
  for (const e of events) {
    const v = (e.data as {version_before?: unknown}).version_before
    if (e.type === 'deviceFacts' && e.device && typeof v === 'string' && !plan.versionsBefore.has(e.device)) plan.versionsBefore.set(e.device, v)
  }
  for (const {name} of inventory.devices) {
    const device = tree.children.find((c) => c.name === name)
    plan.startedBefore.set(name, (device?.children ?? []).map((st) => st.name).filter((n) => upgradeSteps.has(n)))
    const fence = journal.openFence(runId, name)
    if (device?.status === 'upgraded' || device?.status === 'skipped' || device?.status === 'failed') plan.states.set(name, {state: 'done', outcome: device.status})
    else if (fence) {
      plan.states.set(name, {
        state: 'booting',
        before: {version: '', uptimeSeconds: fence.uptimeBefore ?? undefined, restartedAt: fence.restartedAtBefore ?? undefined},
        sentAt: Date.parse(fence.sentAt),
      })
    } else if (booted.has(name)) plan.states.set(name, {state: 'reloaded'})
    else plan.states.set(name, {state: 'fresh'})
  }
  return plan
}

/**
 * A resumed run's committed but unsent ChainSync lines (seed 001 §5). Lines to a neighbour in another process (that
 * may still be in the round) are sent first on the new link, and it ignores what it already has; lines between two
 * nodes of this process are superseded, since both restart the round from the journal. Either way they are marked.
 */
export function replayOutbox(journal: Journal, runId: string, inventory: Inventory, nodes: ReadonlyMap<string, ChainSyncNode>, log: (level: LogLevel, device: string | null, message: string) => void): void {
  const pending = journal.pendingOutbox(runId)
  if (pending.length === 0) return
  const index = new Map(inventory.devices.map((d, i) => [d.name, i]))
  let replayed = 0
  for (const m of pending) {
    const i = index.get(m.device)
    const peer = i === undefined ? undefined : inventory.devices[m.side === 'successor' ? i + 1 : i - 1]
    const node = nodes.get(m.device)
    if (node && peer?.remote) {
      node.preload(m.side, [m.line])
      replayed++
    }
    journal.markSent(m.id)
  }
  journal.appendEvent(runId, {type: 'outboxReplayed', data: {pending: pending.length, replayed, superseded: pending.length - replayed}})
  log('info', null, `outbox: ${pending.length} committed but unsent line(s) from before the restart: ${replayed} sent again to remote neighbours, ${pending.length - replayed} superseded by the restarted round`)
}
