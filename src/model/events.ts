/**
 * The run's event stream. The run, its device agents and workers emit; the progress renderers (`ui/`), the journal
 * recorder (`journal/recorder.ts`) and the trap notifier (`notify/observer.ts`) observe (STYLE.md "observers, not
 * tangles"). Nothing that emits imports an observer.
 */
import {EventEmitter} from 'node:events'

import {withoutSecrets} from '../util/text.js'

import type {NodeState} from '../protocol/state-machine.js'
import type {ChainExecutionResult, GateEvaluation, StepExecution, StepPhase, TrapRecord} from './result.js'
import type {DeviceOutcome, DevicePhase, OnErrorDecision} from './status.js'

export type LogLevel = 'info' | 'warn' | 'error'

/** How far a device's image copy has come (docs/staging.md "Progress"). */
export interface StagingProgress {
  device: string
  /** The image's name on the device. */
  image: string
  /** Bytes sent so far in this attempt. */
  bytes: number
  /** The image's size, bytes. */
  total: number
  /** Average rate of this attempt so far, bytes per second (0 at its start). */
  bytesPerSecond: number
  /** 1-based copy attempt (an interrupted copy is retried from scratch). */
  attempt: number
  /** `copying` while bytes flow; `copied` once every byte was sent (the on-device verify follows); `failed` when the attempt broke off. */
  state: 'copying' | 'copied' | 'failed'
}

export interface RunEventMap {
  runStarted: [{runId: string; stack: string; devices: string[]; target: {version: string; image: string}}]
  /** A device's ChainSync node changed state (draft-dohmeyer-chainsync-03 §4). */
  nodeState: [{device: string; state: NodeState}]
  devicePhase: [{device: string; phase: DevicePhase; detail: string}]
  /** The version a device ran when this run first read its facts (what a rollback goes back to). */
  deviceFacts: [{device: string; versionBefore: string}]
  /** A device came back from its own reload with a new host key, pinned under `host_key_policy: repin-after-reload`. */
  hostKeyRepinned: [{device: string; old: string[]; new: string; knownHosts: string | null}]
  /** A device's outcome in this run is settled (upgraded, skipped, failed, cancelled, not_started or a rollback status). */
  deviceOutcome: [{device: string; outcome: DeviceOutcome; versionBefore: string | null; versionAfter: string | null; onError?: OnErrorDecision}]
  stepStarted: [{device: string; order: number; action: string; phase: StepPhase; command: string | null}]
  stepFinished: [StepExecution]
  gateEvaluated: [GateEvaluation]
  /** A device's image copy progressed (throttled: about 4 per second, plus every 10 % and the end). */
  stagingProgress: [StagingProgress]
  /**
   * `device`'s node waited longer than `timeouts.predecessor` for its immediate predecessor (draft §9 example 1):
   * the chain halts. The trap notifier sends `chainupPredecessorTimeout`.
   */
  predecessorTimeout: [{device: string; predecessor: string; waitedMs: number; reason: string}]
  /**
   * The chain halted at `device` on a fault nothing else reports by trap (a failed device without an on_error
   * allow, a ChainSync link lost past its grace, a failed rollback). The trap notifier sends `chainupChainHalted`.
   * `predecessor` is set when the fault is the link to it.
   */
  chainHalted: [{device: string; reason: string; predecessor?: string}]
  /** A trap was sent (by the notifier), with each receiver's answer. */
  trapSent: [TrapRecord]
  /**
   * `device`'s ChainSync node has its link to `side` up again after it dropped during the round (draft §8 extensions:
   * the lines of the round are sent again). `chainup serve` counts them (`chainup_chainsync_link_reconnects_total`).
   */
  linkReconnected: [{device: string; side: 'predecessor' | 'successor'}]
  log: [{level: LogLevel; device: string | null; message: string}]
  runFinished: [ChainExecutionResult]
}

/**
 * The run's event bus. Once {@link RunEvents.redactSecrets} was called, every string in every event payload has the
 * run's secrets replaced by `[redacted]` before any listener sees it, so no observer (terminal, `--log-file`, SNMP
 * trap reason, `chainup node`'s lines) can print a password a device echoed back (issue #8 §4). The journal redacts
 * on its own as well.
 */
export class RunEvents extends EventEmitter<RunEventMap> {
  private secrets: readonly string[] = []

  /**
   * Adds secret values (those shorter than 4 characters are ignored: the loader refuses them) to redact from every
   * payload emitted from now on.
   */
  redactSecrets(values: readonly string[]): void {
    this.secrets = [...new Set([...this.secrets, ...values.filter((v) => v.length >= 4)])]
  }

  override emit<K extends keyof RunEventMap>(eventName: K, ...args: RunEventMap[K]): boolean
  override emit(eventName: string | symbol, ...args: unknown[]): boolean {
    if (this.secrets.length === 0) return super.emit(eventName as keyof RunEventMap, ...(args as never))
    return super.emit(eventName as keyof RunEventMap, ...(args.map((a) => redactDeep(a, this.secrets)) as never))
  }
}

/** A copy of `value` with secrets removed from every string in it (plain objects and arrays are copied, other objects kept). */
function redactDeep(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === 'string') return withoutSecrets(value, secrets)
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, secrets))
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) return value
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v, secrets)]))
  }
  return value
}
