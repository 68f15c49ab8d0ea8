/**
 * The plan `chainup plan` prints (docs/plan.md): its `--json` shape, stable. Fields beyond issue #9's list
 * (`phase`, `timeout_ms`, `unresolved` of a step; `estimate` of a device; `timeouts`, `estimate_sources`, `checked`
 * of the plan; `readiness` of a check) are additions; none of the listed ones changes meaning.
 */
import type {EstimateSource} from '../run/estimate.js'

/** What a device's task will do: `upgrade`, `skip` (already on target), `unknown` (its version was not read: offline, or unreachable). */
export type PlanAction = 'upgrade' | 'skip' | 'unknown'

/** When a command is sent (docs/plan.md "Steps"). */
export type PlanPhase =
  /** Readiness, before the chain starts: facts, readiness steps, rollback readiness (read-only by definition). */
  | 'readiness'
  /** The device's task, when its turn comes: facts, the upgrade steps (one reloads), the facts after. */
  | 'upgrade'
  /** A `device_command` gate of the device (`before`: during readiness; `after`: after its task; `on_error`: when its task fails). */
  | 'gate'
  /** A compensating action: sent only when the run rolls back (`on_failure: rollback`). */
  | 'rollback'

/** One command a device will receive, in order. */
export interface PlanStep {
  /** The step's (or gate's) name; `facts` for the playbook's facts command. */
  name: string
  /** The exact command line, placeholders filled in; `{{ previous.* }}` stays as written when the version is unknown. */
  command: string
  /** This command makes the device reload (chainup then waits for the boot, `timeouts.boot`). */
  reload: boolean
  phase: PlanPhase
  /** The command's timeout, ms (the step's, else `timeouts.command`; a gate's, else `timeouts.gate`). */
  timeout_ms: number
  /** Placeholders left in `command` because their value is known only from the device (`previous.version`, `previous.image`). */
  unresolved: string[]
}

/** A readiness command `--check` ran, and what came of it. */
export interface CheckedStep {
  name: string
  command: string
  /** The output passed the step's checks (`expect`, `reject`, error patterns, exit status 0). */
  ok: boolean
  /** Why not, or null. */
  problem: string | null
}

/** What `--check` found on one device (read-only: facts and readiness commands only). */
export interface DeviceCheck {
  /** Its SSH server answered (a refused host key or login still counts as reachable). */
  reachable: boolean
  /** `ok`: the key is the expected one; `mismatch`: another key (changed or revoked); `unknown`: no key to compare with (not in known_hosts); null: never got that far. */
  host_key: 'ok' | 'mismatch' | 'unknown' | null
  /** The running version from its facts, or null. */
  version: string | null
  /** true: it will be upgraded; false: skipped (already on target); null: version unknown. */
  needs_upgrade: boolean | null
  /** Whether the readiness steps that look for `{{ target.image }}` passed; null when there is none or they did not run. */
  image_present: boolean | null
  /** Free bytes on flash as the readiness output says (`N bytes free`, IOS/NX-OS `dir`), or null. */
  free_bytes: number | null
  /** With `on_failure: rollback`: whether the rollback readiness steps passed; null otherwise (or when they did not run). */
  rollback_ready: boolean | null
  /** The first problem (connect, host key, facts, a readiness step), or null when the device is ready. */
  error: string | null
  /** Every readiness command that ran, in order (facts included). */
  readiness: CheckedStep[]
}

/** One device of the plan, in chain order. */
export interface PlanDevice {
  name: string
  host: string
  /** 1 = Head (upgraded first). */
  order: number
  action: PlanAction
  steps: PlanStep[]
  /** The device's task estimate used for planning: its P95, ms (0 for a device `--check` found on target). */
  estimated_ms: number
  /** Where the estimate comes from; `skip` for a device `--check` found on target. */
  estimate_source: EstimateSource | 'skip'
  /** The estimate's figures (ms) and how many past tasks they rest on. */
  estimate: {median_ms: number; p95_ms: number; samples: number}
  /** Present with `--check`. */
  check?: DeviceCheck
}

/** A gate as the plan lists it (playbook text, placeholders as written: they are filled in per device when it runs). */
export interface PlanGate {
  name: string
  kind: 'command' | 'device_command' | 'http'
  /** `http` gates: the method and URL called (placeholders as written). */
  http?: string
  /** `before` gates only: once for the stack, or per device during readiness. */
  scope?: 'stack' | 'device'
  /** The local command (`command` gates). */
  run?: string
  /** The device command (`device_command` gates) and the pattern its output must match / must not match. */
  device_command?: string
  expect?: string
  reject?: string
  /** ms: the gate's timeout, else `timeouts.gate`. */
  timeout_ms: number
}

/** The maintenance window and where now stands in it; null in the plan when the inventory has none. */
export interface PlanWindow {
  cron: string
  /** ms. */
  duration_ms: number
  timezone: string
  inside: boolean
  /** ISO 8601 UTC, or null when outside. */
  opened_at: string | null
  closes_at: string | null
  next_opens_at: string
  /** ms left in the current window (0 when outside). */
  remaining_ms: number
}

/** `chainup plan`'s result. */
export interface Plan {
  stack: string
  target: {version: string; image: string}
  window: PlanWindow | null
  /** The total estimate fits the window (≤ the time left when inside, ≤ its duration when outside); null without a window. */
  fits_window: boolean | null
  /** Sum of the devices' `estimated_ms` (their P95s): devices are upgraded one after another. */
  estimated_ms: number
  /** How many devices' estimates came from each source. */
  estimate_sources: Partial<Record<EstimateSource | 'skip', number>>
  /** The inventory's timeouts, ms (`run` only when set). */
  timeouts: {command: number; boot: number; predecessor: number; gate: number; connect: number; run?: number}
  on_failure: 'halt' | 'rollback'
  /** Whether `--check` ran (devices then carry `check`). */
  checked: boolean
  devices: PlanDevice[]
  gates: {before: PlanGate[]; after: PlanGate[]; on_error: PlanGate[]; final: PlanGate[]}
}
