/**
 * Fault handling of the ChainSync transport (draft §9 leaves it to the implementation; docs/chainsync.md):
 * link loss and reconnect with replay, reconnect grace, heartbeats, ABORT propagation, dial retry,
 * per-source rate limit, round cap, and TCP segmentation around the greeting.
 */
import {randomUUID} from 'node:crypto'

import {afterEach, describe, expect, it} from 'vitest'

import {ChainSyncNode, NODE_LIMITS, type NodeLogEntry} from '../../src/protocol/node.js'
import {checkTrace, ControlledTransport, driveRound, freePort, rawConnect, rawServer, sleep, startChain, waitFor, type RawPeer} from './support/chain.js'

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
    const logs: NodeLogEntry[] = []
    const ctl = Array.from({length: 4}, () => new ControlledTransport())
    const nodes = track(await startChain({names: ['n1', 'n2', 'n3', 'n4'], logs, common: {extensions, reconnectGraceMs: 5000}, perNode: (i) => ({transport: ctl[i]!.transport})}))
    const roundId = randomUUID()
    const reconnects: string[] = []
    nodes.forEach((n) => n.on('linkUp', ({side: s, reconnect}) => reconnect && reconnects.push(`${n.name}:${s}`)))
    const draftIn = new Map<string, number>()
    for (const n of nodes) n.on('received', ({line}) => /^(READY|START|COMPLETE)(:|$)/.test(line) && void draftIn.set(n.name, (draftIn.get(n.name) ?? 0) + 1))
    const trace = await driveRound(nodes, roundId, {
      readyMs: (i) => i * 3,
      taskMs: () => 5,
      runTask: (i, finish) => {
        if (i !== 1) return false
        // n2 is working: cut its link to n3, then finish at once, so COMPLETE goes into a dead link.
        setTimeout(() => {
          const socket = side === 'dialer' ? ctl[2]!.live('dialed') : ctl[1]!.live('accepted')
          if (cut === 'reset') (socket as unknown as {resetAndDestroy(): void}).resetAndDestroy()
          else socket.destroy()
          finish()
        }, 20)
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
    const logs: NodeLogEntry[] = []
    const ctl = Array.from({length: 4}, () => new ControlledTransport())
    const graceMs = 300
    const nodes = track(await startChain({names: ['n1', 'n2', 'n3', 'n4'], logs, common: {reconnectGraceMs: graceMs}, perNode: (i) => ({transport: ctl[i]!.transport})}))
    const roundId = randomUUID()
    const halted: Array<{node: string; reason: string; origin: string; at: number}> = []
    const started: string[] = []
    let cutAt = 0
    for (const n of nodes) {
      n.join(roundId)
      n.on('halted', ({reason, origin}) => halted.push({node: n.name, reason, origin, at: Date.now() - cutAt}))
      n.on('startTask', () => {
        started.push(n.name)
        if (n.name === 'n1') setTimeout(() => n.taskFinished(roundId), 5)
        if (n.name === 'n2') {
          // n2 is working: n3 loses its link to n2 and cannot redial.
          ctl[2]!.blockDialing = true
          cutAt = Date.now()
          ctl[2]!.live('dialed').destroy()
          setTimeout(() => n.taskFinished(roundId), 50)
        }
      })
    }
    for (const n of nodes) n.locallyReady(roundId)
    await waitFor(() => halted.length === 4, graceMs + 3000, 'every node to halt')
    const byNode = Object.fromEntries(halted.map((h) => [h.node, h]))
    expect(byNode.n2).toMatchObject({origin: 'local', reason: `connection to successor n3 lost for more than ${graceMs}ms`})
    expect(byNode.n3).toMatchObject({origin: 'local', reason: `connection to predecessor n2 lost for more than ${graceMs}ms`})
    // Each side noticed on its own (neither waited for the other's ABORT, which cannot cross the dead link) …
    expect(byNode.n2!.at).toBeGreaterThanOrEqual(graceMs - 20)
    expect(byNode.n3!.at).toBeGreaterThanOrEqual(graceMs - 20)
    // … and ABORT carried it to the rest of the chain.
    expect(byNode.n1).toMatchObject({origin: 'successor', reason: byNode.n2!.reason})
    expect(byNode.n4).toMatchObject({origin: 'predecessor', reason: byNode.n3!.reason})
    expect(ctl[2]!.dialAttempts).toBeGreaterThan(1)
    // Even if the link came back now, nothing more starts.
    ctl[2]!.blockDialing = false
    await sleep(400)
    expect(started).toEqual(['n1', 'n2'])
    for (const n of nodes) expect(n.round(roundId)?.aborted).toBeDefined()
  })
})

