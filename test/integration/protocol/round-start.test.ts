/**
 * Who starts a round (issue #8 §6; draft §3, §5, §6.1): with extensions off there is no announcement, so the first
 * `READY[:<ROUND-ID>]` from the predecessor starts the round on a node that has not joined it; a READY without
 * ROUND-ID is the node's single current round. Tried with an independent draft-only Head that picks its own
 * ROUND-ID, and one that omits it, around one chainup node and around a chain of two; the wire order is checked from
 * the draft peers' side. The chainup nodes here join nothing themselves: the test plays `chainup node`'s agent
 * (on `roundAnnounced` it runs readiness, on `startTask` the device's task).
 */
import {randomUUID} from 'node:crypto'

import {afterEach, describe, expect, it} from 'vitest'

import {ChainSyncNode, type NodeLogEntry} from '../../../src/protocol/node.js'
import {systemClock} from '../../../src/util/clock.js'
import {FakeClock, until} from '../../helpers/fake-clock.js'
import {rawServer, type RawPeer} from './support/chain.js'
import {DraftPeer} from './support/draft-peer.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** Draft-peer Head, `count` chainup nodes (extensions off, joining nothing), draft-peer Tail. */
async function sandwich(count: number, headRound: string | undefined) {
  const timeline: string[] = []
  const names = ['head', ...Array.from({length: count}, (_, i) => `chainup${i + 1}`), 'tail']
  const task = {ms: 5, onStart: () => undefined, onFinish: () => undefined}
  // A Head that omits the ROUND-ID takes every line with one as an error (its round has none).
  const omit = headRound === undefined
  const head = new DraftPeer('head', headRound ?? '', false, true, task, omit, timeline)
  const tail = new DraftPeer('tail', headRound ?? '', true, false, task, omit, timeline)
  const logs: NodeLogEntry[] = []
  const nodes = names.slice(1, -1).map(
    (name, i) =>
      new ChainSyncNode({
        name,
        listen: {host: '127.0.0.1', port: 0},
        predecessor: {name: names[i]!, host: '127.0.0.1', port: 0},
        successor: {name: names[i + 2]!},
        extensions: false,
        predecessorTimeoutMs: 30_000,
        connectTimeoutMs: 5000,
        log: (e) => logs.push(e),
      }),
  )
  cleanup.push(async () => {
    head.close()
    tail.close()
    await Promise.all(nodes.map((n) => n.close()))
  })
  const announced: Array<{node: string; roundId: string; from: string; started: boolean}> = []
  const violations: string[] = []
  for (const node of nodes) {
    // chainup node's part: a started round runs readiness (here: a moment), then the task when START comes.
    node.on('roundAnnounced', ({roundId, from, started}) => {
      announced.push({node: node.name, roundId, from, started})
      node.join(roundId) // what the agent does: a no-op, the node joined already
      setTimeout(() => node.locallyReady(roundId), 10)
    })
    node.on('startTask', ({roundId}) => {
      timeline.push(`${node.name} starts its task`)
      setTimeout(() => {
        timeline.push(`${node.name} finished its task`)
        node.taskFinished(roundId)
      }, 5)
    })
    node.on('violation', ({reason, line}) => violations.push(`${node.name}: ${reason} (${line})`))
    node.on('halted', ({reason}) => violations.push(`${node.name} halted: ${reason}`))
  }
  await head.listen()
  for (const n of nodes) await n.listen()
  nodes[0]!.setPredecessorAddress('127.0.0.1', head.port)
  for (let i = 1; i < nodes.length; i++) nodes[i]!.setPredecessorAddress('127.0.0.1', nodes[i - 1]!.address.port)
  tail.dial(nodes.at(-1)!.address.port)
  await Promise.all([...nodes.map((n) => n.connect()), until(() => tail.connected && head.connected, 'the draft peers to connect', 5000)])
  return {head, tail, nodes, names, timeline, announced, violations, logs}
}

