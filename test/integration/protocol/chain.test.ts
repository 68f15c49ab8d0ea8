import {randomUUID} from 'node:crypto'

import {afterEach, describe, expect, it} from 'vitest'

import {closeChain, startLocalChain, type ChainSyncNode} from '../../../src/protocol/index.js'
import {FakeClock} from '../../helpers/fake-clock.js'
import {conduct, Traffic} from './support/conductor.js'

let nodes: ChainSyncNode[] = []
afterEach(async () => {
  await closeChain(nodes)
  nodes = []
})

/**
 * Runs one round on a fake clock where every task takes `taskMs(i)` and readiness arrives after `readyMs(i)`; the
 * clock moves to the next of those only when no line is in flight. Returns the order tasks ran in and when.
 */
async function runRound(n: number, readyMs: (i: number) => number, taskMs: (i: number) => number, extensions = true) {
  const clock = new FakeClock()
  const roundStart = clock.now()
  nodes = await startLocalChain({names: Array.from({length: n}, (_, i) => `n${i + 1}`), predecessorTimeoutMs: 10_000, extensions, clock})
  const roundId = randomUUID()
  const started: string[] = []
  const finished: string[] = []
  const readyAt: number[] = []
  const startAt: number[] = []
  const traffic = new Traffic(nodes)
  for (const node of nodes) node.join(roundId)
  let over = false
  const done = new Promise<void>((resolve, reject) => {
    nodes[0]!.on('exit', ({chainDone}) => (chainDone ? resolve() : reject(new Error('head exit without chainDone'))))
    for (const node of nodes) node.on('halted', ({reason}) => reject(new Error(reason)))
  }).finally(() => (over = true))
  nodes.forEach((node, i) => {
    node.on('startTask', () => {
      started.push(node.name)
      startAt.push(clock.now())
      clock.setTimeout(() => {
        finished.push(node.name)
        node.taskFinished(roundId)
      }, taskMs(i))
    })
    clock.setTimeout(() => {
      readyAt.push(clock.now())
      node.locallyReady(roundId)
    }, readyMs(i))
  })
  await Promise.all([done, conduct(clock, traffic, () => over)])
  traffic.stop()
  const messages = nodes.reduce((sum, node) => sum + node.draftMessagesSent(roundId), 0)
  return {started, finished, messages, roundStart, lastReady: Math.max(...readyAt), firstStart: Math.min(...startAt), roundId}
}

describe('ChainSync over real TCP (draft §6)', () => {
  for (const n of [1, 2, 3, 4, 7]) {
    it(`runs a round of ${n} nodes Head→Tail with exactly 4(n-1) = ${4 * (n - 1)} messages`, async () => {
      const r = await runRound(n, (i) => (n - i) * 5, () => 5)
      const names = Array.from({length: n}, (_, i) => `n${i + 1}`)
      expect(r.started).toEqual(names)
      expect(r.finished).toEqual(names)
      expect(r.messages).toBe(4 * (n - 1))
    })
  }

  it('starts no task before the last node is locally ready (readiness barrier)', async () => {
    // The middle node becomes ready last, long after the others (and the others' lines have all arrived by then).
    const r = await runRound(4, (i) => (i === 2 ? 300 : 5), () => 5)
    expect(r.lastReady).toBe(r.roundStart + 300)
    expect(r.firstStart).toBeGreaterThanOrEqual(r.lastReady)
    expect(r.started).toEqual(['n1', 'n2', 'n3', 'n4'])
  })

  it('sends the same 4(n-1) messages with extensions off (draft-only wire)', async () => {
    const r = await runRound(5, () => 1, () => 1, false)
    expect(r.messages).toBe(16)
    expect(r.started).toEqual(['n1', 'n2', 'n3', 'n4', 'n5'])
  })

  it('puts exactly the draft §5 lines on the wire between two nodes', async () => {
    nodes = await startLocalChain({names: ['a', 'b'], predecessorTimeoutMs: 10_000, clock: new FakeClock()})
    const roundId = randomUUID()
    const wire: string[] = []
    nodes[0]!.on('sent', ({line}) => wire.push(`a>${line}`))
    nodes[1]!.on('sent', ({line}) => wire.push(`b>${line}`))
    for (const node of nodes) node.join(roundId)
    const done = new Promise<void>((resolve) => nodes[0]!.on('exit', () => resolve()))
    for (const node of nodes) node.on('startTask', () => setImmediate(() => node.taskFinished(roundId)))
    nodes[0]!.locallyReady(roundId)
    nodes[1]!.locallyReady(roundId)
    await done
    expect(wire).toEqual([`a>READY:${roundId}`, `b>START:${roundId}`, `a>EXECUTING:${roundId}`, `a>COMPLETE:${roundId}`, `b>COMPLETE:${roundId}`])
  })

  it('halts the chain when the predecessor works longer than the predecessor timeout, measured from its start', async () => {
    const clock = new FakeClock()
    const t0 = clock.now()
    nodes = await startLocalChain({names: ['s1', 's2', 's3'], predecessorTimeoutMs: 400, clock})
    const roundId = randomUUID()
    const traffic = new Traffic(nodes)
    for (const node of nodes) node.join(roundId)
    const timeouts: Array<{node: string; predecessor: string; waitedMs: number; at: number}> = []
    const halted: string[] = []
    const started: Array<{node: string; at: number}> = []
    for (const node of nodes) {
      node.on('predecessorTimeout', ({predecessor, waitedMs}) => timeouts.push({node: node.name, predecessor, waitedMs, at: clock.now() - t0}))
      node.on('halted', () => halted.push(node.name))
      node.on('startTask', () => {
        started.push({node: node.name, at: clock.now() - t0})
        // s1 takes 300 ms (under the timeout, though s3 waits longer than 400 ms in WATCH overall); s2 never finishes.
        if (node.name === 's1') clock.setTimeout(() => node.taskFinished(roundId), 300)
      })
      node.locallyReady(roundId)
    }
    await conduct(clock, traffic, () => halted.length === 3)
    traffic.stop()
    expect(started).toEqual([
      {node: 's1', at: 0},
      {node: 's2', at: 300},
    ])
    // s3's timer ran from s2's start (EXECUTING at 300), not from when s3 entered WATCH (at 0): it fires at 700.
    expect(timeouts).toEqual([{node: 's3', predecessor: 's2', waitedMs: 400, at: 700}])
    for (const n of nodes) expect(n.round(roundId)?.aborted).toBeDefined()
  })
})
