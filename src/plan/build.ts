/**
 * The offline plan (docs/plan.md): from a loaded inventory and playbook, and the journal's history for the estimates,
 * without touching any device. `--check` adds what the devices say (plan/check.ts) through {@link applyChecks}.
 */
import {expandTemplate, type TemplateVars} from '../config/template.js'
import type {DeviceEntry, Gate, Inventory, Playbook, PlaybookStep} from '../config/types.js'
import type {Journal} from '../journal/journal.js'
import {estimateDevice, type DeviceEstimate} from '../run/estimate.js'
import {formatInZone, windowState} from '../window/window.js'
import type {DeviceCheck, Plan, PlanDevice, PlanGate, PlanStep, PlanWindow} from './types.js'

/** What {@link buildPlan} needs besides the inventory and playbook. */
export interface BuildPlanOptions {
  /** The journal to take past durations from (only its `file` is read); undefined: no history. */
  journal?: Pick<Journal, 'file'>
  /** "Now", for the window. @default new Date() */
  now?: Date
  /** Each device's running version when known (from `--check`): fills in `{{ previous.* }}`. */
  versions?: ReadonlyMap<string, string>
}

/** The placeholder text left in a command when its value is known only from the device. */
const PLACEHOLDER = /\{\{([^{}]*)\}\}/g

/**
 * The plan: devices in chain order with every command they will receive (placeholders filled in; `{{ previous.* }}`
 * left as written, and listed in `unresolved`, unless `versions` knows the device's version), the gates, the
 * timeouts, the estimates and the window. Action `unknown` for every device (its version is read only by `--check`).
 */
export function buildPlan(inventory: Inventory, playbook: Playbook, opts: BuildPlanOptions = {}): Plan {
  const devices = inventory.devices.map((device, i): PlanDevice => {
    const estimate = estimateDevice(opts.journal, inventory, playbook, device)
    return {
      name: device.name,
      host: device.host,
      order: i + 1,
      action: 'unknown',
      steps: deviceSteps(inventory, playbook, device, opts.versions?.get(device.name)),
      ...estimateFields(estimate),
    }
  })
  const t = inventory.timeouts
  const gate = (g: Gate & {scope?: 'stack' | 'device'}): PlanGate => ({
    name: g.name,
    kind: g.kind,
    ...(g.scope === undefined ? {} : {scope: g.scope}),
    ...(g.kind === 'command' ? {run: g.run} : g.kind === 'http' ? {http: `${g.http.method} ${g.http.url}`} : {device_command: g.device_command, expect: g.expect, ...(g.reject === undefined ? {} : {reject: g.reject})}),
    timeout_ms: g.timeout ?? t.gate,
  })
  return totals(
    {
      stack: inventory.stack,
      target: {...inventory.target},
      window: null,
      fits_window: null,
      estimated_ms: 0,
      estimate_sources: {},
      timeouts: {command: t.command, boot: t.boot, predecessor: t.predecessor, gate: t.gate, connect: t.connect, ...(t.run === undefined ? {} : {run: t.run})},
      on_failure: inventory.on_failure,
      checked: false,
      devices,
      gates: {before: playbook.gates.before.map(gate), after: playbook.gates.after.map(gate), on_error: playbook.gates.on_error.map(gate), final: playbook.gates.final.map(gate)},
    },
    inventory,
    opts.now ?? new Date(),
  )
}

/**
 * The plan with `--check`'s findings: each device's `check`, its action (`upgrade` / `skip` from the version read,
 * `unknown` when none was read), `{{ previous.* }}` filled in from that version, and a device to be skipped counted
 * 0 ms (source `skip`). Totals and the window fit are recomputed.
 */
export function applyChecks(plan: Plan, checks: ReadonlyMap<string, DeviceCheck>, inventory: Inventory, playbook: Playbook, now: Date = new Date()): Plan {
  const devices = plan.devices.map((d): PlanDevice => {
    const check = checks.get(d.name)
    if (!check) return d
    const entry = inventory.devices.find((e) => e.name === d.name)!
    const action = check.needs_upgrade === null ? 'unknown' : check.needs_upgrade ? 'upgrade' : 'skip'
    const steps = check.version === null ? d.steps : deviceSteps(inventory, playbook, entry, check.version)
    const skip = action === 'skip' ? {estimated_ms: 0, estimate_source: 'skip' as const} : {}
    return {...d, action, steps, ...skip, check}
  })
  return totals({...plan, devices, checked: true}, inventory, now)
}

/** `{{ previous.image }}` as the device worker derives it: target.image with target.version replaced by the version it runs. */
export function previousOf(inventory: Inventory, version: string): {version: string; image: string} {
  const {target} = inventory
  return {version, image: target.image.includes(target.version) ? target.image.replace(target.version, version) : target.image}
}

