/**
 * The journal's write side for operation runs, gates and events: the hash-chained append ({@link record}) and every
 * change to the run → device → step hierarchy, each one a `journal.*` event that projection.ts applies to the
 * tables (docs/journal.md "Hash chain"). Each function runs in its own transaction (a savepoint inside
 * `Journal.transaction`) and refuses bad input with a `JournalError` code before anything is written.
 */
import {randomUUID} from 'node:crypto'

import type {GateEvaluation} from '../model/result.js'
import {DeviceStatus, RunStatus, StepStatus, type ChainStatus, type OperationRunStatus} from '../model/status.js'
import {JournalError} from './errors.js'
import {canonicalJson, eventHash, GENESIS_HASH} from './hash.js'
import {applyEvent, JournalEventType, PROJECTED_TYPES} from './projection.js'
import {redactString} from './redact.js'
import type {JournalStore} from './store.js'
import type {CreateRunInput, EventInput, EventRow, FinishStepInput, Json, OperationKind, StartStepInput} from './types.js'

const DEVICE_STATUSES = new Set<string>(Object.values(DeviceStatus))
const STEP_STATUSES = new Set<string>(Object.values(StepStatus))
const RUN_STATUSES = new Set<string>(Object.values(RunStatus))
const STATUSES_BY_KIND: Record<Exclude<OperationKind, 'run'>, ReadonlySet<string>> = {device: DEVICE_STATUSES, step: STEP_STATUSES}

/**
 * Appends one event (data already redacted) to the chain: `seq` = last + 1, `at` = now,
 * `hash = sha256(prev_hash ‖ canonical JSON of the content)`; a `journal.*` projection type is applied to the tables
 * first. Call it inside a transaction.
 */
export function record(s: JournalStore, runId: string, operationRunId: string | null, type: string, device: string | null, data: Json): EventRow {
  const last = s.q(`SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1`).get() as {seq: number; hash: string} | undefined
  const row = {seq: (last?.seq ?? 0) + 1, run_id: runId, operation_run_id: operationRunId, at: s.now().toISOString(), type, device, data}
  if (PROJECTED_TYPES.has(type)) applyEvent(s.db, row)
  const prev_hash = last?.hash ?? GENESIS_HASH
  const hash = eventHash(prev_hash, row)
  s.q(`INSERT INTO events (seq, run_id, operation_run_id, at, type, device, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
    row.seq,
    runId,
    operationRunId,
    row.at,
    type,
    device,
    canonicalJson(data),
    prev_hash,
    hash,
  )
  return {...row, prev_hash, hash}
}

/** `Journal.createRun`. @throws JournalError `RUN_EXISTS`, `DUPLICATE_DEVICE` */
export function createRun(s: JournalStore, input: CreateRunInput): {id: string; devices: Record<string, string>} {
  return s.transaction(() => {
    if (s.q(`SELECT 1 FROM operation_runs WHERE id = ?`).get(input.id)) {
      throw new JournalError(`run ${input.id} already exists in the journal`, {code: 'RUN_EXISTS'})
    }
    const seen = new Set<string>()
    for (const d of input.devices) {
      if (seen.has(d)) throw new JournalError(`device ${d} appears twice in run ${input.id}`, {code: 'DUPLICATE_DEVICE'})
      seen.add(d)
    }
    const devices = input.devices.map((name) => ({id: randomUUID(), name}))
    const target = s.redact(input.target)
    record(s, input.id, input.id, JournalEventType.runCreated, null, {stack: input.stack, devices, target})
    return {id: input.id, devices: Object.fromEntries(devices.map((d) => [d.name, d.id]))}
  })
}

/** `Journal.startStep`. @returns the step's id @throws JournalError `UNKNOWN_RUN`, `UNKNOWN_DEVICE`, `ALREADY_FINISHED` */
export function startStep(s: JournalStore, runId: string, device: string, input: StartStepInput): string {
  return s.transaction(() => {
    s.assertOpen(s.root(runId))
    const deviceRun = s.deviceRun(runId, device)
    s.assertOpen(deviceRun)
    const order = (s.q(`SELECT COALESCE(MAX(ord), 0) + 1 AS n FROM operation_runs WHERE root_id = ? AND kind = 'step'`).get(runId) as {n: number}).n
    const stepId = randomUUID()
    record(s, runId, stepId, JournalEventType.stepStarted, device, {
      step_id: stepId,
      device,
      name: input.name,
      phase: input.phase,
      command: s.redactText(input.command),
      order,
    })
    return stepId
  })
}

/** `Journal.finishStep`. @throws JournalError `UNKNOWN_OPERATION_RUN`, `ALREADY_FINISHED`, `INVALID_STATUS` */
export function finishStep(s: JournalStore, stepId: string, input: FinishStepInput): void {
  s.transaction(() => {
    const step = s.operationRun(stepId)
    if (step.kind !== 'step') throw new JournalError(`operation run ${stepId} is a ${step.kind}, not a step`, {code: 'INVALID_STATUS'})
    s.assertOpen(step)
    if (!STEP_STATUSES.has(input.status) || (input.status as string) === 'running') {
      throw new JournalError(`"${input.status}" is not a final step status`, {code: 'INVALID_STATUS'})
    }
    record(s, step.root_id, stepId, JournalEventType.stepFinished, step.device, {
      status: input.status,
      output: s.redactText(input.output),
      error: s.redactText(input.error),
      detail: s.redact(input.detail ?? {}),
    })
  })
}

/** `Journal.setStatus`. @throws JournalError `UNKNOWN_OPERATION_RUN`, `INVALID_STATUS`, `ALREADY_FINISHED` */
export function setStatus(s: JournalStore, operationRunId: string, status: OperationRunStatus, detail?: {[key: string]: Json}): void {
  s.transaction(() => {
    const row = s.operationRun(operationRunId)
    if (row.kind === 'run') {
      throw new JournalError(`the run's own status is set by finishRun, which also closes its open children`, {code: 'INVALID_STATUS'})
    }
    if (!STATUSES_BY_KIND[row.kind].has(status)) {
      throw new JournalError(`"${status}" is not a status of a ${row.kind} run`, {code: 'INVALID_STATUS'})
    }
    // A compensating action reopens a finished device (seed 001 §3.4); everything else must still be open.
    const compensating = status === 'rolling_back' && row.kind === 'device' && ['upgraded', 'failed', 'cancelled'].includes(row.status)
    if (!compensating) s.assertOpen(row)
    record(s, row.root_id, operationRunId, JournalEventType.status, row.device, {status, detail: s.redact(detail ?? {})})
  })
}