describe('without extensions, READY from the predecessor starts the round (draft §6.1; issue #8 §6)', () => {
  it.each([
    {count: 1, headRound: randomUUID(), what: 'a draft Head with its own ROUND-ID, around one chainup node'},
    {count: 2, headRound: randomUUID(), what: 'a draft Head with its own ROUND-ID, around a chain of two'},
    {count: 1, headRound: undefined, what: 'a draft Head omitting the ROUND-ID, around one chainup node'},
    {count: 2, headRound: undefined, what: 'a draft Head omitting the ROUND-ID, around a chain of two'},
  ])('$what: each node starts the round on READY, tasks run in order, the draft peers see the draft’s wire order', async ({count, headRound}) => {
    const {head, tail, nodes, names, timeline, announced, violations} = await sandwich(count, headRound)
    head.locallyReady()
    tail.locallyReady()
    await until(() => head.exited && tail.exited && nodes.every((n) => announced.some((a) => a.node === n.name && n.round(a.roundId)?.exited)), 'the round to finish everywhere', 5000)
    await systemClock.sleep(20) // let any stray line arrive (real time: the draft peers have no clock port)

    expect(violations).toEqual([])
    expect(head.errors).toEqual([])
    expect(tail.errors).toEqual([])
    // Each chainup node started the round once, on its predecessor's READY, under the Head's ROUND-ID or (without one)
    // a fresh UUID of its own.
    expect(announced.map((a) => [a.node, a.from, a.started])).toEqual(nodes.map((n) => [n.name, 'predecessor', true]))
    for (const a of announced) expect(a.roundId).toMatch(headRound === undefined ? UUID : new RegExp(`^${headRound}$`))
    if (headRound === undefined && count === 2) expect(announced[0]!.roundId).not.toBe(announced[1]!.roundId)

    // The draft peers saw exactly the draft's lines, in §6's order, with the Head's ROUND-ID or none.
    const id = headRound === undefined ? '' : `:${headRound}`
    const at = (entry: string) => {
      const i = timeline.indexOf(entry)
      expect(i, `"${entry}" in ${JSON.stringify(timeline)}`).toBeGreaterThanOrEqual(0)
      return i
    }
    const ofPeer = (name: string) => timeline.filter((e) => e.startsWith(`${name} `))
    expect(ofPeer('head')).toEqual([`head sent READY${id} to succ`, `head got START${id} from succ`, 'head starts its task', 'head finished its task', `head sent COMPLETE${id} to succ`, `head got COMPLETE${id} from succ`])
    expect(ofPeer('tail')).toEqual([`tail got READY${id} from pred`, `tail sent START${id} to pred`, `tail got COMPLETE${id} from pred`, 'tail starts its task', 'tail finished its task', `tail sent COMPLETE${id} to pred`])
    // §6.1-6.2: START comes back to the Head only after the Tail sent it; §6.3: strictly Head, chainup nodes, Tail.
    expect(at(`tail sent START${id} to pred`)).toBeLessThan(at(`head got START${id} from succ`))
    const order = names.map((n) => [at(`${n} starts its task`), at(`${n} finished its task`)] as const)
    for (let i = 1; i < order.length; i++) expect(order[i - 1]![1]).toBeLessThan(order[i]![0])
    // §6.4: the Head learns last that every node completed.
    expect(at(`head got COMPLETE${id} from succ`)).toBeGreaterThan(at('tail finished its task'))
    // 4(n-1) draft messages in the chain of n = count + 2.
    const nodeLines = nodes.reduce((s, n) => s + announced.filter((a) => a.node === n.name).reduce((t, a) => t + n.draftMessagesSent(a.roundId), 0), 0)
    expect(nodeLines + head.sent.length + tail.sent.length).toBe(4 * (count + 1))
  })
})