/** Sums the estimates, counts their sources, and places the total in the window. */
function totals(plan: Plan, inventory: Inventory, now: Date): Plan {
  const estimated = plan.devices.reduce((sum, d) => sum + d.estimated_ms, 0)
  const sources: Plan['estimate_sources'] = {}
  for (const d of plan.devices) sources[d.estimate_source] = (sources[d.estimate_source] ?? 0) + 1
  const window = planWindow(inventory, now)
  return {...plan, estimated_ms: estimated, estimate_sources: sources, window, fits_window: fitsWindow(window, estimated)}
}

/** The inventory's window and where `now` stands in it, or null without one. */
export function planWindow(inventory: Inventory, now: Date): PlanWindow | null {
  const w = inventory.window
  if (!w) return null
  const s = windowState(w, now)
  return {
    cron: w.cron,
    duration_ms: w.duration,
    timezone: w.timezone,
    inside: s.inside,
    opened_at: s.opened_at?.toISOString() ?? null,
    closes_at: s.closes_at?.toISOString() ?? null,
    next_opens_at: s.next_opens_at.toISOString(),
    remaining_ms: s.closes_at ? s.closes_at.getTime() - now.getTime() : 0,
  }
}

/** Whether `estimatedMs` fits: ≤ the time left when inside a window, ≤ a whole window when outside; null without a window. */
export function fitsWindow(window: PlanWindow | null, estimatedMs: number): boolean | null {
  if (!window) return null
  return estimatedMs <= (window.inside ? window.remaining_ms : window.duration_ms)
}

/** A window time as the inventory's time zone shows it (for the human view). */
export function windowTime(window: PlanWindow, iso: string): string {
  return formatInZone(new Date(iso), window.timezone)
}

function estimateFields(e: DeviceEstimate): Pick<PlanDevice, 'estimated_ms' | 'estimate_source' | 'estimate'> {
  return {estimated_ms: e.p95_ms, estimate_source: e.source, estimate: {median_ms: e.median_ms, p95_ms: e.p95_ms, samples: e.samples}}
}

/**
 * Every command the device receives, in the order it receives them: readiness (facts, readiness steps, rollback
 * readiness with `on_failure: rollback`, its `before` device gates), its task (facts, upgrade steps, facts after,
 * `after` device gates), then what only a failure sends (`on_error` device gates, compensating actions in reverse
 * step order with `on_failure: rollback`).
 */
export function deviceSteps(inventory: Inventory, playbook: Playbook, device: DeviceEntry, version?: string): PlanStep[] {
  const vars: TemplateVars = {stack: inventory.stack, target: inventory.target, device: {name: device.name, host: device.host}, ...(version === undefined ? {} : {previous: previousOf(inventory, version)})}
  const t = inventory.timeouts
  const cmd = (text: string) => fill(text, vars)
  const step = (s: PlaybookStep, phase: PlanStep['phase']): PlanStep => ({name: s.name, ...cmd(s.command), reload: s.reload === true, phase, timeout_ms: s.timeout ?? t.command})
  const facts = (phase: PlanStep['phase']): PlanStep => ({name: 'facts', ...cmd(playbook.facts.command), reload: false, phase, timeout_ms: t.command})
  const gates = (list: readonly Gate[]): PlanStep[] =>
    list.flatMap((g) => (g.kind === 'device_command' ? [{name: g.name, ...cmd(g.device_command), reload: false, phase: 'gate' as const, timeout_ms: g.timeout ?? t.gate}] : []))
  const rollback = inventory.on_failure === 'rollback'
  return [
    facts('readiness'),
    ...playbook.readiness.map((s) => step(s, 'readiness')),
    ...(rollback ? playbook.rollback_readiness.map((s) => step(s, 'readiness')) : []),
    ...gates(playbook.gates.before.filter((g) => g.scope === 'device')),
    facts('upgrade'),
    ...playbook.upgrade.map((s) => step(s, 'upgrade')),
    facts('upgrade'),
    ...gates(playbook.gates.after),
    ...gates(playbook.gates.on_error),
    ...(rollback ? [...playbook.upgrade].reverse().flatMap((s) => (s.compensate ?? []).map((c) => step(c, 'rollback'))) : []),
  ]
}

/** `text` with every placeholder filled in, except `{{ previous.* }}` while `vars.previous` is unknown (listed in `unresolved`). */
function fill(text: string, vars: TemplateVars): {command: string; unresolved: string[]} {
  const unresolved: string[] = []
  const command = text.replace(PLACEHOLDER, (whole: string, inner: string) => {
    const name = inner.trim()
    if (name.startsWith('previous.') && vars.previous === undefined) {
      if (!unresolved.includes(name)) unresolved.push(name)
      return whole
    }
    return expandTemplate(whole, vars, 'text')
  })
  return {command, unresolved}
}
