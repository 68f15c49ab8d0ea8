/**
 * Test support for the ChainSync conformance and fault tests: building chains with per-node options and
 * transports, driving one round with recorded events (on the real clock or on a {@link FakeClock}), a transport that
 * records or cuts links, and raw peers scripted byte by byte. A transport with latency: support/delaying.ts.
 */
import net from 'node:net'

import {ChainSyncNode, type ChainSyncNodeOptions, type NodeLogEntry} from '../../../../src/protocol/node.js'
import {tcpTransport, type ChainSyncSocket, type ChainSyncTransport} from '../../../../src/protocol/transport.js'
import {systemClock, type Clock, type Timer} from '../../../../src/util/clock.js'
import {FakeClock} from '../../../helpers/fake-clock.js'
import {conduct, Traffic} from './conductor.js'

export {prng} from '../../../protocol/support/prng.js'

/** Per-node options a chain builder may override (everything but the topology). */
export type NodeOverrides = Partial<Omit<ChainSyncNodeOptions, 'name' | 'listen' | 'predecessor' | 'successor'>>

export interface ChainOptions {
  names: readonly string[]
  /** Options for every node; `perNode(i)` wins over them. */
  common?: NodeOverrides
  perNode?: (i: number) => NodeOverrides
  /** Collects every node's log lines. */
  logs?: NodeLogEntry[]
  /**
   * Return as soon as every node listens and let the links come up in the background (a round can then begin while
   * links are still being established: lines queue and follow the greeting). Connect failures surface as the round
   * not finishing. @default false
   */
  background?: boolean
}

/**
 * Like startLocalChain, but with per-node options (transport, heartbeat, grace, rate limit …):
 * every node listens on an ephemeral loopback port, every node but the Head dials its predecessor.
 */
export async function startChain(opts: ChainOptions): Promise<ChainSyncNode[]> {
  const host = '127.0.0.1'
  const nodes = opts.names.map((name, i) => {
    const prev = opts.names[i - 1]
    const next = opts.names[i + 1]
    const logs = opts.logs
    return new ChainSyncNode({
      name,
      listen: {host, port: 0},
      ...(prev === undefined ? {} : {predecessor: {name: prev, host, port: 0}}),
      ...(next === undefined ? {} : {successor: {name: next}}),
      predecessorTimeoutMs: 30_000,
      connectTimeoutMs: 10_000,
      ...(logs ? {log: (e: NodeLogEntry) => logs.push(e)} : {}),
      ...opts.common,
      ...opts.perNode?.(i),
    })
  })
  try {
    await Promise.all(nodes.map((n) => n.listen()))
    for (let i = 1; i < nodes.length; i++) nodes[i]!.setPredecessorAddress(host, nodes[i - 1]!.address.port)
    if (opts.background) for (const n of nodes) n.connect().catch(() => undefined)
    else await Promise.all(nodes.map((n) => n.connect()))
  } catch (error) {
    await Promise.all(nodes.map((n) => n.close()))
    throw error
  }
  return nodes
}

export type TraceKind = 'ready' | 'start' | 'finish' | 'exit' | 'halted' | 'violation'
export interface TraceEvent {
  kind: TraceKind
  node: number
  at: number
  detail?: string
}

export interface RoundPlan {
  /** When node i becomes locally ready, ms after the round begins. */
  readyMs: (i: number) => number
  /** How long node i's task runs, ms. */
  taskMs: (i: number) => number
  /** Runs node i's task instead of the `taskMs` timer when it returns true; call `finish` when done. */
  runTask?: (i: number, finish: () => void) => boolean
  /** Give up after this, ms (on `clock`). @default 15000 */
  timeoutMs?: number
  /**
   * Times readiness and tasks (and `timeoutMs`); pass the nodes' clock. A {@link FakeClock} is driven here: each
   * time no line is in flight between the nodes, it moves to the next timer due within 1 s (so protocol timers
   * further out, such as heartbeats, never fire). @default systemClock
   */
  clock?: Clock
}

/**
 * Drives one round on an already connected chain: joins (unless `joined`), makes each node locally ready at its
 * time, runs each task for its time, and resolves with the ordered event trace once every node exited.
 * Rejects on a halt, a violation, or the timeout. Listeners are removed afterwards (nodes can be reused).
 */
