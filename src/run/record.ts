/**
 * A run's record in the journal from the orchestrator's side: creating it with what `chainup resume` needs, its final
 * status, and the `ChainExecutionResult` built from it.
 */
import {hostname} from 'node:os'

import {inputsDigest} from '../config/load.js'
import type {Inventory, Playbook} from '../config/types.js'
import type {Journal} from '../journal/journal.js'
import type {ChainExecutionResult} from '../model/result.js'
import type {ChainStatus, DeviceOutcome} from '../model/status.js'
import type {HaltCause} from './halt.js'

/**
 * Creates the run (root + one device run per device) and records its inputs (files, their SHA-256, pid, host).
 * @returns the device operation-run ids by device name
 * @throws JournalError when the id exists
 */
export function createRunRecord(journal: Journal, runId: string, inventory: Inventory, playbook: Playbook): Record<string, string> {
  const {devices} = journal.createRun({id: runId, stack: inventory.stack, devices: inventory.devices.map((d) => d.name), target: inventory.target})
  journal.appendEvent(runId, {
    type: 'runConfig',
    data: {inventory: inventory.file, playbook: playbook.file, inputs_sha256: inputsDigest(inventory, playbook), pid: process.pid, hostname: hostname()},
  })
  return devices
}

/**
 * The run's final status: its halt cause; else `failed` when an on_error allow let a failed device pass
 * (docs/decisions.md #4); else `completed`.
 */
export function finalStatus(cause: HaltCause | undefined, outcomes: ReadonlyArray<{name: string; outcome: DeviceOutcome | undefined}>): {status: ChainStatus; reason: string | null} {
  if (cause) return {status: cause.status, reason: cause.reason}
  const failed = outcomes.filter((d) => d.outcome === 'failed').map((d) => d.name)
  return failed.length > 0 ? {status: 'failed', reason: `failed on ${failed.join(', ')} (on_error gates allowed the chain to continue)`} : {status: 'completed', reason: null}
}

/**
 * The result from the journal. A device in `remote` (its node runs in another process, which journals its steps) that
 * this journal saw nothing of is `remote`, not `not_started`.
 */
export function resultFromJournal(journal: Journal, runId: string, remote: ReadonlySet<string>): ChainExecutionResult {
  const built = journal.buildResult(runId)
  return {...built, devices: built.devices.map((d) => (remote.has(d.name) && d.status === 'not_started' ? {...d, status: 'remote' as const} : d))}
}
