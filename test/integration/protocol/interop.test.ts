/**
 * Interoperability and ROUND-ID conformance (draft-dohmeyer-chainsync-03 §3, §5, §6):
 * - chainup nodes with extensions off interoperate with an independent, minimal draft-only peer;
 * - concurrent rounds on one chain, told apart by ROUND-ID, do not interfere.
 */
import {randomUUID} from 'node:crypto'

import {afterEach, describe, expect, it} from 'vitest'

import {ChainSyncNode} from '../../../src/protocol/node.js'
import {systemClock} from '../../../src/util/clock.js'
import {until} from '../../helpers/fake-clock.js'
import {checkTrace, driveRound, rawConnect, startChain, type TraceEvent} from './support/chain.js'
import {DraftPeer} from './support/draft-peer.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

// --- mixed chains --------------------------------------------------------------------------------------------

type Member = {kind: 'peer'; peer: DraftPeer} | {kind: 'node'; node: ChainSyncNode}

async function mixedChain(layout: ReadonlyArray<'peer' | 'node'>, roundId: string, omitRoundId: boolean) {
  const n = layout.length
  const names = layout.map((k, i) => `${k === 'peer' ? 'draft' : 'chainup'}${i + 1}`)
  const order: string[] = []
  const events: string[] = []
  const task = {
    ms: 5,
    onStart: (name: string) => {
      order.push(name)
      events.push(`start ${name}`)
    },
    onFinish: (name: string) => void events.push(`finish ${name}`),
  }
  const members: Member[] = layout.map((kind, i) =>
    kind === 'peer'
      ? {kind, peer: new DraftPeer(names[i]!, roundId, i > 0, i < n - 1, task, omitRoundId)}
      : {
          kind,
          node: new ChainSyncNode({
            name: names[i]!,
            listen: {host: '127.0.0.1', port: 0},
            ...(i > 0 ? {predecessor: {name: names[i - 1]!, host: '127.0.0.1', port: 0}} : {}),
            ...(i < n - 1 ? {successor: {name: names[i + 1]!}} : {}),
            extensions: false,
            predecessorTimeoutMs: 30_000,
            connectTimeoutMs: 5000,
          }),
        },
  )
  cleanup.push(async () => {
    for (const m of members) if (m.kind === 'peer') m.peer.close()
    await Promise.all(members.map((m) => (m.kind === 'node' ? m.node.close() : undefined)))
  })
  const port = (m: Member) => (m.kind === 'peer' ? m.peer.port : m.node.address.port)
  for (const m of members) await (m.kind === 'peer' ? m.peer.listen() : m.node.listen())
  // Every chainup node joins before any line can reach it.
  for (const m of members) if (m.kind === 'node') m.node.join(roundId)
  members.forEach((m, i) => {
    if (i === 0) return
    if (m.kind === 'peer') m.peer.dial(port(members[i - 1]!))
    else m.node.setPredecessorAddress('127.0.0.1', port(members[i - 1]!))
  })
  await Promise.all(members.map((m) => (m.kind === 'node' ? m.node.connect() : until(() => m.peer.connected, `${m.peer.name} to connect`, 5000))))
  return {members, names, order, events}
}

