/**
 * Admission before the expensive part (issue #8 §1): the per-source rate limit and the caps on concurrent
 * connections and TLS handshakes apply to the bare TCP connection, before a byte of TLS is processed; a handshake
 * flood keeps at most NODE_LIMITS.maxHandshakes in progress and the node still serves its real neighbour. Real
 * sockets (loopback, several 127.0.0.x source addresses), nodes on a {@link FakeClock}.
 */
import {randomBytes, randomUUID} from 'node:crypto'
import net from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import {ChainSyncNode, NODE_LIMITS, type ChainSyncNodeOptions, type NodeLogEntry} from '../../../src/protocol/node.js'
import {tlsTransport} from '../../../src/protocol/tls.js'
import {FakeClock, until} from '../../helpers/fake-clock.js'
import {ControlledTransport} from './support/chain.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})
const messages = (logs: NodeLogEntry[]) => logs.map((l) => l.message)

/** A TLS-PSK Head `h` whose successor is `s`, on a fake clock; `s` is built by {@link successorOf} when needed. */
async function pskHead(extra: Partial<ChainSyncNodeOptions> = {}) {
  const keys = {h: randomBytes(32), s: randomBytes(32)}
  const clock = new FakeClock()
  const logs: NodeLogEntry[] = []
  const head = new ChainSyncNode({
    name: 'h',
    listen: {host: '127.0.0.1', port: 0},
    successor: {name: 's'},
    predecessorTimeoutMs: 60_000,
    transport: tlsTransport({self: 'h', psk: {keys}}),
    log: (e) => logs.push(e),
    clock,
    ...extra,
  })
  cleanup.push(() => head.close())
  await head.listen()
  return {head, clock, logs, keys}
}

/** A raw TCP connection from `localAddress` that sends `bytes` (if any) and then nothing: a handshake that never ends. */
interface Stalled {
  socket: net.Socket
  closed: boolean
  /** Bytes the node sent on it (a refused connection gets none). */
  received: number
}
function stalled(port: number, localAddress = '127.0.0.1', bytes?: Buffer): Promise<Stalled> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host: '127.0.0.1', port, localAddress}, () => {
      socket.off('error', reject)
      if (bytes) socket.write(bytes)
      resolve(s)
    })
    const s: Stalled = {socket, closed: false, received: 0}
    socket.once('error', reject)
    socket.on('error', () => undefined)
    socket.on('data', (d: Buffer) => (s.received += d.length))
    socket.on('close', () => (s.closed = true))
    cleanup.push(() => void socket.destroy())
  })
}

/** The start of a TLS ClientHello: a record header announcing 512 bytes, then only a few of them. */
const PARTIAL_CLIENT_HELLO = Buffer.concat([Buffer.from('160301020001', 'hex'), Buffer.from('0001fc0303', 'hex'), randomBytes(8)])