/**
 * One chainup node whose predecessor is a raw socket the test scripts: a Tail (`tail: true`), or a middle node whose
 * successor never comes. Extensions off unless asked.
 */
async function scriptedPredecessor(opts: {extensions?: boolean; tail?: boolean} = {}) {
  const server = await rawServer(() => undefined)
  const logs: NodeLogEntry[] = []
  const node = new ChainSyncNode({
    name: 'n2',
    listen: {host: '127.0.0.1', port: 0},
    predecessor: {name: 'n1', host: '127.0.0.1', port: server.port},
    ...(opts.tail ? {} : {successor: {name: 'n3'}}),
    extensions: opts.extensions ?? false,
    predecessorTimeoutMs: 30_000,
    log: (e) => logs.push(e),
    clock: new FakeClock(),
  })
  cleanup.push(() => node.close(), () => server.close())
  const announced: Array<{roundId: string; started: boolean}> = []
  const violations: string[] = []
  node.on('roundAnnounced', ({roundId, started}) => announced.push({roundId, started}))
  node.on('violation', ({reason}) => violations.push(reason))
  await node.listen()
  void node.connect().catch(() => undefined) // a middle node's successor never dials
  await until(() => server.accepted.length === 1, 'the node to dial')
  const pred: RawPeer = server.accepted[0]!
  if (opts.extensions) {
    await pred.waitLine(/^HELLO:n2$/)
    pred.socket.write('HELLO:n1\n')
  }
  return {node, pred, server, announced, violations, logs}
}

