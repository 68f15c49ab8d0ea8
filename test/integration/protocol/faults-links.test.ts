/**
 * Fault handling of the ChainSync transport (draft §9 leaves it to the implementation; docs/chainsync.md), links:
 * link loss and reconnect with replay, reconnect grace, heartbeats, ABORT propagation. Every node runs on a
 * {@link FakeClock}; the sockets are real (loopback TCP).
 */
import {randomUUID} from 'node:crypto'

import {afterEach, describe, expect, it} from 'vitest'

import {ChainSyncNode, type NodeLogEntry} from '../../../src/protocol/node.js'
import {FakeClock, until} from '../../helpers/fake-clock.js'
import {checkTrace, ControlledTransport, driveRound, rawConnect, rawServer, startChain, type RawPeer} from './support/chain.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})
const track = (nodes: ChainSyncNode[]) => {
  cleanup.push(() => Promise.all(nodes.map((n) => n.close())).then(() => undefined))
  return nodes
}
const trackPeer = (peer: RawPeer) => {
  cleanup.push(() => void peer.socket.destroy())
  return peer
}
const messages = (logs: NodeLogEntry[], node?: string) => logs.filter((l) => node === undefined || l.node === node).map((l) => l.message)

describe('faults: a link dropped mid-round (reconnect, replay, duplicate suppression)', () => {
  it.each([
    {extensions: true, cut: 'destroy', side: 'dialer'},
    {extensions: true, cut: 'destroy', side: 'listener'},
    {extensions: true, cut: 'reset', side: 'listener'},
    {extensions: false, cut: 'destroy', side: 'dialer'},
    {extensions: false, cut: 'destroy', side: 'listener'},
    {extensions: false, cut: 'reset', side: 'listener'},
    {extensions: false, cut: 'reset', side: 'dialer'},
  ] as const)('extensions=$extensions, $cut on the $side side between n2 and n3 while n2 works: the round completes, nothing lost, duplicates ignored', async ({extensions, cut, side}) => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const ctl = Array.from({length: 4}, () => new ControlledTransport())
    const nodes = track(await startChain({names: ['n1', 'n2', 'n3', 'n4'], logs, common: {extensions, reconnectGraceMs: 5000, clock}, perNode: (i) => ({transport: ctl[i]!.transport})}))
    const roundId = randomUUID()
    const reconnects: string[] = []
    nodes.forEach((n) => n.on('linkUp', ({side: s, reconnect}) => reconnect && reconnects.push(`${n.name}:${s}`)))
    const draftIn = new Map<string, number>()
    const n3Got: string[] = []
    for (const n of nodes) n.on('received', ({line}) => /^(READY|START|COMPLETE)(:|$)/.test(line) && void draftIn.set(n.name, (draftIn.get(n.name) ?? 0) + 1))
    nodes[2]!.on('received', ({line}) => n3Got.push(line))
    const trace = await driveRound(nodes, roundId, {
      clock,
      readyMs: (i) => i * 3,
      taskMs: () => 5,
      runTask: (i, finish) => {
        if (i !== 1) return false
        // n2 is working: once n3 has its EXECUTING (with extensions), cut the link, then finish at once, so COMPLETE
        // goes into a dead link.
        void until(() => !extensions || n3Got.includes(`EXECUTING:${roundId}`), 'n3 to receive EXECUTING').then(() => {
          const socket = side === 'dialer' ? ctl[2]!.live('dialed') : ctl[1]!.live('accepted')
          if (cut === 'reset') (socket as unknown as {resetAndDestroy(): void}).resetAndDestroy()
          else socket.destroy()
          finish()
        })
        return true
      },
    })
    expect(checkTrace(trace, 4)).toBeUndefined()
    expect(nodes.reduce((sum, n) => sum + n.draftMessagesSent(roundId), 0)).toBe(12)
    expect(reconnects.sort()).toEqual(['n2:successor', 'n3:predecessor'])
    // Every draft line that arrived was either used once or logged as an ignored duplicate.
    const duplicates = logs.filter((l) => /^duplicate (READY|START|COMPLETE) from .* ignored$/.test(l.message))
    const totalIn = [...draftIn.values()].reduce((a, b) => a + b, 0)
    expect(totalIn - duplicates.length).toBe(12)
    // n3 had READY from n2 before the cut: the replayed copy is a duplicate; n2 had START from n3 likewise.
    expect(messages(logs, 'n3')).toContain(`duplicate READY from predecessor in round ${roundId} ignored`)
    expect(messages(logs, 'n2')).toContain(`duplicate START from successor in round ${roundId} ignored`)
    if (extensions) expect(messages(logs, 'n3')).toContain(`duplicate EXECUTING from predecessor in round ${roundId} ignored`)
    expect(logs.filter((l) => /closing connection/.test(l.message))).toEqual([])
  })

  it('a link that stays down longer than reconnectGraceMs fails the round on both sides of it, and no further task starts', async () => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const ctl = Array.from({length: 4}, () => new ControlledTransport())
    const graceMs = 300
    const nodes = track(await startChain({names: ['n1', 'n2', 'n3', 'n4'], logs, common: {reconnectGraceMs: graceMs, clock}, perNode: (i) => ({transport: ctl[i]!.transport})}))
    const roundId = randomUUID()
    const halted: Array<{node: string; reason: string; origin: string; at: number}> = []
    const started: string[] = []
    const down: string[] = []
    const n3Got: string[] = []
    let cutAt = 0
    for (const n of nodes) {
      n.join(roundId)
      n.on('halted', ({reason, origin}) => halted.push({node: n.name, reason, origin, at: clock.now() - cutAt}))
      n.on('linkDown', ({side}) => down.push(`${n.name}:${side}`))
      n.on('startTask', () => {
        started.push(n.name)
        if (n.name === 'n1') clock.setTimeout(() => n.taskFinished(roundId), 5)
        if (n.name === 'n2') {
          // n2 is working: n3 loses its link to n2 and cannot redial.
          ctl[2]!.blockDialing = true
          cutAt = clock.now()
          ctl[2]!.live('dialed').destroy()
          clock.setTimeout(() => n.taskFinished(roundId), 50)
        }
      })
    }
    nodes[2]!.on('received', ({line}) => n3Got.push(line))
    for (const n of nodes) n.locallyReady(roundId)
    await until(() => started.includes('n1'), 'n1 to start')
    await clock.advance(5)
    await until(() => down.includes('n2:successor') && down.includes('n3:predecessor'), 'both ends of the cut link to notice')
    // n2 finishes into the dead link; one moment before the grace period is over nothing has halted yet …
    await clock.advance(graceMs - 1)
    expect(halted).toEqual([])
    // … and at its end both sides halt, each on its own timer.
    await clock.advance(1)
    await until(() => halted.length === 4, 'every node to halt')
    const byNode = Object.fromEntries(halted.map((h) => [h.node, h]))
    expect(byNode.n2).toMatchObject({origin: 'local', reason: `connection to successor n3 lost for more than ${graceMs}ms`})
    expect(byNode.n3).toMatchObject({origin: 'local', reason: `connection to predecessor n2 lost for more than ${graceMs}ms`})
    // Each side noticed on its own (neither waited for the other's ABORT, which cannot cross the dead link) …
    expect(byNode.n2!.at).toBe(graceMs)
    expect(byNode.n3!.at).toBe(graceMs)
    // … and ABORT carried it to the rest of the chain.
    expect(byNode.n1).toMatchObject({origin: 'successor', reason: byNode.n2!.reason})
    expect(byNode.n4).toMatchObject({origin: 'predecessor', reason: byNode.n3!.reason})
    expect(ctl[2]!.dialAttempts).toBeGreaterThan(1)
    // Even if the link came back now, nothing more starts: n2's queued COMPLETE and ABORT reach n3 and change nothing.
    ctl[2]!.blockDialing = false
    await clock.runNext() // n3's next redial
    await until(() => n3Got.some((l) => l.startsWith(`ABORT:${roundId}`)), "n2's queued lines to reach n3 on the new link")
    await clock.settle()
    expect(n3Got).toContain(`COMPLETE:${roundId}`)
    expect(started).toEqual(['n1', 'n2'])
    for (const n of nodes) expect(n.round(roundId)?.aborted).toBeDefined()
  })
})

