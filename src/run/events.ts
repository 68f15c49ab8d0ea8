/**
 * The run's event stream. The engine emits; the UI renderers, the result builder and the notifier observe
 * (STYLE.md "observers, not tangles"). The engine imports none of its observers.
 */
import {EventEmitter} from 'node:events'

import type {NodeState} from '../protocol/state-machine.js'
import type {ChainExecutionResult, GateEvaluation, StepExecution} from './result.js'

/** What a device is doing right now, for progress displays. */
export const DevicePhase = {
  readiness: 'readiness',
  ready: 'ready',
  upgrading: 'upgrading',
  rebooting: 'rebooting',
  verifying: 'verifying',
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

export interface RunEventMap {
  runStarted: [{runId: string; stack: string; devices: string[]; target: {version: string; image: string}}]
  /** A device's ChainSync node changed state (draft §4). */
  nodeState: [{device: string; state: NodeState}]
  devicePhase: [{device: string; phase: DevicePhase; detail: string}]
  /** The version a device ran when this run first read its facts (what a rollback goes back to). */
  deviceFacts: [{device: string; versionBefore: string}]
  /** A device's outcome in this run is settled (it is final: upgraded, skipped, failed or cancelled). */
  deviceOutcome: [{device: string; outcome: ChainExecutionResult['devices'][number]['status']; versionBefore: string | null; versionAfter: string | null; onError?: 'allow' | 'veto' | 'halt'}]
  stepStarted: [{device: string; order: number; action: string; phase: StepExecution['phase']; command: string | null}]
  stepFinished: [StepExecution]
  gateEvaluated: [GateEvaluation]
  trapSent: [ChainExecutionResult['traps'][number]]
  log: [{level: 'info' | 'warn' | 'error'; device: string | null; message: string}]
  runFinished: [ChainExecutionResult]
}

export class RunEvents extends EventEmitter<RunEventMap> {}