describe('who may start a round', () => {
  it('with extensions on, ROUND announcements stay the way in: a READY of an unknown round is still a violation', async () => {
    const {node, pred, announced, violations} = await scriptedPredecessor({extensions: true})
    const id = randomUUID()
    pred.socket.write(`READY:${id}\n`)
    await pred.waitClosed()
    expect(violations).toEqual([`unknown ROUND-ID ${id}`])
    expect(announced).toEqual([])
    expect(node.round(id)).toBeUndefined()
  })

  it('only READY from the predecessor starts a round: START or COMPLETE of an unknown round is a violation', async () => {
    const {node, pred, announced, violations} = await scriptedPredecessor()
    const id = randomUUID()
    pred.socket.write(`COMPLETE:${id}\n`)
    await pred.waitClosed()
    expect(violations).toEqual([`unknown ROUND-ID ${id}`])
    expect(announced).toEqual([])
    expect(node.round(id)).toBeUndefined()
  })

  it('a replayed READY of a round this node completed and forgot does not start it again; one of a halted round does (a resumed run)', async () => {
    const {node, pred, server, announced, violations, logs} = await scriptedPredecessor({tail: true})
    const done = randomUUID()
    node.on('startTask', ({roundId}) => node.taskFinished(roundId))
    // Round `done` runs to its end on this Tail: READY, (ready) START back, COMPLETE, task, COMPLETE back.
    pred.socket.write(`READY:${done}\n`)
    await until(() => announced.length === 1, 'the round to start')
    node.locallyReady(done)
    await pred.waitLine(new RegExp(`^START:${done}$`))
    pred.socket.write(`COMPLETE:${done}\n`)
    await pred.waitLine(new RegExp(`^COMPLETE:${done}$`))
    expect(node.round(done)).toMatchObject({state: 'COMPLETE', exited: true})
    node.forget(done)
    // The predecessor replays its lines of the round (as after a reconnect): ignored, no second round.
    pred.socket.write(`READY:${done}\nCOMPLETE:${done}\n`)
    await until(() => logs.some((l) => l.message === `READY of round ${done}, which this node completed, ignored (a replay)`), 'the replayed READY')
    expect(announced).toHaveLength(1)
    expect(node.round(done)).toBeUndefined()
    // The replayed COMPLETE of the forgotten round is a violation (unknown ROUND-ID) that closes the link, as before.
    await pred.waitClosed()
    expect(violations).toEqual([`unknown ROUND-ID ${done}`])

    // A halted round is not remembered: its READY starts it again (a resumed run reuses the run's id).
    await until(() => server.accepted.length === 2, 'the redial')
    const again = server.accepted[1]!
    const halted = randomUUID()
    again.socket.write(`READY:${halted}\n`)
    await until(() => announced.length === 2, 'the round to start')
    node.abort(halted, 'test: halted')
    node.forget(halted)
    again.socket.write(`READY:${halted}\n`)
    await until(() => announced.length === 3, 'the halted round to start again')
    expect(announced.map((a) => a.roundId)).toEqual([done, halted, halted])
    expect(node.round(halted)).toMatchObject({state: 'SYNC', predecessorReady: true, aborted: undefined})
  })

  it('a READY without ROUND-ID while no round is live starts one under a fresh UUID; the node answers without ROUND-ID', async () => {
    const {node, pred, announced, violations, logs} = await scriptedPredecessor()
    pred.socket.write('READY\n')
    await until(() => announced.length === 1, 'the round to start')
    const {roundId} = announced[0]!
    expect(roundId).toMatch(UUID)
    expect(announced[0]!.started).toBe(true)
    expect(logs.map((l) => l.message)).toContain(`round ${roundId} started by READY from predecessor n1 (without ROUND-ID: this node names it)`)
    expect(node.round(roundId)).toMatchObject({state: 'SYNC', predecessorReady: true})
    // A second READY without ROUND-ID is a duplicate of the live round's, not another round (the line after it shows
    // it was read: an unknown command closes the link).
    pred.socket.write('READY\nBOGUS\n')
    await pred.waitClosed()
    expect(announced).toHaveLength(1)
    expect(violations).toEqual(['unknown command "BOGUS"'])
  })

  it('without ROUND-ID: a READY after the round completed is a replay (ignored); one after it was halted begins the next round', async () => {
    const {node, pred, server, announced, violations, logs} = await scriptedPredecessor({tail: true})
    node.on('startTask', ({roundId}) => node.taskFinished(roundId))
    pred.socket.write('READY\n')
    await until(() => announced.length === 1, 'the round to start')
    const first = announced[0]!.roundId
    node.locallyReady(first)
    await pred.waitLine(/^START$/)
    pred.socket.write('COMPLETE\n')
    await pred.waitLine(/^COMPLETE$/)
    expect(node.round(first)).toMatchObject({exited: true})
    // Not forgotten yet: the READY is the completed round's (a duplicate), the line after it shows it was read.
    pred.socket.write('READY\nBOGUS\n')
    await pred.waitClosed()
    expect(announced).toHaveLength(1)
    expect(violations).toEqual(['unknown command "BOGUS"'])
    expect(logs.map((l) => l.message)).toContain(`duplicate READY from predecessor in round ${first} ignored`)
    node.forget(first)
    // A halted round (not forgotten): the next READY without ROUND-ID begins a new round.
    await until(() => server.accepted.length === 2, 'the redial')
    const again = server.accepted[1]!
    again.socket.write('READY\n')
    await until(() => announced.length === 2, 'the second round')
    const second = announced[1]!.roundId
    node.abort(second, 'test: halted')
    again.socket.write('READY\n')
    await until(() => announced.length === 3, 'the third round')
    const third = announced[2]!.roundId
    expect(new Set([first, second, third]).size).toBe(3)
    expect(node.round(third)).toMatchObject({state: 'SYNC', predecessorReady: true, aborted: undefined})
  })

  it('the round started without ROUND-ID answers without one (START to the predecessor)', async () => {
    const {node, pred, announced} = await scriptedPredecessor({tail: true})
    pred.socket.write('READY\n')
    await until(() => announced.length === 1, 'the round to start')
    node.locallyReady(announced[0]!.roundId)
    expect(await pred.waitLine(/^START/)).toBe('START')
  })
})