describe('admission happens before the TLS handshake', () => {
  it('a source beyond its rate limit is refused at once, without a handshake, even though it never sent a ClientHello', async () => {
    const {head, logs} = await pskHead({connectRateLimit: {burst: 2, perSecond: 0.001}})
    const first = await stalled(head.address.port)
    const second = await stalled(head.address.port)
    const third = await stalled(head.address.port)
    // The node decided on the bare TCP connection: refused and closed, no byte of TLS sent (before the fix the
    // connection sat in the TLS handshake until its timeout, and the rate limit was only asked after it).
    await until(() => third.closed, 'the third connection to be refused')
    expect(third.received).toBe(0)
    expect(messages(logs)).toEqual([expect.stringMatching(/^refused connection from 127\.0\.0\.1:\d+: rate limit: more than 2 connection attempts from 127\.0\.0\.1 \(0\.001\/s sustained\)$/)])
    expect([first.closed, second.closed]).toEqual([false, false])
    expect(head.inbound).toEqual({connections: 2, handshakes: 2})
  })

  it(`one source gets at most NODE_LIMITS.maxHandshakesPerSource (${NODE_LIMITS.maxHandshakesPerSource}) handshakes in progress; a finished or failed one frees its slot`, async () => {
    const {head, logs} = await pskHead()
    const open = await Promise.all(Array.from({length: NODE_LIMITS.maxHandshakesPerSource}, () => stalled(head.address.port, '127.0.0.1', PARTIAL_CLIENT_HELLO)))
    const extra = await stalled(head.address.port, '127.0.0.1', PARTIAL_CLIENT_HELLO)
    await until(() => extra.closed, 'the extra connection to be refused')
    expect(extra.received).toBe(0)
    expect(messages(logs)).toEqual([expect.stringMatching(new RegExp(`: too many TLS handshakes in progress from 127\\.0\\.0\\.1: ${NODE_LIMITS.maxHandshakesPerSource} \\(at most ${NODE_LIMITS.maxHandshakesPerSource}\\)$`))])
    // Another source is not affected.
    const other = await stalled(head.address.port, '127.0.0.2', PARTIAL_CLIENT_HELLO)
    await until(() => head.inbound.handshakes === NODE_LIMITS.maxHandshakesPerSource + 1, 'the other source to be admitted')
    expect(other.closed).toBe(false)
    // A handshake that fails (garbage) frees its slot at once.
    open[0]!.socket.write(randomBytes(600))
    await until(() => open[0]!.closed, 'the failed handshake to close')
    await until(() => head.inbound.handshakes === NODE_LIMITS.maxHandshakesPerSource, 'the slot to be freed')
    const next = await stalled(head.address.port, '127.0.0.1', PARTIAL_CLIENT_HELLO)
    await until(() => head.inbound.handshakes === NODE_LIMITS.maxHandshakesPerSource + 1, 'the next one to be admitted')
    expect(next.closed).toBe(false)
  })

  it(`at most NODE_LIMITS.maxInboundConnections (${NODE_LIMITS.maxInboundConnections}) inbound connections are open at once (plain TCP: connections waiting for HELLO)`, async () => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({name: 'h', listen: {host: '127.0.0.1', port: 0}, successor: {name: 's'}, predecessorTimeoutMs: 60_000, log: (e) => logs.push(e), clock})
    cleanup.push(() => head.close())
    await head.listen()
    // From several addresses, so that no source reaches its rate limit (burst NODE_LIMITS.connectBurst).
    const perSource = NODE_LIMITS.connectBurst - 1
    const sources = Math.ceil((NODE_LIMITS.maxInboundConnections + 3) / perSource)
    const all: Stalled[] = []
    for (let i = 0; i < sources; i++) for (let k = 0; k < perSource; k++) all.push(await stalled(head.address.port, `127.0.0.${10 + i}`))
    const refusedCount = all.length - NODE_LIMITS.maxInboundConnections
    await until(() => all.filter((s) => s.closed).length === refusedCount, 'the connections beyond the cap to be refused')
    expect(head.inbound.connections).toBe(NODE_LIMITS.maxInboundConnections)
    expect(messages(logs).filter((m) => m.includes(`too many connections: ${NODE_LIMITS.maxInboundConnections} open (at most ${NODE_LIMITS.maxInboundConnections})`))).toHaveLength(refusedCount)
    // The greeting timeout closes the silent ones; their slots are free again.
    await clock.advance(NODE_LIMITS.helloTimeoutMs)
    await until(() => all.every((s) => s.closed), 'the silent connections to be closed')
    await until(() => head.inbound.connections === 0, 'every slot to be free')
  })
})

