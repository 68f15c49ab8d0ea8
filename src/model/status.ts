/**
 * chainup's one vocabulary of statuses (STYLE.md: states as `as const` objects with a derived union and a doc line
 * each). The journal stores these names, the result file carries them, `chainup show`/`history` and the progress
 * views print them, and docs/runs.md lists them. Operation runs are seed 001 §2.1/§3.1's; the final run statuses
 * are DEC-002's ChainStatus (plus `cancelled`, seed 001 §6.1).
 */

/** Status of a run (the root operation run). `running` until it finishes. */
export const RunStatus = {
  /** Started and not finished (or its process died: see the journal's `locks`). */
  running: 'running',
  /** DEC-002: every device upgraded (or already on target) and every gate allowed. */
  completed: 'completed',
  /** DEC-002: a device failed, a device was not ready, the chain halted on a fault (predecessor timeout …), or the run exceeded `timeouts.run` (decision 36: no rollback, not resumable). */
  failed: 'failed',
  /** DEC-002: a gate vetoed; nothing started after the veto. */
  vetoed: 'vetoed',
  /** Seed 001 §6.1: stopped by the operator (SIGINT/SIGTERM, `POST …/cancel`); `chainup resume` continues it. */
  cancelled: 'cancelled',
} as const
export type RunStatus = (typeof RunStatus)[keyof typeof RunStatus]
/** DEC-002 ChainStatus: a status a run finishes with. */
export type ChainStatus = Exclude<RunStatus, 'running'>

/** Status of a device's operation run; the final ones are `ChainExecutionResult.devices[].status`. */
export const DeviceStatus = {
  /** Created with the run; no step has started yet. */
  pending: 'pending',
  /** At least one step has started. */
  running: 'running',
  /** Now runs the target version. */
  upgraded: 'upgraded',
  /** Already ran the target version (its `after` gates still ran). */
  skipped: 'skipped',
  /** A step failed, the device was not ready, or it did not come back from its reload. */
  failed: 'failed',
  /** The run ended before this device's task started. */
  not_started: 'not_started',
  /** The run ended while this device was working (its task was cut short). */
  cancelled: 'cancelled',
  /** Its node ran in another process (`chainup node`): its steps are in that node's result file. Result only. */
  remote: 'remote',
  /** Its compensating actions run (seed 001 §3.4); entered from upgraded, failed or cancelled. */
  rolling_back: 'rolling_back',
  /** Back on the version it ran before the run. */
  rolled_back: 'rolled_back',
  /** A compensating action failed: the rollback stopped here. */
  rollback_failed: 'rollback_failed',
} as const
export type DeviceStatus = (typeof DeviceStatus)[keyof typeof DeviceStatus]
/** A device's settled status in a run's result (anything but pending/running). */
export type DeviceOutcome = Exclude<DeviceStatus, 'pending' | 'running'>

/** Status of a step's operation run; the final ones are DEC-002 StepStatus. */
export const StepStatus = {
  /** Started, not finished; a run that finishes turns it into `cancelled`. */
  running: 'running',
  completed: 'completed',
  failed: 'failed',
  /** Not needed: the device already runs the target version. */
  skipped: 'skipped',
  /** Stopped because the chain halted while it ran, or its process died. */
  cancelled: 'cancelled',
} as const
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus]
/** DEC-002 StepStatus: a status a step finishes with. */
export type FinalStepStatus = Exclude<StepStatus, 'running'>

/** Any operation run's status (run, device or step). */
export type OperationRunStatus = RunStatus | DeviceStatus | StepStatus

/** Statuses after which an operation run never changes again; reaching one sets its `finished_at`. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set<OperationRunStatus>([
  'completed',
  'failed',
  'vetoed',
  'cancelled',
  'upgraded',
  'skipped',
  'not_started',
  'rolled_back',
  'rollback_failed',
])

/**
 * What a device is doing right now, for progress displays (not persisted as a status). Words: chainup *reloads* a
 * device (it sends the command); the device *boots* (it comes back).
 */
export const DevicePhase = {
  /** Connecting, reading facts, running readiness steps and `before` gates. */
  readiness: 'readiness',
  /** Locally ready (draft §6.1): waiting for the START wave. */
  ready: 'ready',
  /** Running its upgrade steps. */
  upgrading: 'upgrading',
  /** The reload was sent: waiting for the device to boot and accept SSH with a new boot time. */
  booting: 'booting',
  /** Back from its boot: checking the version and the steps after the reload. */
  verifying: 'verifying',
  /** Its `after` gates run. */
  gates: 'gates',
  upgraded: 'upgraded',
  skipped: 'skipped',
  failed: 'failed',
  cancelled: 'cancelled',
  rolling_back: 'rolling_back',
  rolled_back: 'rolled_back',
  rollback_failed: 'rollback_failed',
} as const
export type DevicePhase = (typeof DevicePhase)[keyof typeof DevicePhase]

/** What an `on_error` evaluation decided (DEC-002): continue, veto (binding), or halt because no gate exists. */
export const OnErrorDecision = {
  /** Every on_error gate allowed: the chain goes on (the run still ends `failed`, docs/decisions.md #4). */
  allow: 'allow',
  /** An on_error gate vetoed: the run ends `vetoed`. */
  veto: 'veto',
  /** No on_error gate, or the device's reload may still be under way: the chain halts `failed`. */
  halt: 'halt',
} as const
export type OnErrorDecision = (typeof OnErrorDecision)[keyof typeof OnErrorDecision]

/**
 * How a reload fence (docs/runs.md) was cleared: `rebooted` = the device booted after the reload (its boot time
 * changed; the stored name is kept from v0.1), `failed` = waiting for it ended without that proof.
 */
export type FenceOutcome = 'rebooted' | 'failed'
