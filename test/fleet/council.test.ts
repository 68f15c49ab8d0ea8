import {describe, expect, it} from 'vitest'

import {parkReason, runCouncil, type StackControl, type StackOutcome} from '../../src/fleet/council.js'
import type {ChainStatus} from '../../src/model/status.js'

/** A fake stack: resolves when the test says so; parks (cancelled) when the council stops it. */
function fakeStacks(n: number) {
  const started: number[] = []
  const running = new Set<number>()
  let peak = 0
  const finishers = new Map<number, (o: StackOutcome) => void>()
  const controls = new Map<number, StackControl>()
  const run = (_s: number, i: number, control: StackControl) =>
    new Promise<StackOutcome>((resolve) => {
      started.push(i)
      running.add(i)
      peak = Math.max(peak, running.size)
      controls.set(i, control)
      const done = (o: StackOutcome) => {
        running.delete(i)
        resolve(o)
      }
      finishers.set(i, done)
      // the device in progress finishes, then the stack parks
      control.stop.addEventListener('abort', () => setImmediate(() => done({kind: 'ran', status: 'cancelled', reason: parkReason(control.stop)})), {once: true})
    })
  const finish = async (i: number, status: ChainStatus, reason: string | null = null) => {
    await tick()
    finishers.get(i)?.({kind: 'ran', status, reason})
    await tick()
  }
  return {stacks: Array.from({length: n}, (_, i) => i), run, started, running, finish, controls, peak: () => peak}
}

const tick = () => new Promise((r) => setImmediate(r))

describe('runCouncil (DEC-002 CouncilExecutor)', () => {
  it('runs every stack, at most `concurrency` at once, in order, and completes when all complete', async () => {
    const f = fakeStacks(5)
    const p = runCouncil({stacks: f.stacks, concurrency: 2, run: f.run})
    await tick()
    expect(f.started).toEqual([0, 1])
    await f.finish(1, 'completed')
    expect(f.started).toEqual([0, 1, 2])
    for (const i of [0, 2, 3, 4]) await f.finish(i, 'completed')
    const r = await p
    expect(r).toEqual({status: 'completed', reason: null, outcomes: Array(5).fill({kind: 'ran', status: 'completed', reason: null})})
    expect(f.peak()).toBe(2)
  })

  it('defaults to one stack at a time', async () => {
    const f = fakeStacks(3)
    const p = runCouncil({stacks: f.stacks, run: f.run})
    for (const i of [0, 1, 2]) {
      await f.finish(i, 'completed')
    }
    await p
    expect(f.peak()).toBe(1)
  })

  it('a vetoed stack halts the fleet: no new stack starts, running stacks park, status vetoed', async () => {
    const f = fakeStacks(5)
    const p = runCouncil({stacks: f.stacks, concurrency: 2, run: f.run, label: (s) => `s${s}`})
    await f.finish(0, 'vetoed', 'before gate "window" vetoed: closed')
    const r = await p
    expect(f.started).toEqual([0, 1])
    expect(r.status).toBe('vetoed')
    expect(r.reason).toBe('s0 vetoed: before gate "window" vetoed: closed')
    expect(r.outcomes[1]).toEqual({kind: 'ran', status: 'cancelled', reason: 'parked: the fleet halted because s0 was vetoed'})
    expect(r.outcomes.slice(2)).toEqual(Array(3).fill({kind: 'not_started', reason: 'not started: the fleet halted (s0 vetoed: before gate "window" vetoed: closed)'}))
  })

  it('a failed stack is reported and the others go on (no --max-failed)', async () => {
    const f = fakeStacks(3)
    const p = runCouncil({stacks: f.stacks, concurrency: 1, run: f.run})
    await f.finish(0, 'failed', 'sw2 did not come back')
    await f.finish(1, 'completed')
    await f.finish(2, 'failed')
    const r = await p
    expect(f.started).toEqual([0, 1, 2])
    expect(r.status).toBe('failed')
    expect(r.reason).toBe('2 of 3 stacks did not complete: stack 1 failed, stack 3 failed')
  })

  it('--max-failed K failed stacks stop the fleet: running stacks park, the rest do not start', async () => {
    const f = fakeStacks(6)
    const p = runCouncil({stacks: f.stacks, concurrency: 2, maxFailed: 2, run: f.run})
    await f.finish(0, 'failed')
    expect(f.started).toEqual([0, 1, 2])
    await f.finish(2, 'failed')
    const r = await p
    expect(f.started).toEqual([0, 1, 2])
    expect(r.status).toBe('failed')
    expect(r.reason).toBe('2 failed stacks reached --max-failed 2')
    expect(r.outcomes[1]).toMatchObject({status: 'cancelled', reason: 'parked: the fleet stopped after 2 failed stacks (--max-failed 2)'})
    expect(r.outcomes.slice(3).every((o) => o.kind === 'not_started')).toBe(true)
  })

  it('the operator cancels: running stacks park, nothing new starts, status cancelled', async () => {
    const f = fakeStacks(4)
    const cancel = new AbortController()
    const p = runCouncil({stacks: f.stacks, concurrency: 2, run: f.run, cancel: cancel.signal})
    await tick()
    cancel.abort('SIGINT')
    const r = await p
    expect(r.status).toBe('cancelled')
    expect(r.outcomes.map((o) => (o.kind === 'ran' ? o.status : o.kind))).toEqual(['cancelled', 'cancelled', 'not_started', 'not_started'])
  })

  it('passes the kill signal through and gives each stack its slot', async () => {
    const kill = new AbortController()
    const slots: number[] = []
    const r = await runCouncil({
      stacks: [1, 2, 3],
      concurrency: 2,
      kill: kill.signal,
      run: async (_s, _i, c) => {
        expect(c.kill).toBe(kill.signal)
        slots.push(c.slot)
        return {kind: 'ran', status: 'completed', reason: null}
      },
    })
    expect(r.status).toBe('completed')
    expect(slots.sort()).toEqual([0, 0, 1].sort())
  })

  it('a stack that did not start (locked) or threw is reported; the fleet fails but goes on', async () => {
    const r = await runCouncil({
      stacks: ['a', 'b', 'c'],
      label: (s) => s,
      run: async (s) => {
        if (s === 'a') return {kind: 'not_started', reason: 'stack a is being upgraded by run X'}
        if (s === 'b') throw new Error('port in use')
        return {kind: 'ran', status: 'completed', reason: null}
      },
    })
    expect(r.outcomes).toEqual([
      {kind: 'not_started', reason: 'stack a is being upgraded by run X'},
      {kind: 'ran', status: 'failed', reason: 'error: port in use'},
      {kind: 'ran', status: 'completed', reason: null},
    ])
    expect(r).toMatchObject({status: 'failed', reason: '2 of 3 stacks did not complete: a not started, b failed'})
  })

  it('refuses a concurrency or max-failed below 1', async () => {
    await expect(runCouncil({stacks: [], concurrency: 0, run: async () => ({kind: 'not_started', reason: ''})})).rejects.toThrow(RangeError)
    await expect(runCouncil({stacks: [], maxFailed: 0, run: async () => ({kind: 'not_started', reason: ''})})).rejects.toThrow(RangeError)
  })
})
