/**
 * The `on_error` decision (DEC-002 "Gates"): when a device's task fails, its on_error gates decide whether the chain
 * goes on. All allow → continue (the run still ends `failed`, docs/decisions.md #4); any veto → halt `vetoed`;
 * no gate → halt `failed` (docs/decisions.md #5). A device whose reload may still be under way (its fence is open)
 * never lets the next device reload: allow becomes halt.
 */
import type {Gate} from '../config/types.js'
import type {GateEvaluation} from '../model/result.js'
import type {LogLevel} from '../model/events.js'
import type {OnErrorDecision} from '../model/status.js'
import {printable} from '../util/text.js'

/** What the decision needs of a device worker. */
export interface OnErrorJudge {
  /** Evaluates the gates in order and returns the first veto (never throws). */
  firstVeto(type: 'on_error', gates: readonly Gate[], extraEnv: Record<string, string>): Promise<GateEvaluation | undefined>
  /** A reload was sent and the device has not been seen back. */
  readonly fenceOpen: boolean
}

/**
 * @param failure the task's error; its message reaches command gates as `CHAINUP_ERROR`, with control characters
 *   escaped (it may quote what the device printed) and the run's secrets redacted by the device worker
 */
export async function decideOnError(device: OnErrorJudge, gates: readonly Gate[], failure: Error, log: (level: LogLevel, message: string) => void): Promise<OnErrorDecision> {
  if (gates.length === 0) return 'halt'
  if (await device.firstVeto('on_error', gates, {CHAINUP_ERROR: printable(failure.message)})) return 'veto'
  if (device.fenceOpen) {
    log('error', 'on_error gates allow continuing, but its reload may still be under way: halting instead')
    return 'halt'
  }
  return 'allow'
}
