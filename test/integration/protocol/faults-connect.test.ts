/**
 * Fault handling of the ChainSync transport (draft §9 leaves it to the implementation; docs/chainsync.md),
 * connecting: dial retry and backoff, connect timeouts, per-source rate limit, round announcements beyond the cap,
 * and TCP segmentation around the greeting. Every node runs on a {@link FakeClock}; the sockets are real.
 */
import {randomUUID} from 'node:crypto'

import {afterEach, describe, expect, it} from 'vitest'

import {ChainSyncNode, NODE_LIMITS, type NodeLogEntry} from '../../../src/protocol/node.js'
import {FakeClock, until} from '../../helpers/fake-clock.js'
import {checkTrace, ControlledTransport, driveRound, freePort, rawConnect, rawServer, type RawPeer} from './support/chain.js'

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

/** The clock time of every failed dial attempt (logged at debug level as it fails; no fake time passes in a dial). */
function dialFailures(clock: FakeClock, logs: NodeLogEntry[], port: number): {log: (e: NodeLogEntry) => void; at: number[]} {
  const at: number[] = []
  const t0 = clock.now()
  return {
    at,
    log: (e) => {
      logs.push(e)
      if (e.message.startsWith(`dialing predecessor `) && e.message.includes(`127.0.0.1:${port}:`)) at.push(clock.now() - t0)
    },
  }
}

/** A promise's state without waiting for it. */
function watch<T>(p: Promise<T>): {settled: () => boolean; value: () => T | Error | undefined} {
  let settled = false
  let value: T | Error | undefined
  p.then(
    (v) => ((settled = true), (value = v)),
    (e: unknown) => ((settled = true), (value = e as Error)),
  )
  return {settled: () => settled, value: () => value}
}

describe('faults: connecting', () => {
  it('a successor started 1.5 s before its predecessor listens still connects (dialer backoff)', async () => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const port = await freePort()
    const failures = dialFailures(clock, logs, port)
    const succ = new ChainSyncNode({name: 'late2', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'late1', host: '127.0.0.1', port}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 10_000, log: failures.log, clock})
    track([succ])
    await succ.listen()
    const t0 = clock.now()
    const connected = succ.connect()
    // Nobody listens: attempts fail, each followed by a backoff of 50 ms doubling.
    for (let k = 1; k <= 5; k++) {
      await until(() => failures.at.length === k, `failed dial #${k}`)
      if (k < 5) await clock.runNext()
    }
    expect(failures.at).toEqual([0, 50, 150, 350, 750])
    await clock.advance(1500 - 750)
    const head = new ChainSyncNode({name: 'late1', listen: {host: '127.0.0.1', port}, successor: {name: 'late2'}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 10_000, clock})
    track([head])
    await head.listen()
    // The next attempt, 800 ms after the one at 750 ms, reaches it.
    await clock.advance(50)
    await Promise.all([connected, head.connect()])
    expect(clock.now() - t0).toBe(1550)
    expect(failures.at).toHaveLength(5)
    const trace = await driveRound([head, succ], randomUUID(), {clock, readyMs: () => 0, taskMs: () => 1})
    expect(checkTrace(trace, 2)).toBeUndefined()
  })

  it('the dialer backs off 50 ms doubling to 2 s, and connect() rejects after exactly connectTimeoutMs', async () => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const port = await freePort()
    const failures = dialFailures(clock, logs, port)
    const node = new ChainSyncNode({name: 'orphan', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'ghost', host: '127.0.0.1', port}, predecessorTimeoutMs: 60_000, connectTimeoutMs: 10_000, log: failures.log, clock})
    track([node])
    await node.listen()
    const connecting = watch(node.connect())
    const expected = [0, 50, 150, 350, 750, 1550, 3150, 5150, 7150, 9150]
    for (let k = 1; k <= expected.length; k++) {
      await until(() => failures.at.length === k, `failed dial #${k}`)
      await clock.runNext()
    }
    // The last runNext() reached the connect timeout (10 s) before the next attempt (11 150 ms).
    expect(failures.at).toEqual(expected)
    expect(connecting.settled()).toBe(true)
    expect((connecting.value() as Error).message).toBe(`node orphan: cannot reach predecessor ghost at 127.0.0.1:${port} within 10.0s`)
  })

  it('a predecessor that never listens: connect() rejects after connectTimeoutMs naming the unreachable address', async () => {
    const clock = new FakeClock()
    const port = await freePort()
    const node = new ChainSyncNode({name: 'orphan', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'ghost', host: '127.0.0.1', port}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 700, clock})
    track([node])
    await node.listen()
    const connecting = watch(node.connect())
    await clock.advance(699)
    expect(connecting.settled()).toBe(false)
    await clock.advance(1)
    expect(connecting.settled()).toBe(true)
    expect((connecting.value() as Error | undefined)?.message).toBe(`node orphan: cannot reach predecessor ghost at 127.0.0.1:${port} within 700ms`)
  })

  it('a successor that never dials: the Head’s connect() rejects naming it', async () => {
    const clock = new FakeClock()
    const head = new ChainSyncNode({name: 'lonely', listen: {host: '127.0.0.1', port: 0}, successor: {name: 'absent'}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 300, clock})
    track([head])
    await head.listen()
    const connecting = watch(head.connect())
    await clock.advance(299)
    expect(connecting.settled()).toBe(false)
    await clock.advance(1)
    expect((connecting.value() as Error | undefined)?.message).toBe('node lonely: successor absent did not connect within 300ms')
  })
})

