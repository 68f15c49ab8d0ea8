/**
 * Device facts read with the playbook's `facts` patterns, and the proof that a reload happened.
 */
import type {Playbook} from '../config/types.js'
import {printable} from '../util/text.js'

export interface DeviceFacts {
  /** Running version, e.g. "17.06.05". */
  version: string
  /** Uptime in seconds, from e.g. "3 weeks, 2 days, 4 hours, 17 minutes"; undefined when not given or not parsable. */
  uptimeSeconds: number | undefined
  /** The device's "System restarted at" text, verbatim (device clock, seconds precision on IOS). */
  restartedAt: string | undefined
  /** `snmp` when `uptimeSeconds` is the device's sysUpTime.0 (the facts gave neither uptime nor restart time). */
  uptimeSource?: 'snmp'
}

const UNIT_SECONDS: Record<string, number> = {year: 31_536_000, week: 604_800, day: 86_400, hour: 3600, minute: 60, second: 1}

/** Parses IOS uptime text ("1 year, 3 weeks, 2 days, 4 hours, 17 minutes") into seconds; undefined if no unit matched. */
export function parseUptime(text: string): number | undefined {
  let total = 0
  let matched = false
  for (const m of text.matchAll(/(\d+)\s+(year|week|day|hour|minute|second)s?/g)) {
    total += Number(m[1]) * UNIT_SECONDS[m[2]!]!
    matched = true
  }
  return matched ? total : undefined
}

/**
 * What a version read from a device must look like before chainup uses it (docs/playbook.md "facts"): a letter or
 * digit, then at most 63 letters, digits and `. _ - + ( )`. That covers IOS-XE `17.09.05` and `17.09.04a`, IOS
 * `15.2(7)E3`, NX-OS `9.3(10)`, Junos `21.4R3-S5.4`, EOS `4.28.3M`, AOS `8.10.0.5_87432`, and leaves out whitespace,
 * control characters, quotes, a leading `-` and every shell metacharacter but the parentheses (which cannot run
 * anything on their own): the value goes into commands and image names (`{{ previous.version }}`, `{{ previous.image }}`).
 */
export const VERSION_SHAPE = /^[A-Za-z0-9][A-Za-z0-9._+()-]{0,63}$/

/** Uptime and restart-time text: printable ASCII (space to `~`), at most 128 characters after trimming. */
export const FACT_TEXT_SHAPE = /^[\x20-\x7e]{0,128}$/

/** A device-supplied value as an error message quotes it: control characters escaped, at most 80 characters. */
function quoted(value: string): string {
  return `"${printable(value.length > 80 ? `${value.slice(0, 80)}...` : value)}"`
}

/**
 * Reads facts from the output of `playbook.facts.command`, and checks them: the version must match
 * {@link VERSION_SHAPE}, the uptime and restart texts {@link FACT_TEXT_SHAPE}. A device that prints anything else is
 * an error, never a value (issue #8 §2: the version reaches gates' command lines and the terminal).
 * @param device the device's name, which the errors start with (`sw2: show version reports version "…" which …`)
 * @throws Error when the version pattern does not match (the output is not what the playbook expects), or a fact
 *   does not have its shape
 */
export function parseFacts(output: string, facts: Omit<Playbook['facts'], 'uptime_precision'>, device?: string): DeviceFacts {
  const who = device === undefined ? '' : `${device}: `
  const version = new RegExp(facts.version, 'm').exec(output)?.groups?.version
  if (!version) throw new Error(`${who}cannot read the version: "${facts.command}" output does not match /${facts.version}/`)
  if (!VERSION_SHAPE.test(version)) {
    throw new Error(`${who}${facts.command} reports version ${quoted(version)} which does not look like a version (a letter or digit, then up to 63 of: letters, digits, . _ - + ( ))`)
  }
  const text = (what: 'uptime' | 'restart time', value: string | undefined): string | undefined => {
    if (value === undefined) return undefined
    const trimmed = value.trim()
    if (!FACT_TEXT_SHAPE.test(trimmed)) throw new Error(`${who}${facts.command} reports ${what} ${quoted(trimmed)} which is not printable text of at most 128 characters`)
    return trimmed
  }
  const uptimeText = text('uptime', facts.uptime ? new RegExp(facts.uptime, 'm').exec(output)?.groups?.uptime : undefined)
  const restartedAt = text('restart time', facts.restarted_at ? new RegExp(facts.restarted_at, 'm').exec(output)?.groups?.restarted_at : undefined)
  return {version, uptimeSeconds: uptimeText ? parseUptime(uptimeText) : undefined, restartedAt}
}

/**
 * Did the device boot after the reload was sent? Both must hold (issue #10 "Proof of return"; docs/devices.md):
 *
 * (a) **it went away or its boot changed**: the connection dropped / refused since the reload (`sawDown`), or its boot
 *     evidence moved: the "System restarted at" text differs, else the uptime is strictly smaller than the one read
 *     just before the reload (`before`);
 * (b) **its boot is newer than the reload**: the "System restarted at" text differs from before (device clock, so no
 *     skew with ours), else its uptime is at most the time since the reload was sent plus the platform's precision
 *     (`uptimePrecisionMs`, IOS prints whole minutes); with neither fact, only (a)'s dropped connection counts.
 *
 * So a switch that refused its install and stayed up is never "back", even one that booted less than a minute before
 * (v0.1 accepted it after 399 ms because its uptime alone was within a minute of the reload).
 * @param elapsedMs time since the reload was sent, ms
 * @param uptimePrecisionMs the platform's uptime granularity, ms (@default 60000)
 */
export function rebootedSince(before: DeviceFacts, after: DeviceFacts, elapsedMs: number, sawDown: boolean, uptimePrecisionMs = 60_000): boolean {
  const restartKnown = before.restartedAt !== undefined && after.restartedAt !== undefined
  const bootChanged = restartKnown
    ? before.restartedAt !== after.restartedAt
    : before.uptimeSeconds !== undefined && after.uptimeSeconds !== undefined && after.uptimeSeconds < before.uptimeSeconds
  if (!sawDown && !bootChanged) return false
  if (restartKnown) return before.restartedAt !== after.restartedAt
  if (after.uptimeSeconds !== undefined) return after.uptimeSeconds * 1000 <= elapsedMs + uptimePrecisionMs
  return sawDown
}
