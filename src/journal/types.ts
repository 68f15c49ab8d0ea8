/**
 * The journal's vocabulary: operation-run kinds and statuses (seed 001 §2.1, §3.1), and the shapes its API
 * takes and returns. The same status names appear in the database, in `chainup show` and in `chainup history`.
 */
import type {GateEvaluation, StepPhase} from '../model/result.js'
import type {DeviceStatus, FenceOutcome, FinalStepStatus, OperationRunStatus, RunStatus} from '../model/status.js'
export type {FenceOutcome} from '../model/status.js'
import type {Side} from '../protocol/state-machine.js'

/** What an operation run is: the stack run (root), one child per device, one grandchild per playbook step. */
export const OperationKind = {
  /** The root: one upgrade of one stack (later: a fleet). */
  run: 'run',
  /** One device's part of the run; child of the run. */
  device: 'device',
  /** One playbook step on one device; child of that device's run. */
  step: 'step',
} as const
export type OperationKind = (typeof OperationKind)[keyof typeof OperationKind]

/** JSON value as stored in `data` / `detail` columns. */
export type Json = null | boolean | number | string | Json[] | {[key: string]: Json}

/** Input of {@link Journal.createRun}. */
export interface CreateRunInput {
  /** The run's UUID (also the ChainSync ROUND-ID); becomes the root operation run's id. */
  id: string
  /** Stack name (`chain_id` in the result). */
  stack: string
  /** Device names in chain order; one `device` operation run each. Must be unique. */
  devices: string[]
  /** What the run upgrades to; stored in the root's `detail.target`. */
  target: {version: string; image?: string}
}

/** Input of {@link Journal.startStep}. */
export interface StartStepInput {
  /** The playbook step's name (`action` in the result). */
  name: string
  phase: StepPhase
  /** The command line sent, or null. Must not contain a secret. */
  command: string | null
}

/** Input of {@link Journal.finishStep}. */
export interface FinishStepInput {
  status: FinalStepStatus
  /** What the device printed (the caller caps it), or null. */
  output: string | null
  error: string | null
  /**
   * Extra facts, merged into the step's `detail`; `version_before` / `version_after` here feed
   * `devices[].version_*` when the device run's own detail has none.
   */
  detail?: {[key: string]: Json}
}

/** A gate decision as recorded; `device` null for stack-wide gates. */
export type GateInput = GateEvaluation

/** Input of {@link Journal.appendEvent}. */
export interface EventInput {
  /** Free-form type, e.g. `nodeState`, `command`, `trap`. Types starting with `journal.` are reserved. */
  type: string
  /** Device concerned, if any; events with a device are attached to that device's run. */
  device?: string | null
  /** Any JSON; passed through {@link redact} before it is stored and hashed. */
  data: unknown
}

/** The fields of an `events` row that its hash covers (all but `prev_hash` and `hash`). */
export interface HashedEventContent {
  seq: number
  run_id: string
  operation_run_id: string | null
  /** ISO 8601 UTC. */
  at: string
  type: string
  device: string | null
  data: Json
}

/** One row of `events`, as read back. */
export interface EventRow extends HashedEventContent {
  /** 64 lowercase hex digits. */
  prev_hash: string
  hash: string
}

/** A ChainSync line waiting in (or sent from) the outbox. */
export interface OutboxMessage {
  /** Monotonic across the journal; send in this order. */
  id: number
  run_id: string
  /** The device whose ChainSync node sends the line. */
  device: string
  /** Which neighbour receives it. */
  side: Side
  /** The protocol line, without its newline. */
  line: string
  /** ISO 8601 UTC. */
  created_at: string
}

/** Input of {@link Journal.recordReloadIntent}. */
export interface ReloadIntentInput {
  runId: string
  device: string
  /** The device's boot time before the reload, ISO 8601 (from its facts), or null if unknown. */
  restartedAtBefore: string | null
  /** The device's uptime before the reload, in seconds, or null if unknown. */
  uptimeBefore: number | null
  targetVersion: string
}

/** An open (not yet cleared) reload fence: a reload was about to be sent and may have been. */
export interface ReloadFence {
  id: number
  runId: string
  device: string
  /** When the intent was committed (just before the reload command was sent), ISO 8601. */
  sentAt: string
  restartedAtBefore: string | null
  /** Seconds. */
  uptimeBefore: number | null
  targetVersion: string
}

/** Input of {@link Journal.history}. */
export interface HistoryQuery {
  /** Only runs of this stack. */
  stack?: string
  /** Only runs with this status. */
  status?: RunStatus
  /** Runs per page, 1–1000. @default 20 */
  limit?: number
  /** 1-based page. @default 1 */
  page?: number
}

/** One line of {@link Journal.history}. */
export interface HistoryEntry {
  execution_id: string
  chain_id: string
  status: RunStatus
  /** ISO 8601. */
  started_at: string
  /** ISO 8601, or null while running. */
  completed_at: string | null
  /** ms, or null while running. */
  duration_ms: number | null
  /** In chain order. */
  devices: Array<{name: string; status: DeviceStatus}>
}

