/** What a device task throws, split by what the run does about it. */
import {ChainupError, ExitCode} from '../errors.js'
import type {GateEvaluation} from '../model/result.js'

/** A device step failed; the chain's on_error gates decide what happens next. */
export class DeviceTaskError extends ChainupError {
  constructor(readonly device: string, message: string, cause?: unknown) {
    super(`${device}: ${message.startsWith(`${device}: `) ? message.slice(device.length + 2) : message}`, {code: 'DEVICE_TASK_FAILED', cause})
  }
}

/** A gate vetoed: binding, the chain halts (DEC-002). Exit code 3. */
export class GateVetoError extends ChainupError {
  constructor(readonly evaluation: GateEvaluation) {
    super(`${evaluation.type} gate "${evaluation.name}"${evaluation.device ? ` on ${evaluation.device}` : ''} vetoed: ${evaluation.reason}`, {code: 'GATE_VETO', exitCode: ExitCode.vetoed})
  }
}

/** The run was halted elsewhere while this device was busy. */
export class HaltedError extends ChainupError {
  constructor(reason: string) {
    super(`halted: ${reason}`, {code: 'HALTED'})
  }
}