/** `Journal.recordGate`. @throws JournalError `UNKNOWN_RUN`, `UNKNOWN_DEVICE` */
export function recordGate(s: JournalStore, runId: string, gate: GateEvaluation): void {
  s.transaction(() => {
    s.root(runId)
    const deviceRunId = gate.device === null ? null : s.deviceRun(runId, gate.device).id
    record(s, runId, deviceRunId ?? runId, JournalEventType.gate, gate.device, {
      type: gate.type,
      name: gate.name,
      device: gate.device,
      device_run_id: deviceRunId,
      decision: gate.decision,
      reason: redactString(gate.reason, s.secrets),
    })
  })
}

/** `Journal.appendEvent`. @throws JournalError `RESERVED_EVENT_TYPE`, `UNKNOWN_RUN`, `UNKNOWN_DEVICE` */
export function appendEvent(s: JournalStore, runId: string, input: EventInput): EventRow {
  if (input.type.startsWith('journal.')) {
    throw new JournalError(`event type ${input.type} is reserved for the journal itself`, {code: 'RESERVED_EVENT_TYPE'})
  }
  return s.transaction(() => {
    const device = input.device ?? null
    const operationRunId = device === null ? s.root(runId).id : s.deviceRun(runId, device).id
    return record(s, runId, operationRunId, input.type, device, s.redact(input.data))
  })
}

/** `Journal.finishRun`. @throws JournalError `UNKNOWN_RUN`, `INVALID_STATUS`, `ALREADY_FINISHED` */
export function finishRun(s: JournalStore, runId: string, status: ChainStatus, reason: string | null): void {
  s.transaction(() => {
    const root = s.root(runId)
    if (!RUN_STATUSES.has(status) || (status as string) === 'running') {
      throw new JournalError(`"${status}" is not a final run status`, {code: 'INVALID_STATUS'})
    }
    s.assertOpen(root)
    record(s, runId, runId, JournalEventType.runFinished, null, {status, reason: s.redactText(reason)})
  })
}

/**
 * `Journal.reopenRun`; also reopens a `vetoed` run, which the caller does only for a run the maintenance window
 * parked (docs/operations.md "Parking").
 * @throws JournalError `UNKNOWN_RUN`, `INVALID_STATUS` (neither cancelled nor vetoed)
 */
export function reopenRun(s: JournalStore, runId: string, reason: string): void {
  s.transaction(() => {
    const root = s.root(runId)
    if (root.status !== 'cancelled' && root.status !== 'vetoed') throw new JournalError(`run ${runId} is ${root.status}, only a cancelled (or parked) run can be reopened`, {code: 'INVALID_STATUS'})
    record(s, runId, runId, JournalEventType.runReopened, null, {reason: s.redactText(reason)})
  })
}