describe('faults: greeting timeout (extension)', () => {
  it(`a connection that never greets is closed after exactly NODE_LIMITS.helloTimeoutMs (${NODE_LIMITS.helloTimeoutMs} ms)`, async () => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const ctl = new ControlledTransport()
    const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, predecessorTimeoutMs: 60_000, log: (e) => logs.push(e), transport: ctl.transport, clock})
    track([head])
    await head.listen()
    const raw = trackPeer(await rawConnect(head.address.port))
    await until(() => ctl.sockets.length === 1, 'the node to accept the connection')
    await clock.advance(NODE_LIMITS.helloTimeoutMs - 1)
    expect(messages(logs)).toEqual([])
    await clock.advance(1)
    expect(messages(logs)).toEqual([expect.stringMatching(/^refused connection from 127\.0\.0\.1:\d+: no HELLO within 10s$/)])
    await raw.waitClosed()
  })

  it('a predecessor that accepts but never answers HELLO: the dialer gives up on it after exactly helloTimeoutMs and dials again', async () => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const server = await rawServer(() => undefined)
    cleanup.push(() => server.close())
    const failures = dialFailures(clock, logs, server.port)
    const node = new ChainSyncNode({name: 'n2', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'n1', host: '127.0.0.1', port: server.port}, predecessorTimeoutMs: 60_000, connectTimeoutMs: 60_000, log: failures.log, clock})
    track([node])
    await node.listen()
    void node.connect().catch(() => undefined)
    await until(() => server.accepted.length === 1 && server.accepted[0]!.lines.includes('HELLO:n2'), 'the HELLO')
    await clock.advance(NODE_LIMITS.helloTimeoutMs - 1)
    expect(failures.at).toEqual([])
    await clock.advance(1)
    expect(failures.at).toEqual([NODE_LIMITS.helloTimeoutMs])
    expect(messages(logs)).toEqual([`dialing predecessor n1 at 127.0.0.1:${server.port}: no HELLO from n1 within 10s`])
    await until(() => server.accepted[0]!.closed, 'the silent connection to be closed')
    await clock.advance(50)
    await until(() => server.accepted.length === 2, 'the next attempt')
  })
})