describe('a TLS handshake flood is bounded (issue #8 §1)', () => {
  it(`many connections that never finish the handshake: at most NODE_LIMITS.maxHandshakes (${NODE_LIMITS.maxHandshakes}) in progress, the rest refused before any handshake; the real neighbour keeps its link, runs a round, and gets back in after the flood's deadline`, async () => {
    const {head, clock, logs, keys} = await pskHead()
    const ctl = new ControlledTransport(tlsTransport({self: 's', psk: {keys: {s: keys.s}}}))
    const succLogs: NodeLogEntry[] = []
    const succ = new ChainSyncNode({
      name: 's',
      listen: {host: '127.0.0.1', port: 0},
      predecessor: {name: 'h', host: '127.0.0.1', port: head.address.port},
      predecessorTimeoutMs: 60_000,
      transport: ctl.transport,
      clock,
      log: (e) => succLogs.push(e),
    })
    cleanup.push(() => succ.close())
    await succ.listen()
    await Promise.all([head.connect(), succ.connect()])
    expect(head.inbound).toEqual({connections: 1, handshakes: 0})

    // The flood: 100 connections from 25 addresses (4 each, the per-source cap), each a partial ClientHello.
    const startedAt = clock.now()
    const flood: Stalled[] = []
    for (let i = 0; i < 25; i++) {
      flood.push(...(await Promise.all(Array.from({length: 4}, () => stalled(head.address.port, `127.0.1.${i + 1}`, PARTIAL_CLIENT_HELLO)))))
    }
    const refused = flood.length - NODE_LIMITS.maxHandshakes
    await until(() => flood.filter((s) => s.closed).length === refused, 'the connections beyond the cap to be refused')
    expect(head.inbound).toEqual({connections: 1 + NODE_LIMITS.maxHandshakes, handshakes: NODE_LIMITS.maxHandshakes})
    expect(flood.filter((s) => s.closed).every((s) => s.received === 0)).toBe(true)
    // Logged one by one up to NODE_LIMITS.refusalLogBurst, then counted (a flood must not flood the run's journal).
    expect(messages(logs)).toEqual(Array.from({length: NODE_LIMITS.refusalLogBurst}, () => expect.stringMatching(`too many TLS handshakes in progress: ${NODE_LIMITS.maxHandshakes} \\(at most ${NODE_LIMITS.maxHandshakes}\\)$`)))

    // The neighbour's link is untouched: a whole round runs over it during the flood.
    const round = randomUUID()
    const exited: string[] = []
    for (const n of [head, succ]) {
      n.on('startTask', ({roundId}) => n.taskFinished(roundId))
      n.on('exit', () => exited.push(n.name))
      n.join(round)
      n.locallyReady(round)
    }
    await until(() => exited.length === 2, 'the round to finish')
    expect(head.round(round)).toMatchObject({state: 'COMPLETE', exited: true, aborted: undefined})

    // Its link drops. Every dial attempt of the successor ends in a logged failure or in the link coming up: move the
    // clock only once the attempts so far have ended (their I/O is real).
    const up: string[] = []
    succ.on('linkUp', ({side}) => up.push(side))
    const attemptsBefore = ctl.dialAttempts
    const failuresBefore = succLogs.length
    const failures = () => succLogs.slice(failuresBefore).filter((l) => l.message.startsWith('dialing predecessor h'))
    const quiet = () => failures().length + up.length === ctl.dialAttempts - attemptsBefore
    ctl.live('dialed').destroy()
    // It redials (after a short pause: its link was short-lived on this clock) and is refused while the flood holds
    // every handshake slot …
    while (failures().length === 0) {
      await until(quiet, 'the dial attempts to end')
      expect(clock.now() - startedAt).toBeLessThan(NODE_LIMITS.handshakeTimeoutMs)
      await clock.advance(50)
    }
    expect(up).toEqual([])
    // … until the flood's handshakes reach their deadline (on the node's clock): then it gets back in.
    while (up.length === 0) {
      await until(quiet, 'the dial attempts to end')
      expect(clock.now() - startedAt).toBeLessThan(NODE_LIMITS.handshakeTimeoutMs + 5000)
      await clock.advance(100)
    }
    await until(() => flood.every((s) => s.closed), 'the flood to be closed')
    expect(head.inbound).toEqual({connections: 1, handshakes: 0})
    // The refusals not logged one by one (the rest of the flood, its expired handshakes, the refused redials) are
    // summed up in one line when the minute is over.
    await clock.advance(NODE_LIMITS.refusalLogWindowMs)
    const summary = messages(logs).slice(NODE_LIMITS.refusalLogBurst).filter((m) => m.startsWith('refused'))
    expect(summary).toEqual([expect.stringMatching(/^refused \d+ more connections \(more than 20 refusals within 60s are counted, not logged one by one\)$/)])
    expect(Number(/\d+/.exec(summary[0]!)![0])).toBe(refused - NODE_LIMITS.refusalLogBurst + NODE_LIMITS.maxHandshakes + failures().length)
  })
})
