/** run/halt.ts: first cause wins, stop vs halt, halting through the chain. */
import {describe, expect, it} from 'vitest'

import {RunHalt} from '../../src/run/halt.js'

describe('RunHalt', () => {
  it('the first cause wins; the signal carries the first abort reason', () => {
    const halt = new RunHalt()
    halt.record('vetoed', 'after gate "window" vetoed', true)
    halt.record('failed', 'sw3: link lost')
    halt.abort('veto')
    halt.abort('later')
    expect(halt.cause).toEqual({status: 'vetoed', reason: 'after gate "window" vetoed', rollback: true})
    expect(halt.signal.aborted).toBe(true)
    expect(halt.signal.reason).toBe('veto')
  })

  it('override replaces the cause (a rollback outcome, a stack-wide veto)', () => {
    const halt = new RunHalt()
    halt.record('failed', 'sw2 failed', true)
    halt.override({status: 'failed', reason: 'sw2 failed; rolled back sw2, sw1'})
    expect(halt.cause).toEqual({status: 'failed', reason: 'sw2 failed; rolled back sw2, sw1'})
  })

  it('a stop only marks the run; the first stop stands', () => {
    const halt = new RunHalt()
    expect(halt.requestStop('failed', 'timeout: the run exceeded timeouts.run (1m)')).toBe(true)
    expect(halt.signal.aborted).toBe(false)
    expect(halt.cause).toBeUndefined()
    expect(halt.stopRequested()).toEqual({status: 'failed', reason: 'timeout: the run exceeded timeouts.run (1m)'})
    expect(halt.requestStop('cancelled', 'cancelled by the operator')).toBe(false)
    expect(halt.stopRequested()?.status).toBe('failed')
  })

  it('while a chain runs, haltNow goes through the chain (so the nodes send ABORT), otherwise it aborts locally', () => {
    const halt = new RunHalt()
    const viaChain: string[] = []
    halt.routeThroughChain((status, reason) => viaChain.push(`${status}: ${reason}`))
    halt.haltNow('cancelled', 'second interrupt')
    expect(viaChain).toEqual(['cancelled: second interrupt'])
    expect(halt.signal.aborted).toBe(false)
    expect(halt.cause).toMatchObject({status: 'cancelled', reason: 'second interrupt'})
    halt.routeThroughChain(undefined)
    halt.haltNow('failed', 'after the chain')
    expect(halt.signal.aborted).toBe(true)
    expect(halt.cause?.reason).toBe('second interrupt')
  })
})