describe('interop: chainup (extensions off) and an independent draft-only peer in one chain (draft §3, §5, §6)', () => {
  const odd = ['peer', 'node', 'peer', 'node', 'peer'] as const // draft peers at positions 1, 3, 5
  const even = ['node', 'peer', 'node', 'peer', 'node'] as const // draft peers at positions 2, 4
  it.each([
    {name: 'draft peers at 1,3,5', layout: odd, omitRoundId: false},
    {name: 'draft peers at 2,4', layout: even, omitRoundId: false},
    {name: 'draft peers at 1,3,5', layout: odd, omitRoundId: true},
    {name: 'draft peers at 2,4', layout: even, omitRoundId: true},
  ])('$name (peers omit ROUND-ID: $omitRoundId): tasks run in order, 4(n-1) messages, only draft lines on the wire', async ({layout, omitRoundId}) => {
    const roundId = randomUUID()
    const {members, names, order, events} = await mixedChain(layout, roundId, omitRoundId)
    const nodeWire: string[] = []
    const violations: string[] = []
    for (const m of members) {
      if (m.kind !== 'node') continue
      const node = m.node
      node.on('sent', ({line}) => nodeWire.push(line))
      node.on('received', ({line}) => nodeWire.push(line))
      node.on('violation', ({reason}) => violations.push(`${node.name}: ${reason}`))
      node.on('halted', ({reason}) => violations.push(`${node.name} halted: ${reason}`))
      node.on('startTask', () => {
        order.push(node.name)
        events.push(`start ${node.name}`)
        setTimeout(() => {
          events.push(`finish ${node.name}`)
          node.taskFinished(roundId)
        }, 5)
      })
    }
    // Readiness in a scrambled order.
    const readyOrder = [3, 0, 4, 1, 2]
    readyOrder.forEach((i, k) =>
      setTimeout(() => {
        events.push(`ready ${names[i]}`)
        const m = members[i]!
        if (m.kind === 'peer') m.peer.locallyReady()
        else m.node.locallyReady(roundId)
      }, k * 10),
    )
    const exited = () => members.every((m) => (m.kind === 'peer' ? m.peer.exited : m.node.round(roundId)?.exited))
    await until(exited, 'every member to exit', 5000)
    await systemClock.sleep(20) // let any stray line arrive (real time: the draft-only peer has no clock port)

    expect(order).toEqual(names)
    // Readiness barrier: every member was ready before the first task started.
    expect(events.findIndex((e) => e.startsWith('start'))).toBeGreaterThan(Math.max(...names.map((nm) => events.indexOf(`ready ${nm}`))))
    for (let i = 1; i < names.length; i++) expect(events.indexOf(`finish ${names[i - 1]}`)).toBeLessThan(events.indexOf(`start ${names[i]}`))
    expect(violations).toEqual([])

    const peers = members.flatMap((m) => (m.kind === 'peer' ? [m.peer] : []))
    const nodes = members.flatMap((m) => (m.kind === 'node' ? [m.node] : []))
    for (const p of peers) expect(p.errors).toEqual([])
    // 4(n-1) = 16 draft messages in all: what the chainup nodes sent plus what the draft peers sent.
    expect(nodes.reduce((s, node) => s + node.draftMessagesSent(roundId), 0) + peers.reduce((s, p) => s + p.sent.length, 0)).toBe(16)
    // The draft peers received exactly the draft's lines, each once, in the draft's order per side.
    const id = `:${roundId}`
    members.forEach((m, i) => {
      if (m.kind !== 'peer') return
      const fromPred = m.peer.received.filter((r) => r.from === 'pred').map((r) => r.line)
      const fromSucc = m.peer.received.filter((r) => r.from === 'succ').map((r) => r.line)
      // A neighbour that is a draft peer omits the ROUND-ID when asked to; chainup always sends it.
      const suffix = (j: number) => (members[j]?.kind === 'peer' && omitRoundId ? '' : id)
      expect(fromPred).toEqual(i === 0 ? [] : [`READY${suffix(i - 1)}`, `COMPLETE${suffix(i - 1)}`])
      expect(fromSucc).toEqual(i === members.length - 1 ? [] : [`START${suffix(i + 1)}`, `COMPLETE${suffix(i + 1)}`])
    })
    // Nothing but READY/START/COMPLETE crossed any chainup node's links: no HELLO, HEARTBEAT, EXECUTING, ABORT, ROUND.
    expect(nodeWire.length).toBeGreaterThan(0)
    for (const line of nodeWire) expect(line).toMatch(/^(READY|START|COMPLETE)(:[0-9a-f-]{36})?$/)
  })
})

// --- draft §5: concurrent rounds ---------------------------------------------------------------------------

