/**
 * The built-in `window` gate (docs/operations.md "Parking"): when a device's node enters START and its task is about
 * to begin, the time left in the maintenance window must cover the device's estimated task duration (P95 from the
 * journal's history, else the timeouts: `run/estimate.ts`). If it does not, the gate vetoes: the chain halts cleanly
 * before the device is touched, the run ends `vetoed` ("parked"), and the next `chainup upgrade` of the stack inside
 * a window continues it (`cli/upgrade.ts`). Recorded like any gate: a `before` gate named `window` of the device.
 */
import type {DeviceEntry, Inventory, Playbook} from '../config/types.js'
import type {Journal} from '../journal/journal.js'
import type {RunEvents} from '../model/events.js'
import type {GateEvaluation} from '../model/result.js'
import {describeWindow, formatInZone, formatSpan, windowState} from '../window/window.js'
import {EstimateSource, estimateDevice} from './estimate.js'

/** The built-in gate's name in the result and the journal. */
export const WINDOW_GATE = 'window'

/** Journal event types of the window (docs/operations.md "Journal"). */
export const WindowEvent = {
  /** `--ignore-window`: the run started (or went on) outside the window or without the window gate. data: `{inside, next_opens_at}`. */
  ignored: 'windowIgnored',
  /** The window gate vetoed a device: the run parks. data: `{remaining_ms, estimate_ms, estimate_source, closes_at, next_opens_at}`. */
  parked: 'windowParked',
} as const

/** A device task's estimate as the window gate uses it. */
export interface TaskEstimate {
  /** The figure compared with the time left, ms (the P95). */
  ms: number
  /** Where it comes from, for the reason, e.g. "P95 of 6 past runs". */
  basis: string
  /** `run/estimate.ts`'s source name. */
  source: string
}

/**
 * The device's estimate for the window gate: `estimateDevice`'s P95 and where it comes from.
 * A journal that cannot be read counts as no history (estimate.ts).
 */
export function estimateTask(journal: Journal | undefined, inventory: Inventory, playbook: Playbook, device: DeviceEntry): TaskEstimate {
  const e = estimateDevice(journal, inventory, playbook, device)
  const runs = (n: number) => `${n} past run${n === 1 ? '' : 's'}`
  const basis =
    e.source === EstimateSource.device
      ? `P95 of ${runs(e.samples)}`
      : e.source === EstimateSource.platform
        ? `P95 of ${runs(e.samples)} of other devices with this playbook`
        : 'no past runs: the sum of its timeouts'
  return {ms: e.p95_ms, basis, source: e.source}
}

export interface WindowGateOptions {
  window: NonNullable<Inventory['window']>
  /** The run's "now" (injected in tests). */
  now: () => Date
  estimate: (device: DeviceEntry) => TaskEstimate
  /** Called on a veto with what the journal records (`windowParked`). */
  onPark?: (device: string, data: {remaining_ms: number; estimate_ms: number; estimate_source: string; closes_at: string | null; next_opens_at: string}) => void
}

/**
 * Builds the gate: evaluates one device (calls `now()` once). Allow when the time left in the window is at least the
 * device's estimate; veto otherwise, the reason naming the time left, the close (local time with offset), the
 * device and its estimate, e.g. `12m left in the maintenance window (closes 2026-11-28T05:00:00+01:00), sw3 needs an
 * estimated 25m (P95 of 6 past runs)`. Never throws for a time outside the window (that is a veto).
 */
export function windowGate(opts: WindowGateOptions): (device: DeviceEntry) => GateEvaluation {
  const {window} = opts
  return (device) => {
    const now = opts.now()
    const state = windowState(window, now)
    const left = state.closes_at ? state.closes_at.getTime() - now.getTime() : 0
    const estimate = opts.estimate(device)
    const needs = `${device.name} needs an estimated ${formatSpan(estimate.ms)} (${estimate.basis})`
    if (state.closes_at && left >= estimate.ms) {
      return {type: 'before', name: WINDOW_GATE, device: device.name, decision: 'allow', reason: `${formatSpan(left)} left in the maintenance window (closes ${formatInZone(state.closes_at, window.timezone)}), ${needs}`}
    }
    opts.onPark?.(device.name, {
      remaining_ms: left,
      estimate_ms: estimate.ms,
      estimate_source: estimate.source,
      closes_at: state.closes_at?.toISOString() ?? null,
      next_opens_at: state.next_opens_at.toISOString(),
    })
    const reason = state.closes_at
      ? `${formatSpan(left)} left in the maintenance window (closes ${formatInZone(state.closes_at, window.timezone)}), ${needs}`
      : `outside the maintenance window (next opens ${formatInZone(state.next_opens_at, window.timezone)}), ${needs}`
    return {type: 'before', name: WINDOW_GATE, device: device.name, decision: 'veto', reason}
  }
}

/**
 * The run's window gate, or undefined when the inventory has no window or `ignore` is set (`--ignore-window`, which
 * is journaled as `windowIgnored` and logged). A veto is journaled as `windowParked` and logged with what continues
 * the run.
 */
export function runWindowGate(run: {
  inventory: Inventory
  playbook: Playbook
  journal: Journal
  runId: string
  events: RunEvents
  now?: (() => Date) | undefined
  ignore?: boolean | undefined
}): ((device: DeviceEntry) => GateEvaluation) | undefined {
  const {inventory, journal, runId, events} = run
  const window = inventory.window
  if (!window) return undefined
  const now = run.now ?? (() => new Date())
  if (run.ignore) {
    const state = windowState(window, now())
    journal.appendEvent(runId, {type: WindowEvent.ignored, data: {inside: state.inside, next_opens_at: state.next_opens_at.toISOString()}})
    events.emit('log', {level: 'warn', device: null, message: `--ignore-window: the maintenance window ${describeWindow(window)} is not enforced for this run (${state.inside ? 'inside it now' : 'outside it now'})`})
    return undefined
  }
  return windowGate({
    window,
    now,
    estimate: (device) => estimateTask(journal, inventory, run.playbook, device),
    onPark: (device, data) => {
      journal.appendEvent(runId, {type: WindowEvent.parked, device, data})
      events.emit('log', {
        level: 'warn',
        device,
        message: `parked: not enough of the maintenance window left to start ${device}; the next chainup upgrade of stack ${inventory.stack} inside a window (next opens ${formatInZone(new Date(data.next_opens_at), window.timezone)}) continues run ${runId}`,
      })
    },
  })
}
