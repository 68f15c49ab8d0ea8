/**
 * What the progress views say about a device, shared by the plain lines (`plain.ts`), the terminal view (`listr.ts`)
 * and the fleet's lines: one clear sentence per device phase (model/status.ts `DevicePhase`) and per ChainSync state
 * (draft §4), with each word said once (issue #13: not `ready: ready, running 17.06.05`).
 */
import type {DevicePhase} from '../model/status.js'
import type {NodeState} from '../protocol/state-machine.js'

/** What a view knows about a device besides the event itself. */
export interface DeviceContext {
  /** The run's target version. */
  target?: string | undefined
  /** The version the device ran when this run first read its facts. */
  versionBefore?: string | undefined
}

/** `detail` without a leading `sw1: ` (a failure's message names its device; the line already does). */
function withoutDevice(device: string, detail: string): string {
  return detail.startsWith(`${device}: `) ? detail.slice(device.length + 2) : detail
}

/**
 * A device's phase as one phrase, starting with the phase in words:
 * `ready (running 17.06.05, target 17.09.05)`, `upgrading: install image`, `upgraded 17.06.05 -> 17.09.05`,
 * `failed: step "verify version" failed: …`.
 */
export function phaseText(device: string, phase: DevicePhase, detail: string, ctx: DeviceContext = {}): string {
  // Say the phase once: a detail that starts with it again (`ready, running X`) loses that start.
  const word = phase.replace('_', ' ')
  const d = withoutDevice(device, detail).replace(new RegExp(`^${word}[,:]\\s*`), '')
  const running = /^running (.+)$/.exec(d)?.[1]
  switch (phase) {
    case 'readiness':
      return `checking readiness: ${d}`
    case 'ready': {
      // readiness.ts says `ready, running X` (or `resumed: …`): "ready" once, and what it will go to.
      if (running === undefined || ctx.target === undefined) return `ready (${d})`
      return running === ctx.target ? `ready (${d}, already the target)` : `ready (${d}, target ${ctx.target})`
    }
    case 'upgrading':
      return `upgrading: ${d}`
    case 'booting':
      return `booting: ${d}`
    case 'verifying':
      return `verifying: ${d}`
    case 'gates':
      return `checking its ${d}`
    case 'upgraded':
      return running !== undefined && ctx.versionBefore !== undefined && ctx.versionBefore !== running ? `upgraded ${ctx.versionBefore} -> ${running}` : `upgraded (${d})`
    case 'skipped':
      // task.ts says `already on X` when it skips the upgrade, then `running X` once its after gates are done.
      return running !== undefined ? `skipped (running ${running}, already the target)` : `skipped: ${d}, no upgrade needed`
    case 'failed':
      return `failed: ${d}`
    case 'cancelled':
      return `cancelled: ${d}`
    case 'rolling_back':
      return d.startsWith('back to ') ? `rolling back to ${d.slice('back to '.length)}` : `rolling back: ${d}`
    case 'rolled_back':
      return `rolled back (${d})`
    case 'rollback_failed':
      return `rollback failed: ${d}`
  }
}

/**
 * A device's ChainSync node state (draft §4 table 1) as a line: the state's name, then what it means for this device
 * in this chain (`devices` in chain order). A device not in `devices` (the chain is not known) gets the state's
 * meaning without a position: no neighbour named, not "the last device".
 */
export function nodeStateText(device: string, state: NodeState, devices: readonly string[]): string {
  const at = devices.indexOf(device)
  const known = at >= 0
  const predecessor = at > 0 ? devices[at - 1] : undefined
  const successor = known && at < devices.length - 1 ? devices[at + 1] : undefined
  switch (state) {
    case 'SYNC':
      return `ChainSync SYNC: waiting until it and the devices before it are ready`
    case 'READY':
      return successor || !known ? `ChainSync READY: this device and all before it are ready` : `ChainSync READY: every device of the chain is ready`
    case 'WATCH':
      return `ChainSync WATCH: waiting for ${predecessor ?? 'its predecessor'} to complete`
    case 'START':
      return `ChainSync START: its turn to upgrade`
    case 'COMPLETE':
      if (!known) return `ChainSync COMPLETE: its turn is over`
      return successor ? `ChainSync COMPLETE: its turn is over; ${successor} goes next` : `ChainSync COMPLETE: its turn is over; it was the last device`
  }
}