describe('faults: heartbeats (extension)', () => {
  const heartbeatMs = 100

  it('a successor that completes HELLO and then goes silent is declared dead within 3 × heartbeatMs', async () => {
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({name: 'sw1', listen: {host: '127.0.0.1', port: 0}, successor: {name: 'sw2'}, predecessorTimeoutMs: 10_000, heartbeatMs, log: (e) => logs.push(e)})
    track([head])
    await head.listen()
    const down: string[] = []
    head.on('linkDown', ({reason}) => down.push(reason))
    const raw = trackPeer(await rawConnect(head.address.port))
    raw.socket.write('HELLO:sw2\n')
    await raw.waitLine(/^HELLO:sw1$/)
    const t0 = Date.now()
    await raw.waitClosed(3 * heartbeatMs + 2000)
    const elapsed = Date.now() - t0
    expect(down).toEqual(['heartbeat timeout'])
    expect(messages(logs).some((m) => /^no data from successor for \d+ms: link dead$/.test(m))).toBe(true)
    // Not early (3 silent intervals; t0 is taken a moment after the node's last data), and not later than
    // 3 intervals plus 150 ms of slack for a loaded machine (docs/chainsync.md: "with extensions within 3 × heartbeat").
    expect(elapsed).toBeGreaterThanOrEqual(3 * heartbeatMs - 15)
    expect(elapsed).toBeLessThanOrEqual(3 * heartbeatMs + 150)
    // The node did send heartbeats meanwhile.
    expect(raw.lines.filter((l) => l === 'HEARTBEAT').length).toBeGreaterThanOrEqual(2)
  })

  it('a predecessor that answers HELLO and then goes silent is declared dead, and the node redials', async () => {
    const logs: NodeLogEntry[] = []
    const server = await rawServer((peer) => {
      void peer.waitLine(/^HELLO:sw2$/).then(() => peer.socket.write('HELLO:sw1\n'), () => undefined)
    })
    cleanup.push(() => server.close())
    const node = new ChainSyncNode({name: 'sw2', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'sw1', host: '127.0.0.1', port: server.port}, predecessorTimeoutMs: 10_000, heartbeatMs, log: (e) => logs.push(e)})
    track([node])
    await node.listen()
    const t0 = Date.now()
    await node.connect()
    await waitFor(() => server.accepted.length >= 2, 3 * heartbeatMs + 2000, 'a redial after the silent link died')
    expect(Date.now() - t0).toBeLessThanOrEqual(3 * heartbeatMs + 150)
    expect(server.accepted[0]!.closed).toBe(true)
    expect(messages(logs, 'sw2').some((m) => /^no data from predecessor for \d+ms: link dead$/.test(m))).toBe(true)
  })

  it('heartbeats keep an idle link alive far beyond 3 intervals', async () => {
    const nodes = track(await startChain({names: ['a', 'b'], common: {heartbeatMs: 50}}))
    const down: string[] = []
    for (const n of nodes) n.on('linkDown', ({reason}) => down.push(reason))
    await sleep(50 * 12)
    expect(down).toEqual([])
  })
})

