/** Admission of inbound connections: token buckets per source address, the caps, the handshake deadline (fake clock). */
import {describe, expect, it} from 'vitest'

import {Admission, RateLimiter, RefusalLog, type InboundLimits} from '../../src/protocol/admission.js'
import type {InboundTicket} from '../../src/protocol/transport.js'
import {FakeClock} from '../helpers/fake-clock.js'

describe('RateLimiter (token bucket per source address)', () => {
  it('admits a burst at once, then refills at perSecond, never above the burst', async () => {
    const clock = new FakeClock()
    const a = new RateLimiter({burst: 3, perSecond: 2}, clock, 4096)
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
    const a = new RateLimiter({burst: 1, perSecond: 1}, new FakeClock(), 4096)
    expect(a.admit('10.0.0.1')).toBe(true)
    expect(a.admit('10.0.0.1')).toBe(false)
    expect(a.admit('10.0.0.2')).toBe(true)
  })

  it('stays bounded, and rotating through 10,000 fresh source addresses does not reset an offender', () => {
    const a = new RateLimiter({burst: 2, perSecond: 0.001}, new FakeClock(), 64)
    // The offender empties its bucket …
    expect([1, 2, 3].map(() => a.admit('offender'))).toEqual([true, true, false])
    // … then opens connections from 10,000 other addresses, each once (well-behaved entries: a token left).
    for (let i = 0; i < 10_000; i++) expect(a.admit(`10.${i >> 8}.${i & 255}.1`)).toBe(true)
    expect(a.size).toBe(64)
    // Its bucket was kept: still refused.
    expect(a.admit('offender')).toBe(false)
  })

  it('forgets a well-behaved address before any offender, even a more recent one', () => {
    const b = new RateLimiter({burst: 2, perSecond: 0.001}, new FakeClock(), 3)
    for (let i = 0; i < 3; i++) b.admit('o1') // o1: an offender, the least recently seen
    b.admit('good') // one token left: well-behaved
    for (let i = 0; i < 3; i++) b.admit('o2') // o2: an offender
    b.admit('new') // the table is full: 'good' goes, not o1
    expect(b.size).toBe(3)
    expect(b.admit('o1')).toBe(false)
    expect(b.admit('o2')).toBe(false)
  })

  it('a table of nothing but offenders forgets the least recently seen one', () => {
    const a = new RateLimiter({burst: 1, perSecond: 0.001}, new FakeClock(), 2)
    for (const s of ['o1', 'o2']) {
      a.admit(s)
      a.admit(s)
    }
    a.admit('o2') // o2 seen again: o1 is the least recently seen
    expect(a.admit('fresh')).toBe(true)
    expect(a.size).toBe(2)
    expect(a.admit('o2')).toBe(false)
    expect(a.admit('o1')).toBe(true) // it was forgotten: a full bucket again
  })

  it('an offender whose bucket refilled counts as well-behaved again', async () => {
    const clock = new FakeClock()
    const a = new RateLimiter({burst: 1, perSecond: 1}, clock, 2)
    a.admit('o1')
    a.admit('o1')
    a.admit('o2')
    a.admit('o2')
    await clock.advance(1000) // both refilled
    a.admit('o2') // o2 takes its token: an offender again
    a.admit('new') // o1 (refilled, well-behaved) goes
    expect(a.admit('o2')).toBe(false)
    expect(a.size).toBe(2)
  })

  it('names the limit in its refusal', () => {
    const a = new RateLimiter({burst: 10, perSecond: 1}, new FakeClock(), 4096)
    expect(a.refusal('127.0.0.1')).toBe('rate limit: more than 10 connection attempts from 127.0.0.1 (1/s sustained)')
  })
})

