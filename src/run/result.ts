/**
 * The audit record of one run, as DEC-002 ("Execution Result Model") defines `ChainExecutionResult`,
 * with chainup's additions marked. Printed by `--json` and saved under the state directory.
 */

/** DEC-002 ChainStatus. */
export const ChainStatus = {
  /** Every device upgraded (or already on target) and every gate allowed. */
  completed: 'completed',
  /** A device failed, a device was not ready, or the chain halted on a fault (predecessor timeout …). */
  failed: 'failed',
  /** A gate vetoed; nothing started after the veto. */
  vetoed: 'vetoed',
  /** chainup (seed 001 §6.1): stopped by the operator (SIGINT/SIGTERM); `chainup resume` continues it. */
  cancelled: 'cancelled',
} as const
export type ChainStatus = (typeof ChainStatus)[keyof typeof ChainStatus]

/** DEC-002 StepStatus, as chainup uses it. */
export const StepStatus = {
  completed: 'completed',
  failed: 'failed',
  /** Not needed: the device already runs the target version. */
  skipped: 'skipped',
  /** Stopped because the chain halted while it ran. */
  cancelled: 'cancelled',
} as const
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus]

/** DEC-002 gate types; `final` is DEC-002's "final AFTER gates". */
export type GateType = 'before' | 'after' | 'on_error' | 'final'
export type GateDecision = 'allow' | 'veto'

/** DEC-002 StepExecution (`sprite_id` is the device here). */
export interface StepExecution {
  /** 1-based, in the order steps started across the whole run. */
  order: number
  /** Device name. */
  device: string
  /** The playbook step's name, e.g. "install image". */
  action: string
  status: StepStatus
  /** What the device printed (capped at 64 KiB), or a structured summary. */
  output: string | null
  error: string | null
  /** chainup: `readiness` or `upgrade` (or `reboot` for the wait after a reload, `rollback` for compensating actions). */
  phase: 'readiness' | 'upgrade' | 'reboot' | 'rollback'
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
  duration_ms: number
  steps: StepExecution[]
  gates: GateEvaluation[]
  /** chainup: one line saying why the run did not complete, or null. */
  reason: string | null
  /** chainup: per device outcome (`remote`: its node ran in another process, see that process's result). */
  devices: Array<{name: string; status: 'upgraded' | 'skipped' | 'failed' | 'not_started' | 'cancelled' | 'remote' | 'rolling_back' | 'rolled_back' | 'rollback_failed'; version_before: string | null; version_after: string | null}>
  /** chainup: SNMP traps sent during the run. */
  traps: Array<{kind: string; reporter: string; reason: string; receivers: Array<{target: string; ok: boolean; error?: string}>}>
}
