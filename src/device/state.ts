/** What a device worker knows about its device during a run, shared by readiness, task and rollback. */
import type {DeviceFacts} from './facts.js'
import type {Reload} from './reload.js'
import type {DeviceSteps} from './steps.js'

/**
 * A device's phase re-derived from the journal when a run is resumed (`run/resume.ts`, docs/runs.md "Resume"):
 * - `done`: its outcome is final (upgraded, skipped, or failed with an on_error allow); only checked, never redone;
 * - `booting`: its reload was sent (the fence is open): wait for it to boot, never reload it again;
 * - `reloaded`: it booted after its reload: continue with the steps after the reload;
 * - `fresh`: nothing happened to it yet.
 */
export type DeviceResume =
  | {state: 'done'; outcome: 'upgraded' | 'skipped' | 'failed'}
  | {state: 'booting'; before: DeviceFacts; sentAt: number}
  | {state: 'reloaded'}
  | {state: 'fresh'}

/** The worker's state as readiness, the task and the rollback see it. */
export interface DeviceState {
  readonly steps: DeviceSteps
  readonly reload: Reload
  /** Where a resumed run picks the device up; undefined for a fresh run. */
  readonly resume: DeviceResume | undefined
  /** The version the run first read (from the journal on resume), if known before any facts are read. */
  readonly versionBefore: string | undefined
  /** Facts read during readiness (the version before the upgrade). */
  factsBefore: DeviceFacts | undefined
  /** Facts read after the task or the rollback. */
  factsAfter: DeviceFacts | undefined
}

/** `{{ previous.* }}`: the version before this run, and its image (target.image with target.version replaced). */
export function learnPrevious(state: DeviceState, read: string): void {
  const {steps} = state
  if (steps.vars.previous) return
  const version = state.versionBefore ?? read
  if (state.versionBefore === undefined) steps.ctx.report.factsRead(version)
  const {target} = steps.ctx.inventory
  steps.vars.previous = {version, image: target.image.includes(target.version) ? target.image.replace(target.version, version) : target.image}
}