describe('faults: heartbeats (extension)', () => {
  const heartbeatMs = 100

  it('a successor that completes HELLO and then goes silent is declared dead after exactly 3 × heartbeatMs', async () => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({name: 'sw1', listen: {host: '127.0.0.1', port: 0}, successor: {name: 'sw2'}, predecessorTimeoutMs: 10_000, heartbeatMs, log: (e) => logs.push(e), clock})
    track([head])
    await head.listen()
    const down: string[] = []
    head.on('linkDown', ({reason}) => down.push(reason))
    const raw = trackPeer(await rawConnect(head.address.port))
    raw.socket.write('HELLO:sw2\n')
    await raw.waitLine(/^HELLO:sw1$/)
    // Not early: one moment before 3 silent intervals the link is still up …
    await clock.advance(3 * heartbeatMs - 1)
    expect(down).toEqual([])
    // … and not late (docs/chainsync.md: "with extensions within 3 × heartbeat").
    await clock.advance(1)
    expect(down).toEqual(['heartbeat timeout'])
    await raw.waitClosed()
    expect(messages(logs)).toContain(`no data from successor for ${3 * heartbeatMs}ms: link dead`)
    // The node did send heartbeats meanwhile.
    expect(raw.lines.filter((l) => l === 'HEARTBEAT').length).toBeGreaterThanOrEqual(2)
  })

  it('a predecessor that answers HELLO and then goes silent is declared dead, and the node redials', async () => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const server = await rawServer((peer) => {
      void peer.waitLine(/^HELLO:sw2$/).then(() => peer.socket.write('HELLO:sw1\n'), () => undefined)
    })
    cleanup.push(() => server.close())
    const node = new ChainSyncNode({name: 'sw2', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'sw1', host: '127.0.0.1', port: server.port}, predecessorTimeoutMs: 10_000, heartbeatMs, log: (e) => logs.push(e), clock})
    track([node])
    await node.listen()
    const down: string[] = []
    node.on('linkDown', ({reason}) => down.push(reason))
    await node.connect()
    await clock.advance(3 * heartbeatMs - 1)
    expect(down).toEqual([])
    await clock.advance(1)
    expect(down).toEqual(['heartbeat timeout'])
    expect(messages(logs, 'sw2')).toContain(`no data from predecessor for ${3 * heartbeatMs}ms: link dead`)
    await until(() => server.accepted[0]!.closed, 'the silent link to be closed')
    // The link lived less than a second: the redial waits the first short-lived-link pause (100 ms), then dials.
    await clock.advance(99)
    expect(server.accepted).toHaveLength(1)
    await clock.advance(1)
    await until(() => server.accepted.length >= 2, 'a redial after the silent link died')
  })

  it('heartbeats keep an idle link alive far beyond 3 intervals', async () => {
    const clock = new FakeClock()
    const nodes = track(await startChain({names: ['a', 'b'], common: {heartbeatMs: 50, clock}}))
    const down: string[] = []
    const beats = [0, 0]
    nodes.forEach((n, i) => {
      n.on('linkDown', ({reason}) => down.push(reason))
      n.on('received', ({line}) => line === 'HEARTBEAT' && beats[i]!++)
    })
    // 12 intervals, each heartbeat delivered (real I/O) before the clock moves on.
    for (let k = 1; k <= 12; k++) {
      await clock.advance(50)
      await until(() => beats[0]! >= k && beats[1]! >= k, `heartbeat #${k} both ways`)
    }
    expect(down).toEqual([])
  })
})

