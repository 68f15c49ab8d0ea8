/** src/util: durations, the clock's sleep, quoting device output in messages. */
import {describe, expect, it} from 'vitest'

import {sleepOn, systemClock} from '../../src/util/clock.js'
import {formatMs, parseDurationMs} from '../../src/util/duration.js'
import {errorMessage, firstLines, lineAt} from '../../src/util/text.js'
import {FakeClock} from '../helpers/fake-clock.js'

describe('durations', () => {
  it('parses ISO 8601 durations into ms and refuses what has no fixed length', () => {
    expect(parseDurationMs('PT5M')).toBe(300_000)
    expect(parseDurationMs('PT1H30M')).toBe(5_400_000)
    expect(parseDurationMs('PT0.5S')).toBe(500)
    expect(parseDurationMs('P1DT1S')).toBe(86_401_000)
    expect(() => parseDurationMs('P1M')).toThrow(/years and months have no fixed length/)
    expect(() => parseDurationMs('5 minutes')).toThrow('expected an ISO 8601 duration such as PT5M, got "5 minutes"')
  })

  it('refuses text around a duration (tinyduration alone read "PT5Mjunk" and "xxPT5M" as PT5M)', () => {
    for (const text of ['PT5Mjunk', 'xxPT5M', 'PT5M ', ' PT5M', 'PT5M\nPT1H', 'P', 'PT', 'P1DT']) {
      expect(() => parseDurationMs(text), JSON.stringify(text)).toThrow(/expected an ISO 8601 duration/)
    }
    expect(parseDurationMs('P1W')).toBe(604_800_000)
    expect(parseDurationMs('PT0,5S')).toBe(500)
    expect(parseDurationMs('PT0S')).toBe(0)
  })

  it('formats ms for people', () => {
    expect([850, 4200, 185_000, 3_720_000].map(formatMs)).toEqual(['850ms', '4.2s', '3m 05s', '1h 02m'])
  })
})

describe('clock', () => {
  it('sleep resolves when its time has passed on the clock, not before', async () => {
    const clock = new FakeClock()
    let woke = false
    void clock.sleep(1000).then(() => (woke = true))
    await clock.advance(999)
    expect(woke).toBe(false)
    await clock.advance(1)
    expect(woke).toBe(true)
    expect(clock.pendingTimers).toBe(0)
  })

  it('sleep resolves at once when its signal aborts and leaves no timer behind', async () => {
    const clock = new FakeClock()
    const abort = new AbortController()
    let woke = false
    void sleepOn(clock, 60_000, abort.signal).then(() => (woke = true))
    abort.abort()
    await clock.settle()
    expect(woke).toBe(true)
    expect(clock.pendingTimers).toBe(0)
    // An already aborted signal: no timer at all.
    await systemClock.sleep(3_600_000, abort.signal)
  })

  it('refresh restarts a timer from now', async () => {
    const clock = new FakeClock()
    let fired = 0
    const t = clock.setTimeout(() => fired++, 100)
    await clock.advance(90)
    t.refresh()
    await clock.advance(90)
    expect(fired).toBe(0)
    await clock.advance(10)
    expect(fired).toBe(1)
  })
})

describe('text', () => {
  it('lineAt quotes the whole line around an offset, trimmed and capped at 160 characters', () => {
    const out = 'show x\n  % Invalid input detected at marker.  \nnext'
    expect(lineAt(out, out.indexOf('%'))).toBe('% Invalid input detected at marker.')
    expect(lineAt('x'.repeat(300), 5)).toHaveLength(160)
  })

  it('firstLines joins two lines, errorMessage accepts anything thrown', () => {
    expect(firstLines('\n a\nb\nc\n')).toBe('a / b')
    expect(errorMessage(new Error('boom'))).toBe('boom')
    expect(errorMessage('plain')).toBe('plain')
  })
})
