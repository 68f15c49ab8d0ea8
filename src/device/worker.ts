/**
 * One device's work in a run, over SSH: readiness (draft-dohmeyer-chainsync-03 §6.1), the task when its node enters
 * START (§6.3), the `on_error` gates' evaluation, and its compensating actions. It reports only through its
 * {@link DeviceReport} port. The pieces: `steps.ts` (session, steps, gates), `readiness.ts`, `task.ts`,
 * `reload.ts` (reload and boot), `rollback.ts`, `checks.ts` (output checks).
 */
import type {Gate} from '../config/types.js'
import type {GateEvaluation} from '../model/result.js'
import {systemClock, type Clock} from '../util/clock.js'
import type {DeviceFacts} from './facts.js'
import {checkReadiness} from './readiness.js'
import {Reload, type ReloadFence} from './reload.js'
import {compensate} from './rollback.js'
import type {DeviceResume, DeviceState} from './state.js'
import {DeviceSteps, type DeviceContext} from './steps.js'
import {runUpgrade} from './task.js'

export {DeviceTaskError, GateVetoError, HaltedError} from './errors.js'
export type {DeviceResume} from './state.js'

export interface WorkerOptions extends Omit<DeviceContext, 'clock'> {
  /** @default systemClock */
  clock?: Clock
  /** The reload fence (docs/runs.md): committed before a reload is sent, cleared once the device is back. */
  fence?: ReloadFence
  /** Where a resumed run picks this device up (from the journal); absent for a fresh run. */
  resume?: DeviceResume
  /** The version the device ran when the run first read its facts (a resumed run knows it from the journal). */
  versionBefore?: string
  /** Upgrade steps started before a restart (from the journal): a rollback compensates them too. */
  startedBefore?: readonly string[]
}

/** Readiness, task and rollback of one device. */
export class DeviceWorker implements DeviceState {
  readonly steps: DeviceSteps
  readonly reload: Reload
  readonly resume: DeviceResume | undefined
  readonly versionBefore: string | undefined
  factsBefore: DeviceFacts | undefined
  factsAfter: DeviceFacts | undefined

  constructor(opts: WorkerOptions) {
    this.steps = new DeviceSteps({...opts, clock: opts.clock ?? systemClock})
    this.reload = new Reload(this.steps, opts.fence)
    this.resume = opts.resume
    this.versionBefore = opts.versionBefore
    for (const name of opts.startedBefore ?? []) this.steps.started.add(name)
    // A device finished before a resume is only checked: those checks are not steps of its (final) run.
    this.steps.quiet = opts.resume?.state === 'done'
    // A halt closes the session, so a command in flight returns at once instead of at its timeout.
    opts.signal.addEventListener('abort', () => this.closeSession(), {once: true})
  }

  /** A reload was sent and the device has not been seen back yet (its fence is open). */
  get fenceOpen(): boolean {
    return this.reload.fenceOpen
  }

  /** Readiness; read-only. @throws DeviceTaskError, GateVetoError, HaltedError */
  prepare(): Promise<void> {
    return checkReadiness(this)
  }

  /** The task. @returns upgraded or skipped @throws DeviceTaskError, GateVetoError, HaltedError */
  upgrade(): Promise<'upgraded' | 'skipped'> {
    return runUpgrade(this)
  }

  /** Compensating actions back to the version before the run, under `signal`. @throws DeviceTaskError */
  rollback(signal: AbortSignal): Promise<void> {
    return compensate(this, signal)
  }

  /**
   * Evaluates gates in order, connecting first when one is a device_command gate (a failed connect is logged and
   * that gate then vetoes for lack of a session), and stops at the first veto. Never throws.
   * @param extraEnv extra environment for command gates (e.g. `CHAINUP_ERROR`)
   * @returns the vetoing evaluation, or undefined when all allowed
   */
  async firstVeto(type: 'on_error', gates: readonly Gate[], extraEnv: Record<string, string>): Promise<GateEvaluation | undefined> {
    try {
      if (gates.some((g) => g.kind === 'device_command')) {
        await this.steps.connect('upgrade').catch((error: Error) => this.steps.log('warn', `${type} gates: cannot connect: ${error.message}`))
      }
      for (const gate of gates) {
        const evaluation = await this.steps.evaluate(type, gate, extraEnv)
        if (evaluation.decision === 'veto') return evaluation
      }
      return undefined
    } finally {
      this.closeSession()
    }
  }

  /** Closes the SSH session if one is open. */
  closeSession(): void {
    this.steps.closeSession()
  }
}
