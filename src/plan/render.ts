/**
 * The plan for people (docs/plan.md "Human output"): a summary, one table of devices, one table of commands per
 * device, the gates and the timeouts. Plain text (no colour) unless `color`; every value a device supplied (version,
 * errors) is made printable first.
 */
import {formatMs} from '../util/duration.js'
import {printable} from '../util/text.js'
import {windowTime} from './build.js'
import type {Plan, PlanGate} from './types.js'

/** SGR cyan and default foreground (ECMA-48); written only when the caller decided the stream is a colour terminal. */
const CYAN = '\x1b[36m'
const RESET = '\x1b[39m'

/** Options of {@link renderPlan}. */
export interface RenderOptions {
  /** Colour the table headers and borders (a terminal without NO_COLOR). @default false */
  color?: boolean
}

/** The plan as text, ending with a newline. */
export async function renderPlan(plan: Plan, opts: RenderOptions = {}): Promise<string> {
  const {default: Table} = await import('cli-table3')
  // cli-table3's own colours follow @colors/colors' global detection (off without a TTY on process.stdout, on with
  // FORCE_COLOR), not our stream's: colour the header cells ourselves when asked, and never let it colour.
  const style = {head: [], border: [], compact: true}
  const table = (head: string[]) => new Table({head: opts.color ? head.map((h) => `${CYAN}${h}${RESET}`) : head, style})
  const out: string[] = []

  out.push(`Plan for stack ${plan.stack}: ${plan.devices.length} device${plan.devices.length === 1 ? '' : 's'} to ${plan.target.version} (${plan.target.image}), on failure: ${plan.on_failure}`)
  out.push(plan.checked ? 'Checked: every device was asked its facts and readiness (read-only commands only).' : 'Offline: no device was contacted (--check asks each device its facts and readiness, read-only).')
  const sources = Object.entries(plan.estimate_sources)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ')
  out.push(`Estimate: ${formatMs(plan.estimated_ms)} in total (each device's P95, one after another; sources: ${sources})`)
  out.push(windowLine(plan))
  out.push('')

  const devices = table(plan.checked ? ['#', 'device', 'host', 'action', 'median', 'P95', 'source', 'reachable', 'host key', 'version', 'image', 'free', 'rollback', 'problem'] : ['#', 'device', 'host', 'action', 'median', 'P95', 'source'])
  for (const d of plan.devices) {
    const row = [String(d.order), d.name, d.host, d.action, formatMs(d.estimate.median_ms), formatMs(d.estimated_ms), d.estimate_source + (d.estimate.samples > 0 ? ` (${d.estimate.samples})` : '')]
    if (d.check) {
      const c = d.check
      row.push(
        yesNo(c.reachable),
        c.host_key ?? '-',
        c.version === null ? '-' : printable(c.version),
        yesNo(c.image_present),
        c.free_bytes === null ? '-' : formatBytes(c.free_bytes),
        yesNo(c.rollback_ready),
        c.error === null ? '' : printable(c.error).slice(0, 120),
      )
    }
    devices.push(row)
  }
  out.push(devices.toString())

  const unresolved = new Set(plan.devices.flatMap((d) => d.steps.flatMap((s) => s.unresolved)))
  for (const d of plan.devices) {
    out.push('')
    out.push(`${d.order}. ${d.name} (${d.host}): ${d.action === 'skip' ? 'already on target: only facts and its after gates' : `${d.steps.length} commands`}`)
    const steps = table(['phase', 'step', 'command', 'reload', 'timeout'])
    for (const s of d.steps) steps.push([s.phase, s.name, s.command, s.reload ? 'RELOAD' : '', formatMs(s.timeout_ms)])
    out.push(steps.toString())
  }
  if (unresolved.size > 0) {
    out.push(`${[...unresolved].map((n) => `{{ ${n} }}`).join(', ')}: known only once the device's facts are read (the version it runs); left as placeholders (--check fills them in)`)
  }
  out.push('Phases: readiness runs on every device before the chain starts; upgrade when its turn comes (RELOAD: chainup waits up to timeouts.boot for the boot); gate: its device_command gates; rollback: only when the run rolls back.')

  out.push('')
  const gates = table(['gate', 'name', 'kind', 'what', 'timeout'])
  let any = false
  for (const type of ['before', 'after', 'on_error', 'final'] as const) {
    for (const g of plan.gates[type]) {
      any = true
      gates.push([type + (g.scope ? ` (${g.scope})` : ''), g.name, g.kind, gateWhat(g), formatMs(g.timeout_ms)])
    }
  }
  out.push(any ? gates.toString() : 'Gates: none')
  if (plan.gates.on_error.length === 0) out.push('on_error: no gate, so a failed device halts the chain')

  const t = plan.timeouts
  out.push('')
  out.push(`Timeouts: command ${formatMs(t.command)}, boot ${formatMs(t.boot)}, predecessor ${formatMs(t.predecessor)}, gate ${formatMs(t.gate)}, connect ${formatMs(t.connect)}, run ${t.run === undefined ? 'no limit' : formatMs(t.run)}`)
  return out.join('\n') + '\n'
}

function windowLine(plan: Plan): string {
  const w = plan.window
  if (!w) return 'Window: none in the inventory (fits: not applicable)'
  const where = w.inside
    ? `inside, closes ${windowTime(w, w.closes_at!)} (${formatMs(w.remaining_ms)} left)`
    : `outside, next opens ${windowTime(w, w.next_opens_at)}`
  const room = w.inside ? 'the time left' : 'one window'
  return `Window: "${w.cron}" for ${formatMs(w.duration_ms)} (${w.timezone}): ${where}; the estimate ${plan.fits_window ? 'fits' : 'does NOT fit'} ${room}`
}

function gateWhat(g: PlanGate): string {
  if (g.kind === 'command') return `run: ${g.run}`
  if (g.kind === 'http') return `http: ${g.http}`
  return `${g.device_command} =~ /${g.expect}/${g.reject ? ` !~ /${g.reject}/` : ''}`
}

function yesNo(v: boolean | null): string {
  return v === null ? '-' : v ? 'yes' : 'NO'
}

/** `1.0 GiB`, `512.0 MiB`, `4.0 KiB`, `100 B`. */
function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = n
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`
}
