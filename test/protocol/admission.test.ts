/** Per-source admission of inbound connection attempts (token bucket), on a fake clock. */
import {describe, expect, it} from 'vitest'

import {Admission} from '../../src/protocol/admission.js'
import {FakeClock} from '../helpers/fake-clock.js'

describe('Admission (token bucket per source address)', () => {
  it('admits a burst at once, then refills at perSecond, never above the burst', async () => {
    const clock = new FakeClock()
    const a = new Admission({burst: 3, perSecond: 2}, clock)
    expect([1, 2, 3, 4].map(() => a.admit('10.0.0.1'))).toEqual([true, true, true, false])
    await clock.advance(250) // half a token
    expect(a.admit('10.0.0.1')).toBe(false)
    await clock.advance(250) // one token
    expect(a.admit('10.0.0.1')).toBe(true)
    expect(a.admit('10.0.0.1')).toBe(false)
    await clock.advance(60_000) // refilled, capped at the burst
    expect([1, 2, 3, 4].map(() => a.admit('10.0.0.1'))).toEqual([true, true, true, false])
  })

  it('keeps one bucket per source address', () => {
    const a = new Admission({burst: 1, perSecond: 1}, new FakeClock())
    expect(a.admit('10.0.0.1')).toBe(true)
    expect(a.admit('10.0.0.1')).toBe(false)
    expect(a.admit('10.0.0.2')).toBe(true)
  })

  it('forgets the oldest source beyond 4096 (which then starts with a full bucket again)', () => {
    const a = new Admission({burst: 1, perSecond: 0.001}, new FakeClock())
    expect(a.admit('first')).toBe(true)
    expect(a.admit('first')).toBe(false)
    for (let i = 0; i < 4096; i++) a.admit(`s${i}`)
    expect(a.admit('first')).toBe(true)
  })

  it('names the limit in its refusal', () => {
    const a = new Admission({burst: 10, perSecond: 1}, new FakeClock())
    expect(a.refusal('127.0.0.1')).toBe('rate limit: more than 10 connection attempts from 127.0.0.1 (1/s sustained)')
  })
})
