/**
 * The narrow port through which a device worker reports what it does. The run adapts it to its event bus
 * (`run/device-report.ts`); the worker never sees the bus, the journal or the notifier.
 */
import type {LogLevel} from '../model/events.js'
import type {GateEvaluation, StepExecution, StepPhase} from '../model/result.js'
import type {DevicePhase} from '../model/status.js'

export interface DeviceReport {
  /** Hands out the run-wide 1-based step order (DEC-002 StepExecution.order). */
  nextOrder(): number
  stepStarted(step: {order: number; action: string; phase: StepPhase; command: string | null}): void
  stepFinished(step: Omit<StepExecution, 'device'>): void
  gateEvaluated(evaluation: GateEvaluation): void
  phase(phase: DevicePhase, detail: string): void
  /** The version the device ran when this run first read its facts. */
  factsRead(versionBefore: string): void
  log(level: LogLevel, message: string): void
  /** The device came back from its reload with a new host key and `host_key_policy: repin-after-reload` pinned it. */
  hostKeyRepinned(change: HostKeyChange): void
}

/** A host key re-pinned after a device's own reload. */
export interface HostKeyChange {
  /** The fingerprints (`SHA256:…`) that were expected before. */
  old: string[]
  /** The fingerprint now pinned. */
  new: string
  /** The known_hosts file rewritten, or null when the key came from the inventory's `host_key` (update it there). */
  knownHosts: string | null
}