/** {@link Journal.history}'s answer. */
export interface HistoryPage {
  /** Newest first. */
  runs: HistoryEntry[]
  /** Runs matching the filter, across all pages. */
  total: number
  page: number
  /** `ceil(total / limit)`; 0 when nothing matches. */
  pages: number
}

/**
 * One node of {@link Journal.tree}: the run, a device's run or a step. `chainup show RUN_ID --tree --json` prints
 * the root node.
 */
export interface TreeNode {
  id: string
  /** `fleet` only for the root of a fleet's tree (its children are the stack runs, docs/fleets.md). */
  kind: OperationKind | 'fleet'
  name: string
  device: string | null
  status: OperationRunStatus
  /** ISO 8601 UTC; null for a device that never started (a device starts with its first step). */
  started_at: string | null
  /** ISO 8601 UTC; null until the node reaches a final status (and again while a device rolls back). */
  finished_at: string | null
  /**
   * The node's own duration in ms; null unless both `started_at` and `finished_at` are set. A run's and a step's is
   * `finished_at − started_at`. A device's is the time it was worked on: the sum of its steps' durations and of its
   * gates' evaluation times (a gate's from the end of the device's step or gate just before it to its decision),
   * without the time it waited for its turn in the chain or for the backward wave of a rollback (its readiness runs
   * at the start of the run, so its `finished_at − started_at` is nearly the time since the run started).
   */
  duration_ms: number | null
  /**
   * The `events` seq of the node's start: the run's `journal.run_created`, a step's `journal.step_started`, a
   * device's first step's `journal.step_started` (null before it has one). Orders a node's children among its gates.
   */
  seq: number | null
  /** Gates recorded against this node, in evaluation order: stack-wide gates on the root, device gates on the device. */
  gates: TreeGate[]
  /** In order: devices in chain order, steps in start order. {@link treeTimeline} interleaves them with the gates. */
  children: TreeNode[]
}

/** A gate in {@link TreeNode.gates}: the DEC-002 `GateEvaluation` and when it was decided. */
export interface TreeGate extends GateEvaluation {
  /** ISO 8601 UTC: when the decision was recorded. */
  at: string
  /** The `events` seq of its `journal.gate` event. */
  seq: number
}

/** One entry of {@link treeTimeline}: a gate or a child node. */
export type TreeItem = {kind: 'gate'; gate: TreeGate} | {kind: 'node'; node: TreeNode}

/** {@link Journal.verify}'s answer. */
export type VerifyResult =
  | {
      ok: true
      /** Events checked (of the run, or of the whole journal). */
      events: number
      /** The hash of the last event checked: quote it in the change record to anchor the chain. */
      head: string
    }
  | {
      ok: false
      /** The first event whose hash or link is wrong, or the event a tampered table row contradicts; null if none applies. */
      firstBadSeq: number | null
      /** The table holding the first bad row. */
      table: 'events' | 'operation_runs' | 'gate_evaluations'
      /** One line naming the row and what is wrong with it. */
      reason: string
    }

/** {@link Journal.acquireLock}'s answer. */
export type LockResult =
  | {
      ok: true
      /** Set when a lock left by a dead process was taken over: who held it. */
      tookOverFrom?: LockHolder
      /** One line for the log when a lock was taken over. */
      note?: string
    }
  | {ok: false; heldBy: LockHolder}

/** Who holds a stack's lock, and what can be done about it. */
export interface LockHolder {
  runId: string
  pid: number
  hostname: string
  /** ISO 8601. */
  acquiredAt: string
  /**
   * Whether the holder still runs, as far as this host can tell: `running` (a process on this host that is still
   * the one that took the lock), `gone` (on this host, no longer running: a new run takes the lock over), `unknown`
   * (taken on another host, or on this host under another name, e.g. before a container restart: its process
   * cannot be checked from here; only `chainup unlock STACK --force` frees it).
   */
  liveness: HolderLiveness
  /** What `chainup resume <runId>` would do with the holder's run, as far as the journal tells. */
  resume: RunResumability
  /** The state directory of the journal the lock is in, for the commands a message names. */
  stateDir: string
}

/** See {@link LockHolder.liveness}. */
export type HolderLiveness = 'running' | 'gone' | 'unknown'

/** Whether `chainup resume` would continue a run (once its process is gone), and if not, why not. */
export type RunResumability = {resumable: true} | {resumable: false; reason: string}

/** Who released a lock with `chainup unlock` (recorded in the `stackUnlocked` event). */
export interface Unlocker {
  /** The login name (or `uid N` where there is none). */
  user: string
  uid: number | null
  pid: number
  hostname: string
}

/** {@link Journal.unlock}'s answer. */
export type UnlockResult =
  /** The stack was not locked. */
  | {released: false; holder: null}
  /** Refused: the holder may still run (`liveness` `running` or `unknown`) and `force` was not given. */
  | {released: false; holder: LockHolder}
  /**
   * Released. `journaled` is false only when the holder's run is not in this journal (its process died between
   * taking the lock and recording the run), so there was no run to attach the `stackUnlocked` event to.
   */
  | {released: true; holder: LockHolder; by: Unlocker; journaled: boolean}
