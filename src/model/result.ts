/**
 * The audit record of one run, as DEC-002 ("Execution Result Model") defines `ChainExecutionResult`, with chainup's
 * additions marked. Printed by `--json` and saved under the state directory (docs/result.md).
 */
import type {ChainStatus, DeviceOutcome, FinalStepStatus} from './status.js'

/** DEC-002 gate types; `final` is DEC-002's "final AFTER gates". */
export type GateType = 'before' | 'after' | 'on_error' | 'final'
export type GateDecision = 'allow' | 'veto'

/**
 * Where in a run a step belongs. `reboot` is the wait for a device to boot after its reload (the name is kept
 * from v0.1 because result files and journals carry it).
 */
export type StepPhase = 'readiness' | 'upgrade' | 'reboot' | 'rollback'

/** DEC-002 StepExecution (`sprite_id` is the device here). */
export interface StepExecution {
  /** 1-based, in the order steps started across the whole run. */
  order: number
  /** Device name. */
  device: string
  /** The playbook step's name, e.g. "install image". */
  action: string
  status: FinalStepStatus
  /** What the device printed (capped at 64 KiB), or a structured summary. */
  output: string | null
  error: string | null
  /** chainup: readiness, upgrade, reboot (the wait for the boot after a reload) or rollback (compensating actions). */
  phase: StepPhase
  /** chainup: the command line sent, if any. */
  command: string | null
  /** chainup: ISO 8601. */
  started_at: string
  /** chainup: ms. */
  duration_ms: number
}

/** DEC-002 GateEvaluation (`sprite_id` is the device here; null for stack-wide gates). */
export interface GateEvaluation {
  type: GateType
  name: string
  device: string | null
  decision: GateDecision
  reason: string
}

/** chainup: one device's line in the result. */
export interface DeviceResult {
  name: string
  status: DeviceOutcome
  version_before: string | null
  version_after: string | null
}

/** chainup: an SNMP notification sent during the run, and what each receiver said (docs/snmp.md). */
export interface TrapRecord {
  kind: string
  /** The device the notification is about; null for the run as a whole (a stack-wide gate, the rollback wave). */
  reporter: string | null
  reason: string
  receivers: Array<{target: string; ok: boolean; error?: string}>
}

/** DEC-002 ChainExecutionResult. */
export interface ChainExecutionResult {
  /** The run's UUID; also the ChainSync ROUND-ID. */
  execution_id: string
  /** The stack name. */
  chain_id: string
  status: ChainStatus
  /** ISO 8601. */
  started_at: string
  /** ISO 8601. */
  completed_at: string
  /** ms. */
  duration_ms: number
  steps: StepExecution[]
  gates: GateEvaluation[]
  /** chainup: one line saying why the run did not complete, or null. */
  reason: string | null
  /** chainup: per device outcome, in chain order (`remote`: see that node's own result file). */
  devices: DeviceResult[]
  /** chainup: SNMP traps sent during the run. */
  traps: TrapRecord[]
}

/**
 * chainup: the audit record of a fleet, DEC-002's council of chains (`chainup upgrade A.yml B.yml …`, docs/fleets.md):
 * one `ChainExecutionResult` per stack that ran, in inventory order. A vetoed stack halts the fleet (`vetoed`);
 * failed stacks are reported and the others go on until `--max-failed` of them stop the fleet (`failed`).
 */
export interface FleetExecutionResult {
  /** The fleet's UUID (`chainup resume` and `chainup show` take it). */
  execution_id: string
  /** `completed` only when every stack completed; `vetoed` when a stack was vetoed; `cancelled` by SIGINT/SIGTERM; else `failed`. */
  status: ChainStatus
  /** ISO 8601. */
  started_at: string
  /** ISO 8601. */
  completed_at: string
  /** ms. */
  duration_ms: number
  /** One line saying why the fleet did not complete, or null. */
  reason: string | null
  /** The stacks that ran (or were parked), in inventory order. */
  stacks: ChainExecutionResult[]
  /** Stacks that did not start: the fleet halted first, the stack was locked by another run, or it was outside its window. */
  not_started: FleetStackNotStarted[]
}

/** chainup: a stack of a fleet that did not start, and why. */
export interface FleetStackNotStarted {
  /** The stack name. */
  chain_id: string
  /** The inventory file. */
  inventory: string
  /** The run id it would have had (or will have, when the fleet is resumed). */
  execution_id: string
  reason: string
}