export async function driveRound(nodes: readonly ChainSyncNode[], roundId: string, plan: RoundPlan, joined = false): Promise<TraceEvent[]> {
  const clock = plan.clock ?? systemClock
  const trace: TraceEvent[] = []
  const t0 = clock.now()
  const push = (kind: TraceKind, node: number, detail?: string) => trace.push({kind, node, at: clock.now() - t0, ...(detail === undefined ? {} : {detail})})
  const timers: Timer[] = []
  const cleanups: Array<() => void> = []
  const traffic = clock instanceof FakeClock ? new Traffic(nodes) : undefined
  if (traffic) cleanups.push(() => traffic.stop())
  if (!joined) for (const node of nodes) node.join(roundId)
  let over = false
  try {
    const finished = new Promise<void>((resolve, reject) => {
      let exited = 0
      nodes.forEach((node, i) => {
        const onStart = ({roundId: r}: {roundId: string}) => {
          if (r !== roundId) return
          push('start', i)
          const finish = () => {
            push('finish', i)
            node.taskFinished(roundId)
          }
          if (plan.runTask?.(i, finish)) return
          timers.push(clock.setTimeout(finish, plan.taskMs(i)))
        }
        const onExit = ({roundId: r}: {roundId: string}) => {
          if (r !== roundId) return
          push('exit', i)
          if (++exited === nodes.length) resolve()
        }
        const onHalted = ({roundId: r, reason}: {roundId: string; reason: string}) => {
          if (r !== roundId) return
          push('halted', i, reason)
          reject(new Error(`${node.name} halted round: ${reason}`))
        }
        const onViolation = ({reason, line}: {reason: string; line: string}) => {
          push('violation', i, reason)
          reject(new Error(`${node.name} saw a violation: ${reason} (line ${JSON.stringify(line)})`))
        }
        node.on('startTask', onStart)
        node.on('exit', onExit)
        node.on('halted', onHalted)
        node.on('violation', onViolation)
        cleanups.push(() => {
          node.off('startTask', onStart)
          node.off('exit', onExit)
          node.off('halted', onHalted)
          node.off('violation', onViolation)
        })
        timers.push(
          clock.setTimeout(() => {
            push('ready', i)
            node.locallyReady(roundId)
          }, plan.readyMs(i)),
        )
      })
      timers.push(clock.setTimeout(() => reject(new Error(`round ${roundId} did not finish within ${plan.timeoutMs ?? 15_000}ms`)), plan.timeoutMs ?? 15_000))
    }).finally(() => {
      over = true
    })
    if (traffic) await Promise.all([finished, conduct(clock as FakeClock, traffic, () => over, {what: `round ${roundId} to finish`})])
    else await finished
  } finally {
    for (const t of timers) clock.clearTimeout(t)
    for (const c of cleanups) c()
  }
  return trace
}

/**
 * The draft's ordering guarantees on a trace of one round of `n` nodes (draft §1, §6):
 * every task starts exactly once, Head→Tail, each only after its predecessor's task finished;
 * no task starts before every node was locally ready; every node exits; nothing halted.
 * @returns a description of the first broken guarantee, or undefined
 */
export function checkTrace(trace: readonly TraceEvent[], n: number): string | undefined {
  const starts = trace.filter((e) => e.kind === 'start').map((e) => e.node)
  const expected = Array.from({length: n}, (_, i) => i)
  if (JSON.stringify(starts) !== JSON.stringify(expected)) return `start order ${JSON.stringify(starts)}, expected ${JSON.stringify(expected)}`
  const index = (kind: TraceKind, node: number) => trace.findIndex((e) => e.kind === kind && e.node === node)
  const firstStart = trace.findIndex((e) => e.kind === 'start')
  const lastReady = Math.max(...expected.map((i) => index('ready', i)))
  if (expected.some((i) => index('ready', i) === -1)) return 'a node never became locally ready'
  if (firstStart < lastReady) return `a task started (event ${firstStart}) before the last node was locally ready (event ${lastReady})`
  for (let i = 1; i < n; i++) {
    if (index('finish', i - 1) === -1 || index('finish', i - 1) > index('start', i)) return `node ${i} started before node ${i - 1} finished`
  }
  if (expected.some((i) => index('exit', i) === -1)) return 'a node did not exit'
  const bad = trace.find((e) => e.kind === 'halted' || e.kind === 'violation')
  if (bad) return `${bad.kind} at node ${bad.node}: ${bad.detail}`
  return undefined
}

// --- transports -------------------------------------------------------------

/** Wraps a transport: every socket it hands out (dialed or accepted) goes through `wrap`. */
export function wrapTransport(inner: ChainSyncTransport, wrap: (socket: ChainSyncSocket, how: 'dialed' | 'accepted') => ChainSyncSocket, connectGate?: () => void): ChainSyncTransport {
  return {
    kind: `${inner.kind}+test`,
    ...(inner.authenticates === undefined ? {} : {authenticates: inner.authenticates}),
    listen: (host, port, onConnection, onRefused, gate) => inner.listen(host, port, (socket, peer) => onConnection(wrap(socket, 'accepted'), peer), onRefused, gate),
    async connect(host, port, expectedPeer) {
      connectGate?.()
      return wrap(await inner.connect(host, port, expectedPeer), 'dialed')
    },
  }
}