describe('faults: ABORT propagation (extension)', () => {
  it('aborting a middle node halts every node of the chain within 1 s, with no timeout involved', async () => {
    const nodes = track(await startChain({names: ['n1', 'n2', 'n3', 'n4', 'n5'], common: {predecessorTimeoutMs: 60_000, reconnectGraceMs: 60_000, heartbeatMs: 60_000}}))
    const roundId = randomUUID()
    const halted = new Map<string, {reason: string; origin: string; ms: number}>()
    const started: string[] = []
    let abortAt = 0
    for (const n of nodes) {
      n.join(roundId)
      n.on('halted', ({reason, origin}) => halted.set(n.name, {reason, origin, ms: Date.now() - abortAt}))
      n.on('startTask', () => {
        started.push(n.name)
        // While n1 works (n2…n5 wait in WATCH), an operator stops n3.
        if (n.name === 'n1') {
          abortAt = Date.now()
          nodes[2]!.abort(roundId, 'operator pressed stop')
        }
      })
    }
    for (const n of nodes) n.locallyReady(roundId)
    await waitFor(() => halted.size === 5, 1000, 'all five nodes to halt')
    expect(Math.max(...[...halted.values()].map((h) => h.ms))).toBeLessThan(1000)
    expect(Object.fromEntries([...halted].map(([k, v]) => [k, `${v.origin}: ${v.reason}`]))).toEqual({
      n1: 'successor: operator pressed stop',
      n2: 'successor: operator pressed stop',
      n3: 'local: operator pressed stop',
      n4: 'predecessor: operator pressed stop',
      n5: 'predecessor: operator pressed stop',
    })
    // n1 finishing now changes nothing: no COMPLETE goes out, no further task starts.
    const before = nodes.map((n) => n.draftMessagesSent(roundId))
    nodes[0]!.taskFinished(roundId)
    await sleep(100)
    expect(started).toEqual(['n1'])
    expect(nodes.map((n) => n.draftMessagesSent(roundId))).toEqual(before)
  })
})

describe('faults: connecting', () => {
  it('a successor started 1.5 s before its predecessor listens still connects (dialer backoff)', async () => {
    const logs: NodeLogEntry[] = []
    const port = await freePort()
    const succ = new ChainSyncNode({name: 'late2', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'late1', host: '127.0.0.1', port}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 10_000, log: (e) => logs.push(e)})
    track([succ])
    await succ.listen()
    const t0 = Date.now()
    const connected = succ.connect()
    await sleep(1500)
    const head = new ChainSyncNode({name: 'late1', listen: {host: '127.0.0.1', port}, successor: {name: 'late2'}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 10_000})
    track([head])
    await head.listen()
    await Promise.all([connected, head.connect()])
    // Backoff 50 ms doubling to 2 s: the next attempt after 1.5 s comes within ~2 s.
    expect(Date.now() - t0).toBeLessThan(1500 + 2000 + 500)
    const failures = messages(logs, 'late2').filter((m) => m.startsWith(`dialing predecessor late1 at 127.0.0.1:${port}:`))
    expect(failures.length).toBeGreaterThanOrEqual(3)
    const trace = await driveRound([head, succ], randomUUID(), {readyMs: () => 0, taskMs: () => 1})
    expect(checkTrace(trace, 2)).toBeUndefined()
  })

  it('a predecessor that never listens: connect() rejects after connectTimeoutMs naming the unreachable address', async () => {
    const port = await freePort()
    const node = new ChainSyncNode({name: 'orphan', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'ghost', host: '127.0.0.1', port}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 700})
    track([node])
    await node.listen()
    const t0 = Date.now()
    const error = await node.connect().then(
      () => undefined,
      (e: unknown) => e as Error,
    )
    const elapsed = Date.now() - t0
    expect(error?.message).toBe(`node orphan: cannot reach predecessor ghost at 127.0.0.1:${port} within 700ms`)
    expect(elapsed).toBeGreaterThanOrEqual(690)
    expect(elapsed).toBeLessThan(700 + 1000)
  })

  it('a successor that never dials: the Head’s connect() rejects naming it', async () => {
    const head = new ChainSyncNode({name: 'lonely', listen: {host: '127.0.0.1', port: 0}, successor: {name: 'absent'}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 300})
    track([head])
    await head.listen()
    await expect(head.connect()).rejects.toThrow('node lonely: successor absent did not connect within 300ms')
  })
})

