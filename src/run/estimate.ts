/**
 * How long a device's task will take (docs/plan.md "Estimates"): `chainup plan` prints it per device and in total, and
 * the window gate compares its P95 with the time left in the maintenance window.
 *
 * Sources, first that has samples wins:
 * 1. `history:device`: this device's past tasks in runs of this stack (journal/durations.ts: the span from its first
 *    `upgrade`/`reboot` step to its last `after` gate, devices that ended `upgraded`, the newest {@link HISTORY_LIMIT});
 * 2. `history:platform`: other devices' past tasks with the same playbook file, or the same playbook `platform` when a
 *    run recorded one (any stack, the newest {@link HISTORY_LIMIT});
 * 3. `timeouts`: the longest the task may take before a timeout fails it ({@link timeoutBound}); median = P95 = that
 *    bound, `samples` 0.
 *
 * Median and P95 by the nearest-rank method ({@link nearestRank}): the P-th percentile is the smallest sample such
 * that at least P % of the samples are ≤ it, `sorted[ceil(P/100 · n) − 1]`; always a duration that really happened
 * (the median of an even count is the lower of the two middle values; with fewer than 20 samples P95 is the maximum).
 */
import type {DeviceEntry, Inventory, Playbook} from '../config/types.js'
import {taskDurations, type TaskDurationSample} from '../journal/durations.js'
import type {Journal} from '../journal/journal.js'

/** Where an estimate's figures come from. */
export const EstimateSource = {
  /** This device's own past tasks in this stack. */
  device: 'history:device',
  /** Past tasks of other devices run with the same playbook (same platform). */
  platform: 'history:platform',
  /** No history: the sum of the task's timeouts (an upper bound). */
  timeouts: 'timeouts',
} as const
export type EstimateSource = (typeof EstimateSource)[keyof typeof EstimateSource]

/** A device task's estimated duration. */
export interface DeviceEstimate {
  /** Median of the samples, ms (the timeouts bound when there are none). */
  median_ms: number
  /** 95th percentile of the samples, ms (the timeouts bound when there are none); the figure to plan a window with. */
  p95_ms: number
  source: EstimateSource
  /** How many past tasks the figures rest on; 0 for `timeouts`. */
  samples: number
}

/** At most this many of the newest past tasks feed an estimate (recent runs reflect the devices as they are now). */
export const HISTORY_LIMIT = 50

/**
 * The nearest-rank percentile of `values`: `sorted[ceil(p/100 · n) − 1]` (p = 0 gives the minimum).
 * @param p percentile, 0–100
 * @throws RangeError for an empty list or p outside 0–100
 */
export function nearestRank(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('no values')
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be 0–100, not ${p}`)
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length))
  return sorted[rank - 1] as number
}

/**
 * The longest the device's task may take before one of its timeouts fails it, ms: connect (`timeouts.connect`),
 * facts (`timeouts.command`), each upgrade step (its `timeout`, else `timeouts.command`), plus `timeouts.boot` for
 * the step marked `reload: true`, the facts read after the task (`timeouts.command`), and each `after` gate (its
 * `timeout`, else `timeouts.gate`).
 */
export function timeoutBound(inventory: Inventory, playbook: Playbook): number {
  const t = inventory.timeouts
  let ms = t.connect + t.command
  for (const step of playbook.upgrade) ms += (step.timeout ?? t.command) + (step.reload ? t.boot : 0)
  ms += t.command
  for (const gate of playbook.gates.after) ms += gate.timeout ?? t.gate
  return ms
}

/** The estimate from `samples` (durations in ms) with `source`, or undefined when there are none. */
export function estimateFromSamples(samples: readonly number[], source: Exclude<EstimateSource, 'timeouts'>): DeviceEstimate | undefined {
  if (samples.length === 0) return undefined
  return {median_ms: nearestRank(samples, 50), p95_ms: nearestRank(samples, 95), source, samples: samples.length}
}

/**
 * The device's task estimate: its own history in this stack, else the platform's (same playbook file or platform,
 * other devices, any stack), else the timeouts bound. A journal that is absent, or that cannot be read, counts as no
 * history (the `timeouts` source says so).
 * @param journal the run journal (only its `file` is read, through a read-only connection), or undefined when there is
 *   none (no state directory yet)
 */
export function estimateDevice(journal: Pick<Journal, 'file'> | undefined, inventory: Inventory, playbook: Playbook, device: DeviceEntry): DeviceEstimate {
  const own = pastTasks(journal, {stack: inventory.stack, device: device.name, limit: HISTORY_LIMIT})
  const fromOwn = estimateFromSamples(own.map((s) => s.duration_ms), EstimateSource.device)
  if (fromOwn) return fromOwn
  const platform = pastTasks(journal, {
    playbook: playbook.file,
    ...(playbook.platform === undefined ? {} : {platform: playbook.platform}),
    exclude: {stack: inventory.stack, device: device.name},
    limit: HISTORY_LIMIT,
  })
  const fromPlatform = estimateFromSamples(platform.map((s) => s.duration_ms), EstimateSource.platform)
  if (fromPlatform) return fromPlatform
  const bound = timeoutBound(inventory, playbook)
  return {median_ms: bound, p95_ms: bound, source: EstimateSource.timeouts, samples: 0}
}

function pastTasks(journal: Pick<Journal, 'file'> | undefined, query: Parameters<typeof taskDurations>[1]): TaskDurationSample[] {
  if (journal === undefined) return []
  try {
    return taskDurations(journal.file, query)
  } catch {
    return []
  }
}
