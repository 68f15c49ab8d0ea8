/** run/stop.ts: cancel, second interrupt and timeouts.run on a fake clock (seed 001 §6.1, docs/runs.md "Cancel"). */
import {describe, expect, it} from 'vitest'

import {RunEvents} from '../../src/model/events.js'
import {RunHalt} from '../../src/run/halt.js'
import {watchStop} from '../../src/run/stop.js'
import {FakeClock} from '../helpers/fake-clock.js'

function setUp(working: boolean, runTimeoutMs?: number) {
  const halt = new RunHalt()
  const events = new RunEvents()
  const seen: string[] = []
  events.on('log', (l) => seen.push(`log: ${l.message}`))
  halt.signal.addEventListener('abort', () => seen.push(`halted: ${String(halt.signal.reason)}`))
  const cancel = new AbortController()
  const kill = new AbortController()
  const clock = new FakeClock()
  const detach = watchStop(halt, events, {cancel: cancel.signal, kill: kill.signal, runTimeoutMs, working: () => working, clock})
  return {halt, seen, cancel, kill, clock, detach}
}

describe('watchStop', () => {
  it('a cancel while nothing works says so, then halts at once', () => {
    const {halt, seen, cancel} = setUp(false)
    cancel.abort()
    expect(seen).toEqual(['log: cancelled by the operator: stopping now', 'halted: cancelled by the operator'])
    expect(halt.cause).toMatchObject({status: 'cancelled'})
  })

  it('a cancel while a device works only marks the stop; a second interrupt halts at once', () => {
    const {halt, seen, cancel, kill} = setUp(true)
    cancel.abort()
    expect(seen).toEqual(['log: cancelled by the operator: the device in progress finishes, then the chain stops'])
    expect(halt.signal.aborted).toBe(false)
    kill.abort()
    expect(halt.signal.aborted).toBe(true)
    expect(halt.cause?.reason).toBe('cancelled by the operator (second interrupt: stopped at once)')
  })

  it('timeouts.run stops the run when it passes, not before; detaching clears the timer', async () => {
    const {halt, clock, detach} = setUp(true, 60_000)
    await clock.advance(59_999)
    expect(halt.stopRequested()).toBeUndefined()
    await clock.advance(1)
    expect(halt.stopRequested()).toEqual({status: 'failed', reason: 'timeout: the run exceeded timeouts.run (1m 00s)'})
    const other = setUp(true, 60_000)
    other.detach()
    expect(other.clock.pendingTimers).toBe(0)
    detach()
  })
})