describe('faults: per-source rate limit', () => {
  /** Opens `count` connections at once; resolves with how many the node closed at once (refused). */
  async function burst(port: number, count: number): Promise<number> {
    const peers = await Promise.all(Array.from({length: count}, () => rawConnect(port).then(trackPeer)))
    await sleep(200)
    return peers.filter((p) => p.closed).length
  }

  it(`refuses the attempts beyond NODE_LIMITS.connectBurst (${NODE_LIMITS.connectBurst}) from one address and logs "rate limit"`, async () => {
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({name: 'rl1', listen: {host: '127.0.0.1', port: 0}, successor: {name: 'rl2'}, predecessorTimeoutMs: 10_000, log: (e) => logs.push(e)})
    track([head])
    await head.listen()
    const extra = 5
    expect(await burst(head.address.port, NODE_LIMITS.connectBurst + extra)).toBe(extra)
    const refusals = messages(logs).filter((m) => /rate limit/.test(m))
    expect(refusals).toHaveLength(extra)
    expect(refusals[0]).toMatch(new RegExp(`^refused connection from 127\\.0\\.0\\.1:\\d+: rate limit: more than ${NODE_LIMITS.connectBurst} connection attempts from 127\\.0\\.0\\.1 \\(${NODE_LIMITS.connectPerSecond}/s sustained\\)$`))
    // The bucket refills at connectPerSecond: a second later one more attempt is admitted.
    await sleep(1100)
    expect(await burst(head.address.port, 1)).toBe(0)
  })

  it('connectRateLimit overrides the limit per node', async () => {
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({name: 'rl1', listen: {host: '127.0.0.1', port: 0}, successor: {name: 'rl2'}, predecessorTimeoutMs: 10_000, connectRateLimit: {burst: 3, perSecond: 0.001}, log: (e) => logs.push(e)})
    track([head])
    await head.listen()
    expect(await burst(head.address.port, 5)).toBe(2)
    expect(messages(logs).filter((m) => /rate limit: more than 3 connection attempts/.test(m))).toHaveLength(2)
  })
})

describe('faults: round cap', () => {
  const cap = NODE_LIMITS.maxActiveRounds

  it(`joining more than ${cap} active rounds is refused; a finished or halted round frees its slot`, async () => {
    const node = new ChainSyncNode({name: 'cap', listen: {host: '127.0.0.1', port: 0}, predecessorTimeoutMs: 10_000})
    const ids = Array.from({length: cap}, () => randomUUID())
    for (const id of ids) node.join(id)
    expect(() => node.join(randomUUID())).toThrow(`node cap: already in ${cap} rounds`)
    // Re-joining a round it is in is not a new round.
    expect(() => node.join(ids[0]!)).not.toThrow()
    node.abort(ids[0]!, 'done with it')
    expect(() => node.join(randomUUID())).not.toThrow()
    expect(() => node.join(randomUUID())).toThrow(/already in/)
  })

  it(`a neighbour announcing a round beyond the cap is refused (connection closed, logged); one within the cap is offered`, async () => {
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, predecessorTimeoutMs: 10_000, log: (e) => logs.push(e)})
    track([head])
    await head.listen()
    const announced: string[] = []
    head.on('roundAnnounced', ({roundId}) => announced.push(roundId))
    const ids = Array.from({length: cap - 1}, () => randomUUID())
    for (const id of ids) head.join(id)
    // Below the cap: offered to the application, link stays up.
    const first = randomUUID()
    const raw = trackPeer(await rawConnect(head.address.port))
    raw.socket.write(`HELLO:s\nROUND:${first}\nROUND:${ids[0]}\n`)
    await waitFor(() => announced.length === 1, 2000, 'the announcement')
    expect(announced).toEqual([first])
    expect(raw.closed).toBe(false)
    head.join(first)
    // At the cap: a new announcement is refused; one of a joined round is still fine.
    const snapshots = ids.map((id) => head.round(id))
    raw.socket.write(`ROUND:${ids[1]}\nROUND:${randomUUID()}\n`)
    await raw.waitClosed()
    expect(messages(logs).filter((m) => m.startsWith('closing connection to successor:'))).toEqual([expect.stringMatching(new RegExp(`^closing connection to successor: more than ${cap} concurrent rounds \\(line "ROUND:[0-9a-f-]+"\\)$`))])
    expect(announced).toEqual([first])
    expect(ids.map((id) => head.round(id))).toEqual(snapshots)
  })
})