describe('faults: ABORT propagation (extension)', () => {
  it('aborting a middle node halts every node of the chain, with no timer involved (the clock never moves)', async () => {
    const clock = new FakeClock()
    const t0 = clock.now()
    const nodes = track(await startChain({names: ['n1', 'n2', 'n3', 'n4', 'n5'], common: {predecessorTimeoutMs: 60_000, reconnectGraceMs: 60_000, heartbeatMs: 60_000, clock}}))
    const roundId = randomUUID()
    const halted = new Map<string, {reason: string; origin: string}>()
    const started: string[] = []
    for (const n of nodes) {
      n.join(roundId)
      n.on('halted', ({reason, origin}) => halted.set(n.name, {reason, origin}))
      n.on('startTask', () => {
        started.push(n.name)
        // While n1 works (n2…n5 wait in WATCH), an operator stops n3.
        if (n.name === 'n1') nodes[2]!.abort(roundId, 'operator pressed stop')
      })
    }
    for (const n of nodes) n.locallyReady(roundId)
    await until(() => halted.size === 5, 'all five nodes to halt')
    expect(clock.now()).toBe(t0)
    expect(Object.fromEntries([...halted].map(([k, v]) => [k, `${v.origin}: ${v.reason}`]))).toEqual({
      n1: 'successor: operator pressed stop',
      n2: 'successor: operator pressed stop',
      n3: 'local: operator pressed stop',
      n4: 'predecessor: operator pressed stop',
      n5: 'predecessor: operator pressed stop',
    })
    // n1 finishing now changes nothing: no COMPLETE goes out (nothing is sent at all), no further task starts.
    const before = nodes.map((n) => n.draftMessagesSent(roundId))
    const sent: string[] = []
    nodes[0]!.on('sent', ({line}) => sent.push(line))
    nodes[0]!.taskFinished(roundId)
    await clock.settle()
    expect(sent).toEqual([])
    expect(started).toEqual(['n1'])
    expect(nodes.map((n) => n.draftMessagesSent(roundId))).toEqual(before)
  })
})