describe('faults: per-source rate limit', () => {
  /** A head on a fake clock whose transport counts the connections that reached it. */
  async function rateLimitedHead(logs: NodeLogEntry[], connectRateLimit?: {burst: number; perSecond: number}) {
    const clock = new FakeClock()
    const ctl = new ControlledTransport()
    const head = new ChainSyncNode({name: 'rl1', listen: {host: '127.0.0.1', port: 0}, successor: {name: 'rl2'}, predecessorTimeoutMs: 10_000, log: (e) => logs.push(e), transport: ctl.transport, clock, ...(connectRateLimit ? {connectRateLimit} : {})})
    track([head])
    await head.listen()
    /**
     * Opens `count` connections at once; resolves with how many the node refused (logged "rate limit" and closed
     * by the transport before they reached the node).
     */
    const burst = async (count: number): Promise<number> => {
      const reached = ctl.sockets.length
      const refusals = () => messages(logs).filter((m) => /rate limit/.test(m)).length
      const refusedBefore = refusals()
      const peers = await Promise.all(Array.from({length: count}, () => rawConnect(head.address.port).then(trackPeer)))
      // The transport decides on each connection as TCP accepts it; the clock stands still meanwhile.
      await until(() => ctl.sockets.length + refusals() - refusedBefore === reached + count, 'the transport to admit or refuse every connection')
      const refused = refusals() - refusedBefore
      await until(() => peers.filter((p) => p.closed).length === refused, 'the refused connections to close')
      return refused
    }
    return {clock, burst}
  }

  it(`refuses the attempts beyond NODE_LIMITS.connectBurst (${NODE_LIMITS.connectBurst}) from one address and logs "rate limit"`, async () => {
    const logs: NodeLogEntry[] = []
    const {clock, burst} = await rateLimitedHead(logs)
    const extra = 5
    expect(await burst(NODE_LIMITS.connectBurst + extra)).toBe(extra)
    const refusals = messages(logs).filter((m) => /rate limit/.test(m))
    expect(refusals).toHaveLength(extra)
    expect(refusals[0]).toMatch(new RegExp(`^refused connection from 127\\.0\\.0\\.1:\\d+: rate limit: more than ${NODE_LIMITS.connectBurst} connection attempts from 127\\.0\\.0\\.1 \\(${NODE_LIMITS.connectPerSecond}/s sustained\\)$`))
    // The bucket refills at connectPerSecond: empty now, still short of a token half a second later, and a second
    // later one more attempt is admitted.
    expect(await burst(1)).toBe(1)
    await clock.advance(500)
    expect(await burst(1)).toBe(1)
    await clock.advance(500)
    expect(await burst(1)).toBe(0)
  })

  it('connectRateLimit overrides the limit per node', async () => {
    const logs: NodeLogEntry[] = []
    const {burst} = await rateLimitedHead(logs, {burst: 3, perSecond: 0.001})
    expect(await burst(5)).toBe(2)
    expect(messages(logs).filter((m) => /rate limit: more than 3 connection attempts/.test(m))).toHaveLength(2)
  })
})

describe('faults: round cap', () => {
  const cap = NODE_LIMITS.maxActiveRounds

  it(`a neighbour announcing a round beyond the cap is refused (connection closed, logged); one within the cap is offered`, async () => {
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, predecessorTimeoutMs: 10_000, log: (e) => logs.push(e), clock: new FakeClock()})
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
    await until(() => announced.length === 1, 'the announcement')
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
      void peer.waitLine(/^HELLO:n2$/).then(() => peer.socket.write('HELLO:n1\nREA'))
    })
    cleanup.push(() => server.close())
    const node = new ChainSyncNode({name: 'n2', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'n1', host: '127.0.0.1', port: server.port}, successor: {name: 'n3'}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 300, clock: new FakeClock()})
    track([node])
    node.join(roundId)
    node.locallyReady(roundId)
    const violations: string[] = []
    const up: string[] = []
    node.on('violation', ({reason}) => violations.push(reason))
    node.on('linkUp', ({side}) => up.push(side))
    await node.listen()
    void node.connect().catch(() => undefined) // the successor never dials; only the predecessor link matters here
    // The node has taken the greeting (and the start of the next line) before the rest of the line is even sent.
    await until(() => up.includes('predecessor'), 'the greeting')
    server.accepted[0]!.socket.write(`DY:${roundId}\n`)
    await until(() => node.round(roundId)?.predecessorReady === true || violations.length > 0, 'READY or a violation')
    expect(violations).toEqual([])
    expect(node.round(roundId)).toMatchObject({state: 'READY', predecessorReady: true})
  })

  it('a line split across segments right after the dialer’s HELLO is reassembled (listener side)', async () => {
    const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, predecessorTimeoutMs: 10_000, clock: new FakeClock()})
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
    // The node answered the greeting, so it has read the first segment before the rest of the line is sent.
    await raw.waitLine(/^HELLO:h$/)
    raw.socket.write(`RT:${roundId}\n`)
    await until(() => started.length > 0 || violations.length > 0, 'START or a violation')
    expect(violations).toEqual([])
    expect(started).toEqual([roundId])
  })

  it('lines that follow a violation in the same segment as HELLO are not acted on', async () => {
    const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, predecessorTimeoutMs: 10_000, clock: new FakeClock()})
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
    // The node reads the whole segment in one go and closes the connection on BOGUS.
    await raw.waitClosed()
    expect(violations).toEqual(['unknown command "BOGUS"'])
    expect(started).toEqual([])
    expect(head.round(roundId)).toEqual(before)
  })
})