/**
 * TCP that keeps every socket it hands out (to cut links from the test) and can refuse to dial
 * (`blockDialing = true`: connect() fails as if the peer were unreachable).
 */
export class ControlledTransport {
  readonly sockets: Array<{socket: ChainSyncSocket; how: 'dialed' | 'accepted'}> = []
  blockDialing = false
  dialAttempts = 0
  readonly transport: ChainSyncTransport

  constructor(inner: ChainSyncTransport = tcpTransport) {
    this.transport = wrapTransport(
      inner,
      (socket, how) => {
        this.sockets.push({socket, how})
        return socket
      },
      () => {
        this.dialAttempts++
        if (this.blockDialing) throw Object.assign(new Error('connect ECONNREFUSED (blocked by the test)'), {code: 'ECONNREFUSED'})
      },
    )
  }

  /** The newest socket of the given kind that is still open. */
  live(how: 'dialed' | 'accepted'): ChainSyncSocket {
    const s = [...this.sockets].reverse().find((x) => x.how === how && !x.socket.destroyed)
    if (!s) throw new Error(`no live ${how} socket`)
    return s.socket
  }
}

// --- raw sockets (a peer the test scripts byte by byte) ------------------------

export interface RawPeer {
  socket: net.Socket
  /** Lines received so far (without LF). */
  lines: string[]
  closed: boolean
  /** Resolves with the first received line matching `re`; rejects after `timeoutMs` of real time (a hang guard). */
  waitLine(re: RegExp, timeoutMs?: number): Promise<string>
  /** Resolves when the other side closed the connection; rejects after `timeoutMs` of real time (a hang guard). */
  waitClosed(timeoutMs?: number): Promise<void>
}

function rawPeer(socket: net.Socket): RawPeer {
  // Event-driven (no polling): fuzzing opens thousands of these.
  const lineWaiters = new Set<(line: string) => void>()
  const closeWaiters = new Set<() => void>()
  const peer: RawPeer = {
    socket,
    lines: [],
    closed: false,
    waitLine: (re, timeoutMs = 3000) =>
      new Promise((resolve, reject) => {
        const seen = peer.lines.find((l) => re.test(l))
        if (seen !== undefined) return resolve(seen)
        const timer = systemClock.setTimeout(() => {
          lineWaiters.delete(check)
          reject(new Error(`timed out after ${timeoutMs}ms waiting for a line matching ${re} (got ${JSON.stringify(peer.lines.slice(-5))})`))
        }, timeoutMs)
        const check = (line: string) => {
          if (!re.test(line)) return
          systemClock.clearTimeout(timer)
          lineWaiters.delete(check)
          resolve(line)
        }
        lineWaiters.add(check)
      }),
    waitClosed: (timeoutMs = 3000) =>
      new Promise((resolve, reject) => {
        if (peer.closed) return resolve()
        const timer = systemClock.setTimeout(() => {
          closeWaiters.delete(done)
          reject(new Error(`timed out after ${timeoutMs}ms waiting for the connection to close`))
        }, timeoutMs)
        const done = () => {
          systemClock.clearTimeout(timer)
          resolve()
        }
        closeWaiters.add(done)
      }),
  }
  let buffer = ''
  socket.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('latin1')
    let nl = buffer.indexOf('\n')
    while (nl !== -1) {
      const line = buffer.slice(0, nl)
      peer.lines.push(line)
      buffer = buffer.slice(nl + 1)
      for (const w of [...lineWaiters]) w(line)
      nl = buffer.indexOf('\n')
    }
  })
  socket.on('error', () => undefined)
  socket.on('close', () => {
    peer.closed = true
    for (const w of [...closeWaiters]) w()
    closeWaiters.clear()
  })
  return peer
}

/** Dials host:port with a raw socket. */
export function rawConnect(port: number, host = '127.0.0.1'): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({host, port}, () => {
      socket.off('error', reject)
      resolve(rawPeer(socket))
    })
    socket.once('error', reject)
  })
}

/** A raw listener: every accepted connection is handed to `onPeer`. */
export async function rawServer(onPeer: (peer: RawPeer) => void): Promise<{port: number; accepted: RawPeer[]; close(): Promise<void>}> {
  const accepted: RawPeer[] = []
  const server = net.createServer((socket) => {
    const peer = rawPeer(socket)
    accepted.push(peer)
    onPeer(peer)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of accepted) p.socket.destroy()
        server.close(() => resolve())
      }),
  }
}

/** A port nobody listens on (briefly bound, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}
