import {parse} from 'tinyduration'

/** A whole ISO 8601 duration (sign, P, date part, T and time part; decimals with . or ,), nothing before or after. */
const FULL_DURATION = /^-?P(?=\d|T\d)(?:\d+(?:[.,]\d+)?Y)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?W)?(?:\d+(?:[.,]\d+)?D)?(?:T(?=\d)(?:\d+(?:[.,]\d+)?H)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?S)?)?$/

/**
 * Parses an ISO 8601 duration (`PT5M`, `PT1H30M`, `PT0.5S`, `P1D`) into milliseconds.
 * Years and months are refused: their length is not fixed.
 * @throws Error with a message naming the expected form when the text is not a duration.
 */
export function parseDurationMs(text: string): number {
  // tinyduration's pattern is not anchored ("PT5Mjunk" and "xxPT5M" parse as PT5M): the whole text must be one.
  if (!FULL_DURATION.test(text)) throw new Error(`expected an ISO 8601 duration such as PT5M, got "${text}"`)
  let d
  try {
    d = parse(text)
  } catch {
    throw new Error(`expected an ISO 8601 duration such as PT5M, got "${text}"`)
  }
  if ((d.years ?? 0) !== 0 || (d.months ?? 0) !== 0) {
    throw new Error(`expected a duration in weeks, days, hours, minutes or seconds (years and months have no fixed length), got "${text}"`)
  }
  if (d.negative) throw new Error(`expected a positive duration, got "${text}"`)
  const seconds = (d.weeks ?? 0) * 604_800 + (d.days ?? 0) * 86_400 + (d.hours ?? 0) * 3600 + (d.minutes ?? 0) * 60 + (d.seconds ?? 0)
  return Math.round(seconds * 1000)
}

/** Formats milliseconds as a short human duration: `850ms`, `4.2s`, `3m 05s`, `1h 02m`. */
export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`
  const s = Math.round(ms / 1000)
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}
