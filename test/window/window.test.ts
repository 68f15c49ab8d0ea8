import {describe, expect, it} from 'vitest'

import {describeWindow, formatInZone, formatSpan, remainingMs, windowState, type Window} from '../../src/window/window.js'

const H = 3_600_000
const M = 60_000
const at = (iso: string) => new Date(iso)
const iso = (d: Date | null) => d?.toISOString() ?? null

/** Saturdays 02:00 Berlin time for four hours (the example). */
const SATURDAY: Window = {cron: '0 2 * * 6', duration: 4 * H, timezone: 'Europe/Berlin'}

describe('windowState', () => {
  it('is outside just before the opening and names the opening', () => {
    const s = windowState(SATURDAY, at('2026-11-28T00:59:59.999Z'))
    expect(s).toEqual({inside: false, opened_at: null, closes_at: null, next_opens_at: at('2026-11-28T01:00:00.000Z')})
  })

  it('is inside from the opening instant (inclusive) and names the close and the following opening', () => {
    const s = windowState(SATURDAY, at('2026-11-28T01:00:00.000Z'))
    expect({inside: s.inside, opened_at: iso(s.opened_at), closes_at: iso(s.closes_at), next: iso(s.next_opens_at)}).toEqual({
      inside: true,
      opened_at: '2026-11-28T01:00:00.000Z',
      closes_at: '2026-11-28T05:00:00.000Z',
      next: '2026-12-05T01:00:00.000Z',
    })
  })

  it('is outside at the closing instant (exclusive) and one millisecond before it is inside', () => {
    expect(windowState(SATURDAY, at('2026-11-28T04:59:59.999Z')).inside).toBe(true)
    const s = windowState(SATURDAY, at('2026-11-28T05:00:00.000Z'))
    expect(s.inside).toBe(false)
    expect(iso(s.next_opens_at)).toBe('2026-12-05T01:00:00.000Z')
  })

  it('is outside on other days of the week', () => {
    for (const day of ['2026-11-23T01:30:00Z', '2026-11-27T23:00:00Z', '2026-11-29T01:30:00Z']) {
      const s = windowState(SATURDAY, at(day))
      expect(s.inside, day).toBe(false)
      expect(s.next_opens_at.getUTCDay()).toBe(6)
    }
  })

  it('keeps the local opening time when Berlin leaves summer time between two Saturdays', () => {
    // 24 Oct 2026 is CEST (+02:00), 31 Oct is CET (+01:00): 02:00 local is 00:00Z and then 01:00Z.
    expect(iso(windowState(SATURDAY, at('2026-10-23T12:00:00Z')).next_opens_at)).toBe('2026-10-24T00:00:00.000Z')
    expect(iso(windowState(SATURDAY, at('2026-10-24T12:00:00Z')).next_opens_at)).toBe('2026-10-31T01:00:00.000Z')
  })

  describe('across a DST change in Europe/Berlin (Sundays 02:30 local, 2h)', () => {
    const SUNDAY: Window = {cron: '30 2 * * 0', duration: 2 * H, timezone: 'Europe/Berlin'}

    it('spring forward (29 Mar 2026, 02:00 → 03:00): the skipped 02:30 opens at 03:00 CEST and lasts 2h of real time', () => {
      const before = windowState(SUNDAY, at('2026-03-28T12:00:00Z'))
      expect(iso(before.next_opens_at)).toBe('2026-03-29T01:00:00.000Z') // 03:00+02:00
      expect(formatInZone(before.next_opens_at, 'Europe/Berlin')).toBe('2026-03-29T03:00:00+02:00')
      const inside = windowState(SUNDAY, at('2026-03-29T01:00:00Z'))
      expect(inside.inside).toBe(true)
      expect(iso(inside.closes_at)).toBe('2026-03-29T03:00:00.000Z') // 05:00+02:00
      expect(windowState(SUNDAY, at('2026-03-29T00:59:59Z')).inside).toBe(false) // 01:59:59 CET, just before the gap
      expect(windowState(SUNDAY, at('2026-03-29T03:00:00Z')).inside).toBe(false)
      // The next Sunday is in summer time: 02:30+02:00.
      expect(iso(inside.next_opens_at)).toBe('2026-04-05T00:30:00.000Z')
    })

    it('fall back (25 Oct 2026, 03:00 → 02:00): the repeated 02:30 opens once, at its first pass, and the window lasts 2h of real time', () => {
      const before = windowState(SUNDAY, at('2026-10-24T12:00:00Z'))
      expect(iso(before.next_opens_at)).toBe('2026-10-25T00:30:00.000Z') // 02:30+02:00, the first pass
      expect(formatInZone(before.next_opens_at, 'Europe/Berlin')).toBe('2026-10-25T02:30:00+02:00')
      // 02:30+01:00 (the second pass) is inside the same window, not a new one.
      const second = windowState(SUNDAY, at('2026-10-25T01:30:00Z'))
      expect(second.inside).toBe(true)
      expect(iso(second.opened_at)).toBe('2026-10-25T00:30:00.000Z')
      expect(iso(second.closes_at)).toBe('2026-10-25T02:30:00.000Z') // 03:30+01:00: two real hours after 02:30+02:00
      expect(remainingMs(SUNDAY, at('2026-10-25T01:30:00Z'))).toBe(1 * H)
      expect(windowState(SUNDAY, at('2026-10-25T02:30:00Z')).inside).toBe(false)
      expect(iso(second.next_opens_at)).toBe('2026-11-01T01:30:00.000Z') // 02:30+01:00 a week later
    })
  })

  it('merges windows that overlap or touch into one', () => {
    const overlap: Window = {cron: '0 0,1 * * *', duration: 90 * M, timezone: 'UTC'}
    const s = windowState(overlap, at('2026-06-01T00:10:00Z'))
    expect([iso(s.opened_at), iso(s.closes_at), iso(s.next_opens_at)]).toEqual(['2026-06-01T00:00:00.000Z', '2026-06-01T02:30:00.000Z', '2026-06-02T00:00:00.000Z'])
    const touch: Window = {cron: '0 0,2 * * *', duration: 2 * H, timezone: 'UTC'}
    expect(iso(windowState(touch, at('2026-06-01T01:59:00Z')).closes_at)).toBe('2026-06-01T04:00:00.000Z')
    expect(windowState(touch, at('2026-06-01T02:00:00Z')).inside).toBe(true)
  })

  it('reads the cron fields in the window time zone', () => {
    const tokyo: Window = {cron: '0 2 * * *', duration: H, timezone: 'Asia/Tokyo'}
    expect(iso(windowState(tokyo, at('2026-06-01T00:00:00Z')).next_opens_at)).toBe('2026-06-01T17:00:00.000Z')
    const nicknamed: Window = {cron: '@daily', duration: H, timezone: 'UTC'}
    expect(windowState(nicknamed, at('2026-06-01T00:30:00Z')).inside).toBe(true)
  })
})