describe('draft §5 ROUND-ID: two concurrent rounds on one chain of 4', () => {
  const starts = (trace: TraceEvent[], kind: 'start' | 'finish') => trace.filter((e) => e.kind === kind).map((e) => e.at)

  it('run at the same time, each in order with exactly 4(n-1) messages', async () => {
    const nodes = await startChain({names: ['c1', 'c2', 'c3', 'c4']})
    cleanup.push(() => Promise.all(nodes.map((n) => n.close())).then(() => undefined))
    const a = randomUUID()
    const b = randomUUID()
    for (const n of nodes) {
      n.join(a)
      n.join(b)
    }
    const [ta, tb] = await Promise.all([
      // Round A: readiness Tail→Head, slow tasks.
      driveRound(nodes, a, {readyMs: (i) => (3 - i) * 15, taskMs: () => 40}, true),
      // Round B: scrambled readiness, fast tasks.
      driveRound(nodes, b, {readyMs: (i) => [30, 0, 45, 10][i]!, taskMs: () => 25}, true),
    ])
    expect(checkTrace(ta, 4)).toBeUndefined()
    expect(checkTrace(tb, 4)).toBeUndefined()
    expect(nodes.reduce((s, n) => s + n.draftMessagesSent(a), 0)).toBe(12)
    expect(nodes.reduce((s, n) => s + n.draftMessagesSent(b), 0)).toBe(12)
    // They really overlapped: each round had a task start while the other round was still running tasks.
    expect(Math.min(...starts(tb, 'start'))).toBeLessThan(Math.max(...starts(ta, 'finish')))
    expect(Math.min(...starts(ta, 'start'))).toBeLessThan(Math.max(...starts(tb, 'finish')))
  })

  it("one round's halt does not halt the other", async () => {
    const nodes = await startChain({names: ['c1', 'c2', 'c3', 'c4']})
    cleanup.push(() => Promise.all(nodes.map((n) => n.close())).then(() => undefined))
    const a = randomUUID()
    const b = randomUUID()
    for (const n of nodes) {
      n.join(a)
      n.join(b)
    }
    const haltedA: string[] = []
    const haltedOther: string[] = []
    const startedA: string[] = []
    let lastHaltA = 0
    let lastStartB = 0
    for (const n of nodes) {
      n.on('halted', ({roundId}) => {
        ;(roundId === a ? haltedA : haltedOther).push(n.name)
        if (roundId === a) lastHaltA = Date.now()
      })
      n.on('startTask', ({roundId}) => roundId === b && (lastStartB = Date.now()))
      n.on('startTask', ({roundId}) => {
        if (roundId !== a) return
        startedA.push(n.name)
        // Round A: c1's task starts; a moment later c3 aborts round A.
        setTimeout(() => nodes[2]!.abort(a, 'round A stopped by c3'), 10)
      })
      n.locallyReady(a)
    }
    const tb = await driveRound(nodes, b, {readyMs: (i) => i * 5, taskMs: () => 30}, true)
    expect(checkTrace(tb, 4)).toBeUndefined()
    expect(nodes.reduce((s, n) => s + n.draftMessagesSent(b), 0)).toBe(12)
    await until(() => haltedA.length === 4, 'round A to halt everywhere', 1000)
    expect(haltedOther).toEqual([])
    expect(startedA).toEqual(['c1'])
    // Round A was halted everywhere while round B was still under way (B's last task started afterwards).
    expect(lastHaltA).toBeLessThan(lastStartB)
    for (const n of nodes) {
      expect(n.round(a)?.aborted).toBe('round A stopped by c3')
      expect(n.round(b)).toMatchObject({state: 'COMPLETE', exited: true, aborted: undefined})
    }
  })

  it('a line without ROUND-ID is refused while two rounds are live (draft §5 allows omitting it only with one round)', async () => {
    const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, predecessorTimeoutMs: 10_000})
    cleanup.push(() => head.close())
    await head.listen()
    const a = randomUUID()
    const b = randomUUID()
    head.join(a)
    head.join(b)
    head.locallyReady(a)
    head.locallyReady(b)
    const before = [head.round(a), head.round(b)]
    const violations: string[] = []
    head.on('violation', ({reason}) => violations.push(reason))
    const raw = await rawConnect(head.address.port)
    cleanup.push(() => void raw.socket.destroy())
    raw.socket.write('HELLO:s\nSTART\n')
    await raw.waitClosed()
    expect(violations).toEqual(['unknown ROUND-ID (none)'])
    expect([head.round(a), head.round(b)]).toEqual(before)
  })
})
