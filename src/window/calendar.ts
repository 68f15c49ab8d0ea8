/**
 * A window's cron expression as systemd `OnCalendar=` lines (`chainup schedule --systemd`, docs/operations.md).
 * Pure text work over the 5-field crontab expressions the inventory accepts (config/inventory.ts refuses croner's
 * extensions): each field becomes an explicit list, names become numbers or systemd's weekday names, and cron's rule
 * that a restricted day-of-month and a restricted day-of-week match either way (OR) becomes two `OnCalendar=` lines,
 * since systemd requires both.
 */

/** crontab nicknames as the fields they stand for. */
const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC']
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT']
const SYSTEMD_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']

interface FieldSpec {
  name: string
  min: number
  max: number
  names?: readonly string[]
  /** Added to a name's index (months are 1-based). */
  nameBase?: number
}

const FIELDS: readonly FieldSpec[] = [
  {name: 'minute', min: 0, max: 59},
  {name: 'hour', min: 0, max: 23},
  {name: 'day-of-month', min: 1, max: 31},
  {name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1},
  {name: 'day-of-week', min: 0, max: 7, names: DAYS, nameBase: 0},
]

/** Thrown when a cron expression has no `OnCalendar=` form; the message says why. */
export class CalendarError extends Error {}

function value(text: string, spec: FieldSpec): number {
  const named = spec.names?.indexOf(text.toUpperCase()) ?? -1
  if (named >= 0) return named + (spec.nameBase ?? 0)
  if (!/^\d+$/.test(text)) throw new CalendarError(`cannot read "${text}" in the ${spec.name} field`)
  const n = Number(text)
  if (n < spec.min || n > spec.max) throw new CalendarError(`${spec.name} ${n} is outside ${spec.min}-${spec.max}`)
  return n
}

/** The field's values, or undefined for `*` (every value). */
export function expandField(text: string, spec: FieldSpec): number[] | undefined {
  if (text === '*') return undefined
  const out = new Set<number>()
  for (const part of text.split(',')) {
    const m = /^(\*|[^-/]+)(?:-([^/]+))?(?:\/(\d+))?$/.exec(part)
    if (!m) throw new CalendarError(`cannot read "${part}" in the ${spec.name} field`)
    const [, from, to, step] = m
    const every = step === undefined ? 1 : Number(step)
    if (every < 1) throw new CalendarError(`step 0 in the ${spec.name} field`)
    const start = from === '*' ? spec.min : value(from!, spec)
    // "a/n" runs to the field's end (cronie, croner); "a" alone is one value.
    const end = from === '*' ? spec.max : to !== undefined ? value(to, spec) : step !== undefined ? spec.max : start
    if (end < start) throw new CalendarError(`range ${part} runs backwards in the ${spec.name} field`)
    for (let v = start; v <= end; v += every) out.add(spec.name === 'day-of-week' && v === 7 ? 0 : v)
  }
  return [...out].sort((a, b) => a - b)
}

const pad = (n: number) => String(n).padStart(2, '0')
const list = (values: number[] | undefined) => (values ? values.map(pad).join(',') : '*')

/**
 * The `OnCalendar=` values (one, or two for a day-of-month OR day-of-week expression) that fire when `cron` does in
 * `timeZone`, e.g. `["Sat *-*-* 02:00:00 Europe/Berlin"]` for `0 2 * * 6`.
 * @throws CalendarError naming the part that has no systemd form (not expected for an expression the loader accepted)
 */
export function cronToOnCalendar(cron: string, timeZone: string): string[] {
  const trimmed = cron.trim()
  const expanded = trimmed.startsWith('@') ? NICKNAMES[trimmed.toLowerCase()] : trimmed
  if (!expanded) throw new CalendarError(`the cron nickname ${trimmed} has no systemd form`)
  const fields = expanded.split(/\s+/)
  if (fields.length !== 5) throw new CalendarError(`expected 5 cron fields, got ${fields.length}`)
  const [minute, hour, dom, month, dow] = fields.map((f, i) => expandField(f, FIELDS[i]!))
  const time = `${list(hour)}:${list(minute)}:00`
  const date = (days: number[] | undefined) => `*-${list(month)}-${list(days)}`
  const weekdays = (days: number[] | undefined) => (days ? `${days.map((d) => SYSTEMD_DAYS[d]).join(',')} ` : '')
  const line = (days: number[] | undefined, week: number[] | undefined) => `${weekdays(week)}${date(days)} ${time} ${timeZone}`
  // cron: both day fields restricted = either matches; systemd needs both, so one line per field.
  if (dom && dow) return [line(dom, undefined), line(undefined, dow)]
  return [line(dom, dow)]
}