describe('Admission (the caps, before any handshake)', () => {
  const limits = (over: Partial<InboundLimits> = {}): InboundLimits => ({
    rate: {burst: 1000, perSecond: 1000},
    rateLimitSources: 4096,
    maxConnections: 5,
    maxHandshakes: 3,
    maxHandshakesPerSource: 2,
    handshakeTimeoutMs: 10_000,
    ...over,
  })
  const ticket = (r: InboundTicket | {refused: string}): InboundTicket => {
    if ('refused' in r) throw new Error(`refused: ${r.refused}`)
    return r
  }
  const refusal = (r: InboundTicket | {refused: string}) => ('refused' in r ? r.refused : 'admitted')
  const never = () => {
    throw new Error('no handshake should expire here')
  }

  it('caps TLS handshakes per source address and in all; a finished handshake frees its slot', () => {
    const a = new Admission(limits(), new FakeClock())
    const t1 = ticket(a.admit('10.0.0.1', never))
    ticket(a.admit('10.0.0.1', never))
    expect(refusal(a.admit('10.0.0.1', never))).toBe('too many TLS handshakes in progress from 10.0.0.1: 2 (at most 2)')
    ticket(a.admit('10.0.0.2', never))
    expect(refusal(a.admit('10.0.0.3', never))).toBe('too many TLS handshakes in progress: 3 (at most 3)')
    expect(a.counts).toEqual({connections: 3, handshakes: 3})
    t1.handshakeDone()
    t1.handshakeDone() // idempotent
    expect(a.counts).toEqual({connections: 3, handshakes: 2})
    ticket(a.admit('10.0.0.1', never))
  })

  it('caps open connections, handshakes done or not; a closed connection frees its slot', () => {
    const a = new Admission(limits({maxHandshakesPerSource: 5, maxHandshakes: 5}), new FakeClock())
    const ts = Array.from({length: 5}, (_, i) => ticket(a.admit(`10.0.0.${i}`, never)))
    for (const t of ts) t.handshakeDone()
    expect(refusal(a.admit('10.0.0.9', never))).toBe('too many connections: 5 open (at most 5)')
    ts[0]!.release()
    ts[0]!.release() // idempotent
    expect(a.counts).toEqual({connections: 4, handshakes: 0})
    ticket(a.admit('10.0.0.9', never))
  })

  it('every attempt takes a token, refused by a cap or not: a flood empties its bucket', () => {
    const a = new Admission(limits({rate: {burst: 4, perSecond: 0.001}, maxHandshakesPerSource: 1}), new FakeClock())
    ticket(a.admit('10.0.0.1', never))
    expect(refusal(a.admit('10.0.0.1', never))).toMatch(/^too many TLS handshakes in progress from/)
    expect(refusal(a.admit('10.0.0.1', never))).toMatch(/^too many TLS handshakes in progress from/)
    expect(refusal(a.admit('10.0.0.1', never))).toMatch(/^too many TLS handshakes in progress from/)
    expect(refusal(a.admit('10.0.0.1', never))).toBe('rate limit: more than 4 connection attempts from 10.0.0.1 (0.001/s sustained)')
  })

  it('ends a handshake that does not finish within handshakeTimeoutMs (on the node clock) and frees its slot', async () => {
    const clock = new FakeClock()
    const a = new Admission(limits({maxHandshakes: 1}), clock)
    const expired: string[] = []
    const slow = ticket(a.admit('10.0.0.1', (reason) => expired.push(reason)))
    const fast = {expired: [] as string[]}
    expect(refusal(a.admit('10.0.0.2', (r) => fast.expired.push(r)))).toBe('too many TLS handshakes in progress: 1 (at most 1)')
    await clock.advance(9_999)
    expect(expired).toEqual([])
    await clock.advance(1)
    expect(expired).toEqual(['TLS handshake not completed within 10000 ms'])
    expect(a.counts).toEqual({connections: 1, handshakes: 0})
    slow.release()
    const done = ticket(a.admit('10.0.0.2', (r) => fast.expired.push(r)))
    done.handshakeDone()
    await clock.advance(60_000)
    expect(fast.expired).toEqual([])
    expect(clock.pendingTimers).toBe(0)
  })
})

describe('RefusalLog (a flood of refusals is not a flood of log lines)', () => {
  it('logs `burst` refusals per window one by one, then counts them and logs one summary when the window ends', async () => {
    const clock = new FakeClock()
    const lines: string[] = []
    const log = new RefusalLog(clock, 2, 60_000, (m) => lines.push(m))
    for (let i = 0; i < 5; i++) log.refused(`10.0.0.${i}:1`, 'rate limit')
    expect(lines).toEqual(['refused connection from 10.0.0.0:1: rate limit', 'refused connection from 10.0.0.1:1: rate limit'])
    await clock.advance(59_999)
    expect(lines).toHaveLength(2)
    await clock.advance(1)
    expect(lines.slice(2)).toEqual(['refused 3 more connections (more than 2 refusals within 60s are counted, not logged one by one)'])
    // A new window: one by one again.
    log.refused('10.0.0.9:1', 'too many connections')
    expect(lines.at(-1)).toBe('refused connection from 10.0.0.9:1: too many connections')
    expect(clock.pendingTimers).toBe(0)
  })

  it('flush() (the node closing) logs what is still counted at once', () => {
    const clock = new FakeClock()
    const lines: string[] = []
    const log = new RefusalLog(clock, 1, 60_000, (m) => lines.push(m))
    log.refused('a:1', 'x')
    log.refused('b:1', 'x')
    log.flush()
    expect(lines).toEqual(['refused connection from a:1: x', 'refused 1 more connection (more than 1 refusals within 60s are counted, not logged one by one)'])
    expect(clock.pendingTimers).toBe(0)
  })
})
