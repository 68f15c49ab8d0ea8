/**
 * A run's record in the journal from the orchestrator's side: creating it with what `chainup resume` needs, its final
 * status, and the `ChainExecutionResult` built from it.
 */
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'

import {inputsDigest} from '../config/load.js'
import type {Inventory, Playbook} from '../config/types.js'
import type {Journal} from '../journal/journal.js'
import type {ChainExecutionResult} from '../model/result.js'
import type {ChainStatus, DeviceOutcome} from '../model/status.js'
import type {HaltCause} from './halt.js'
import {saveResult} from './result-file.js'

/**
 * Creates the run (root + one device run per device) and records its inputs (files, their SHA-256, pid, host).
 * @returns the device operation-run ids by device name
 * @throws JournalError when the id exists
 */
export function createRunRecord(journal: Journal, runId: string, inventory: Inventory, playbook: Playbook): Record<string, string> {
  const {devices} = journal.createRun({id: runId, stack: inventory.stack, devices: inventory.devices.map((d) => d.name), target: inventory.target})
  journal.appendEvent(runId, {
    type: 'runConfig',
    data: {inventory: inventory.file, playbook: playbook.file, platform: playbook.platform ?? null, inputs_sha256: inputsDigest(inventory, playbook), pid: process.pid, hostname: hostname()},
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

/**
 * The result when the journal failed mid-run (disk full, I/O error): what this process still knows — every device's
 * outcome and versions — with the failure in `reason`; steps and gates stay in the journal up to the failure.
 */
export function resultWithoutJournal(
  runId: string,
  inventory: Inventory,
  status: {status: ChainStatus; reason: string | null},
  agents: ReadonlyMap<string, {outcome: DeviceOutcome; worker: {factsBefore: {version: string} | undefined; factsAfter: {version: string} | undefined}}>,
  failure: Error,
): ChainExecutionResult {
  const now = new Date().toISOString()
  const why = `journal write failed: ${failure.message}`
  return {
    execution_id: runId,
    chain_id: inventory.stack,
    status: status.status === 'completed' ? 'failed' : status.status,
    started_at: now,
    completed_at: now,
    duration_ms: 0,
    steps: [],
    gates: [],
    reason: status.reason && !status.reason.includes(why) ? `${status.reason}; ${why}` : (status.reason ?? why),
    devices: inventory.devices.map((d) => {
      const agent = agents.get(d.name)
      return {name: d.name, status: agent?.outcome ?? (d.remote ? 'remote' : 'not_started'), version_before: agent?.worker.factsBefore?.version ?? null, version_after: agent?.worker.factsAfter?.version ?? null}
    }),
    traps: [],
  }
}

/**
 * Saves the result under the state directory, else (that file system full or read-only) beside it in the OS temp
 * directory. @returns one line saying where it went, or that it could only be printed
 */
export function saveResultSomewhere(stateDir: string, result: ChainExecutionResult): string {
  try {
    return `result saved to ${saveResult(stateDir, result)}`
  } catch (first) {
    try {
      return `result saved to ${saveResult(join(tmpdir(), `chainup-fallback-${process.getuid?.() ?? 'user'}`), result)} (the state directory refused it: ${(first as Error).message})`
    } catch (second) {
      return `result could not be saved (${(first as Error).message}; ${(second as Error).message}): ${JSON.stringify(result)}`
    }
  }
}