describe('faults: TCP segmentation around the greeting', () => {
  it('a line split across segments right after the listener’s HELLO is reassembled (dialer side)', async () => {
    const roundId = randomUUID()
    const server = await rawServer((peer) => {
      void peer.waitLine(/^HELLO:n2$/).then(async () => {
        peer.socket.write('HELLO:n1\nREA')
        await sleep(30)
        peer.socket.write(`DY:${roundId}\n`)
      })
    })
    cleanup.push(() => server.close())
    const node = new ChainSyncNode({name: 'n2', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'n1', host: '127.0.0.1', port: server.port}, successor: {name: 'n3'}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 300})
    track([node])
    node.join(roundId)
    node.locallyReady(roundId)
    const violations: string[] = []
    node.on('violation', ({reason}) => violations.push(reason))
    await node.listen()
    await node.connect().catch(() => undefined) // the successor never dials; only the predecessor link matters here
    await waitFor(() => node.round(roundId)?.predecessorReady === true || violations.length > 0, 2000, 'READY or a violation')
    expect(violations).toEqual([])
    expect(node.round(roundId)).toMatchObject({state: 'READY', predecessorReady: true})
  })

  it('a line split across segments right after the dialer’s HELLO is reassembled (listener side)', async () => {
    const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, predecessorTimeoutMs: 10_000})
    track([head])
    await head.listen()
    const roundId = randomUUID()
    head.join(roundId)
    head.locallyReady(roundId)
    const started: string[] = []
    const violations: string[] = []
    head.on('startTask', ({roundId: r}) => started.push(r))
    head.on('violation', ({reason}) => violations.push(reason))
    const raw = trackPeer(await rawConnect(head.address.port))
    raw.socket.write('HELLO:s\nSTA')
    await sleep(30)
    raw.socket.write(`RT:${roundId}\n`)
    await waitFor(() => started.length > 0 || violations.length > 0, 2000, 'START or a violation')
    expect(violations).toEqual([])
    expect(started).toEqual([roundId])
  })

  it('lines that follow a violation in the same segment as HELLO are not acted on', async () => {
    const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, predecessorTimeoutMs: 10_000})
    track([head])
    await head.listen()
    const roundId = randomUUID()
    head.join(roundId)
    head.locallyReady(roundId)
    const before = head.round(roundId)
    const started: string[] = []
    const violations: string[] = []
    head.on('startTask', ({roundId: r}) => started.push(r))
    head.on('violation', ({reason}) => violations.push(reason))
    const raw = trackPeer(await rawConnect(head.address.port))
    raw.socket.write(`HELLO:s\nBOGUS\nSTART:${roundId}\n`)
    await raw.waitClosed()
    await sleep(50)
    expect(violations).toEqual(['unknown command "BOGUS"'])
    expect(started).toEqual([])
    expect(head.round(roundId)).toEqual(before)
  })
})
