/**
 * Maintenance windows (inventory `window:`, docs/operations.md): a window opens at each time its cron expression
 * matches in its time zone and stays open for its duration. Pure functions of a `Date` (no clock of their own): the
 * caller passes "now" from its injected clock. DST is croner's (Vixie cron's rules): an opening in a skipped hour
 * moves to the first valid time after the gap, an opening in a repeated hour happens once, at its first occurrence.
 *
 * Boundaries (docs/decisions.md): a window is the half-open interval [opening, opening + duration): "inside" at the
 * opening instant, "outside" at the closing instant. `duration` is elapsed time, so a window across a DST change
 * still lasts exactly `duration`. Windows that overlap or touch (the next opening at or before the close) count as
 * one window.
 */
import {Cron} from 'croner'

import type {Inventory} from '../config/types.js'

/** An inventory's maintenance window: `cron` (5-field crontab), `duration` (ms), `timezone` (IANA). */
export type Window = NonNullable<Inventory['window']>

/** Where a moment stands relative to a window. */
export interface WindowState {
  /** True when the moment lies inside a window (opening inclusive, close exclusive). */
  inside: boolean
  /** Inside: the opening of the earliest window that covers the moment; outside: null. */
  opened_at: Date | null
  /** Inside: when the window (merged with any window that overlaps or touches it) closes; outside: null. */
  closes_at: Date | null
  /** The next opening of a window that is not the current one: after `closes_at` when inside, after the moment when outside. */
  next_opens_at: Date
}

/** Overlapping windows merged at most this many openings ahead (a cron that opens every minute for hours). */
const MAX_MERGED = 1000

function cronOf(window: Window): Cron {
  return new Cron(window.cron.trim(), {paused: true, mode: '5-part', timezone: window.timezone})
}

function nextOpening(cron: Cron, after: Date, window: Window): Date {
  const next = cron.nextRun(after)
  // The loader refuses a cron that never matches; one that stops matching later (none in 5 fields) is a bug.
  if (!next) throw new Error(`window.cron "${window.cron}" has no opening after ${after.toISOString()}`)
  return next
}

/**
 * Where `now` stands relative to `window`.
 * @throws Error when the cron expression has no opening after the moment (the loader refuses such expressions)
 */
export function windowState(window: Window, now: Date): WindowState {
  const cron = cronOf(window)
  const t = now.getTime()
  // croner's nextRun is exclusive of its argument: the first opening in (now - duration, ∞) is the earliest that can cover now.
  const first = cron.nextRun(new Date(t - window.duration))
  if (!first || first.getTime() > t) return {inside: false, opened_at: null, closes_at: null, next_opens_at: nextOpening(cron, now, window)}
  let closes = first.getTime() + window.duration
  let last = first
  for (let i = 0; i < MAX_MERGED; i++) {
    const next = cron.nextRun(last)
    if (!next || next.getTime() > closes) break
    closes = Math.max(closes, next.getTime() + window.duration)
    last = next
  }
  const closesAt = new Date(closes)
  return {inside: true, opened_at: first, closes_at: closesAt, next_opens_at: nextOpening(cron, closesAt, window)}
}

/** Milliseconds left until the window that covers `now` closes; 0 when `now` is outside every window. */
export function remainingMs(window: Window, now: Date): number {
  const state = windowState(window, now)
  return state.closes_at ? state.closes_at.getTime() - now.getTime() : 0
}

/**
 * `date` as ISO 8601 local time in `timeZone` with its UTC offset, to the second, e.g. "2026-11-28T02:00:00+01:00".
 * @throws RangeError for a time zone Intl does not know
 */
export function formatInZone(date: Date, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit'})
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  ) as Record<string, string>
  const local = `${parts['year']}-${parts['month']}-${parts['day']}T${parts['hour']}:${parts['minute']}:${parts['second']}`
  const offsetMin = Math.round((Date.parse(`${local}Z`) - Math.floor(date.getTime() / 1000) * 1000) / 60_000)
  const sign = offsetMin < 0 ? '-' : '+'
  const abs = Math.abs(offsetMin)
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}

/** One line naming a window, e.g. `"0 2 * * 6" for 4h (Europe/Berlin)`. */
export function describeWindow(window: Window): string {
  return `"${window.cron.trim()}" for ${formatSpan(window.duration)} (${window.timezone})`
}

/** A span in minutes, hours and days, rounded down to the minute: `12m`, `4h`, `1h 30m`, `2d 3h`. */
export function formatSpan(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000))
  if (minutes === 0) return `${Math.max(0, Math.floor(ms / 1000))}s`
  const d = Math.floor(minutes / 1440)
  const h = Math.floor((minutes % 1440) / 60)
  const m = minutes % 60
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : ''].filter(Boolean).join(' ')
}