describe('remainingMs', () => {
  it('is the time to the close inside and 0 outside', () => {
    expect(remainingMs(SATURDAY, at('2026-11-28T04:48:00Z'))).toBe(12 * M)
    expect(remainingMs(SATURDAY, at('2026-11-28T01:00:00Z'))).toBe(4 * H)
    expect(remainingMs(SATURDAY, at('2026-11-28T05:00:00Z'))).toBe(0)
    expect(remainingMs(SATURDAY, at('2026-11-25T12:00:00Z'))).toBe(0)
  })
})

describe('formatting', () => {
  it('formatInZone gives the local time with its offset', () => {
    expect(formatInZone(at('2026-11-28T04:00:00Z'), 'Europe/Berlin')).toBe('2026-11-28T05:00:00+01:00')
    expect(formatInZone(at('2026-07-01T04:00:00Z'), 'Europe/Berlin')).toBe('2026-07-01T06:00:00+02:00')
    expect(formatInZone(at('2026-07-01T04:00:00.900Z'), 'America/St_Johns')).toBe('2026-07-01T01:30:00-02:30')
    expect(formatInZone(at('2026-07-01T04:00:00Z'), 'UTC')).toBe('2026-07-01T04:00:00+00:00')
  })

  it('formatSpan and describeWindow', () => {
    expect([formatSpan(12 * M + 59_000), formatSpan(4 * H), formatSpan(90 * M), formatSpan(27 * H), formatSpan(45_000)]).toEqual(['12m', '4h', '1h 30m', '1d 3h', '45s'])
    expect(describeWindow(SATURDAY)).toBe('"0 2 * * 6" for 4h (Europe/Berlin)')
  })
})
