/**
 * Device facts read with the playbook's `facts` patterns, and the proof that a reload happened.
 */
import type {Playbook} from '../config/types.js'

export interface DeviceFacts {
  /** Running version, e.g. "17.06.05". */
  version: string
  /** Uptime in seconds, from e.g. "3 weeks, 2 days, 4 hours, 17 minutes"; undefined when not given or not parsable. */
  uptimeSeconds: number | undefined
  /** The device's "System restarted at" text, verbatim (device clock, seconds precision on IOS). */
  restartedAt: string | undefined
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
 * Reads facts from the output of `playbook.facts.command`.
 * @throws Error when the version pattern does not match (the output is not what the playbook expects).
 */
export function parseFacts(output: string, facts: Playbook['facts']): DeviceFacts {
  const version = new RegExp(facts.version, 'm').exec(output)?.groups?.version
  if (!version) throw new Error(`cannot read the version: "${facts.command}" output does not match /${facts.version}/`)
  const uptimeText = facts.uptime ? new RegExp(facts.uptime, 'm').exec(output)?.groups?.uptime : undefined
  const restartedAt = facts.restarted_at ? new RegExp(facts.restarted_at, 'm').exec(output)?.groups?.restarted_at?.trim() : undefined
  return {version, uptimeSeconds: uptimeText ? parseUptime(uptimeText) : undefined, restartedAt}
}

/**
 * Did the device boot after the reload was sent? Proof, in order of strength:
 * 1. its "System restarted at" text changed (device clock, so no skew with ours);
 * 2. otherwise its uptime is shorter than the time since the reload was sent (+60 s for IOS's minute granularity).
 * With neither fact available, only a dropped connection followed by a successful login counts (`sawDown`).
 */
export function rebootedSince(before: DeviceFacts, after: DeviceFacts, elapsedMs: number, sawDown: boolean): boolean {
  if (before.restartedAt !== undefined && after.restartedAt !== undefined) return before.restartedAt !== after.restartedAt
  if (after.uptimeSeconds !== undefined) return after.uptimeSeconds <= elapsedMs / 1000 + 60
  return sawDown
}
