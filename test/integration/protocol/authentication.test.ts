/**
 * Who may take a neighbour's position (issue #8 §1): a node whose transport authenticates peers accepts only a link
 * that authenticated as its expected successor: a connection without an identity is refused before any line is read,
 * so its ROUND/START/ABORT change nothing, and the refusal is logged. Without extensions (no greeting, no heartbeat)
 * a successor link on which nothing arrives is closed after connect_timeout. Real sockets, nodes on a FakeClock.
 */
import {randomBytes, randomUUID} from 'node:crypto'

import {afterEach, describe, expect, it} from 'vitest'

import {ChainSyncNode, type NodeLogEntry} from '../../../src/protocol/node.js'
import {tlsTransport} from '../../../src/protocol/tls.js'
import {tcpTransport, type ChainSyncTransport} from '../../../src/protocol/transport.js'
import {FakeClock, until} from '../../helpers/fake-clock.js'
import {rawConnect, type RawPeer} from './support/chain.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})
const trackPeer = (peer: RawPeer) => {
  cleanup.push(() => void peer.socket.destroy())
  return peer
}

/** An authenticating transport that hands the node a connection it did not name (as a faulty transport would). */
function unnamed(inner: ChainSyncTransport): ChainSyncTransport {
  return {
    kind: inner.kind,
    authenticates: true,
    listen: (host, port, onConnection, onRefused, gate) => inner.listen(host, port, (socket, peer) => onConnection(socket, {...peer, identity: undefined}), onRefused, gate),
    connect: (host, port, expectedPeer) => inner.connect(host, port, expectedPeer),
  }
}

/** A Head `h` (successor `s`) in READY of a round: a START from its successor would start its task. */
async function readyHead(transport: ChainSyncTransport) {
  const logs: NodeLogEntry[] = []
  const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, predecessorTimeoutMs: 60_000, transport, log: (e) => logs.push(e), clock: new FakeClock()})
  cleanup.push(() => head.close())
  await head.listen()
  const round = randomUUID()
  head.join(round)
  head.locallyReady(round)
  const effects: string[] = []
  head.on('startTask', ({roundId}) => effects.push(`startTask ${roundId}`))
  head.on('halted', ({reason}) => effects.push(`halted ${reason}`))
  head.on('roundAnnounced', ({roundId}) => effects.push(`roundAnnounced ${roundId}`))
  head.on('linkUp', ({side}) => effects.push(`linkUp ${side}`))
  return {head, round, logs, effects}
}

describe('an authenticating transport: only the authenticated successor gets a link', () => {
  it('a connection without an identity is refused before its lines are read: its START/ROUND/ABORT change nothing, the refusal is logged', async () => {
    const {head, round, logs, effects} = await readyHead(unnamed(tcpTransport))
    const before = head.round(round)
    const raw = trackPeer(await rawConnect(head.address.port))
    raw.socket.write(`HELLO:s\nSTART:${round}\nROUND:${randomUUID()}\nABORT:${round}:veto: forged\n`)
    await raw.waitClosed()
    expect(raw.lines).toEqual([]) // not even the greeting's answer
    expect(effects).toEqual([])
    expect(head.round(round)).toEqual(before)
    expect(logs.map((l) => [l.level, l.message])).toEqual([['warn', expect.stringMatching(/^refused connection from 127\.0\.0\.1:\d+: not authenticated \(the tcp transport authenticates every peer; expected successor "s"\)$/)]])
  })

  it('over TLS-PSK, the successor that authenticated gets its link and its START is acted on', async () => {
    const keys = {h: randomBytes(32), s: randomBytes(32)}
    const {head, round, effects} = await readyHead(tlsTransport({self: 'h', psk: {keys}}))
    const socket = await tlsTransport({self: 's', psk: {keys: {s: keys.s}}}).connect('127.0.0.1', head.address.port, 'h')
    cleanup.push(() => void socket.destroy())
    socket.write(`HELLO:s\nSTART:${round}\n`)
    await until(() => effects.includes(`startTask ${round}`), 'the task to start')
    expect(effects).toEqual(['linkUp successor', `startTask ${round}`])
  })

  it('plain TCP (no authentication) still takes the first connection that names the successor, as the draft does', async () => {
    const {head, round, effects} = await readyHead(tcpTransport)
    const raw = trackPeer(await rawConnect(head.address.port))
    raw.socket.write(`HELLO:s\nSTART:${round}\n`)
    await until(() => effects.includes(`startTask ${round}`), 'the task to start')
  })
})

describe('without extensions, a successor link on which nothing arrives is closed after connect_timeout', () => {
  async function quietHead() {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, extensions: false, predecessorTimeoutMs: 60_000, connectTimeoutMs: 5000, log: (e) => logs.push(e), clock})
    cleanup.push(() => head.close())
    await head.listen()
    const up: string[] = []
    const down: string[] = []
    head.on('linkUp', ({side}) => up.push(side))
    head.on('linkDown', ({reason}) => down.push(reason))
    return {head, clock, logs, up, down}
  }

  it('a peer that connects and says nothing holds the position only until connect_timeout; then another gets it', async () => {
    const {head, clock, logs, up, down} = await quietHead()
    const squatter = trackPeer(await rawConnect(head.address.port))
    await until(() => up.length === 1, 'the link')
    // While it holds the position, nobody else gets it.
    const refused = trackPeer(await rawConnect(head.address.port))
    await refused.waitClosed()
    await clock.advance(4999)
    expect(squatter.closed).toBe(false)
    await clock.advance(1)
    await squatter.waitClosed()
    expect(down).toEqual(['nothing received within connect_timeout (5.0s)'])
    expect(logs.map((l) => l.message)).toContain('closing connection to successor: nothing received within connect_timeout (5.0s)')
    const next = trackPeer(await rawConnect(head.address.port))
    await until(() => up.length === 2, 'the next connection to become the link')
    expect(next.closed).toBe(false)
  })

  it('a successor that said something keeps its link, however long it is quiet afterwards', async () => {
    const {head, clock, up, down} = await quietHead()
    const round = randomUUID()
    head.join(round)
    head.locallyReady(round)
    const started: string[] = []
    head.on('startTask', ({roundId}) => started.push(roundId))
    const succ = trackPeer(await rawConnect(head.address.port))
    await until(() => up.length === 1, 'the link')
    await succ.waitLine(new RegExp(`^READY:${round}$`))
    succ.socket.write(`START:${round}\n`)
    await until(() => started.length === 1, 'the task to start')
    await clock.advance(60_000)
    expect(succ.closed).toBe(false)
    expect(down).toEqual([])
  })
})
