/**
 * What a ChainSync node is configured with and what it tells its observers: options, events, log entries and
 * limits (docs/chainsync.md "Limits"). Re-exported by `node.ts`, the node itself.
 */
import type {Clock} from '../util/clock.js'
import type {NodeState, Side} from './state-machine.js'
import type {ChainSyncTransport} from './transport.js'

export interface NodeLogEntry {
  level: 'debug' | 'info' | 'warn' | 'error'
  node: string
  message: string
}

/** Limits of a node (docs/chainsync.md "Limits"). */
export const NODE_LIMITS = {
  /** Rounds a node takes part in at once (so at most this many per connection). */
  maxActiveRounds: 16,
  /** Inbound connection attempts per source address: burst. */
  connectBurst: 10,
  /** Inbound connection attempts per source address: sustained rate, per second. */
  connectPerSecond: 1,
  /** A dialer waits this long for the listener's HELLO, ms. */
  helloTimeoutMs: 10_000,
  /** Source addresses the rate-limit table remembers (offenders, those with an empty bucket, are forgotten last). */
  rateLimitSources: 4096,
  /** Inbound connections open at once: in a TLS handshake, in the greeting, or the successor's link. Beyond it refused before any handshake. */
  maxInboundConnections: 32,
  /** Inbound TLS handshakes in progress at once. Beyond it refused before the handshake. */
  maxHandshakes: 16,
  /** Inbound TLS handshakes in progress at once from one source address. */
  maxHandshakesPerSource: 4,
  /** An inbound TLS handshake not finished within this is ended (its slot freed), ms; on the node's clock. */
  handshakeTimeoutMs: 10_000,
  /** Refused connections logged one by one per {@link NODE_LIMITS.refusalLogWindowMs}; beyond that they are counted, and one summary line is logged when the window ends. */
  refusalLogBurst: 20,
  /** The window of {@link NODE_LIMITS.refusalLogBurst}, ms. */
  refusalLogWindowMs: 60_000,
  /** Finished rounds a node remembers, so that a replayed READY of one never starts it again (without extensions). */
  rememberedRounds: 256,
} as const

/** Caps on inbound connections a node may be given instead of {@link NODE_LIMITS}' (tests, unusual deployments). */
export interface InboundLimitOverrides {
  maxConnections?: number
  maxHandshakes?: number
  maxHandshakesPerSource?: number
  handshakeTimeoutMs?: number
  /** Refused connections logged one by one per minute (the fuzz tests log every one). */
  refusalLogBurst?: number
}

export interface ChainSyncNodeOptions {
  /** This node's name (the device name). */
  name: string
  /** Where to listen; port 0 picks a free port (read {@link ChainSyncNode.address} after {@link ChainSyncNode.listen}). */
  listen: {host: string; port: number}
  /** The predecessor to dial; absent on the Head. The port may be filled in later with {@link ChainSyncNode.setPredecessorAddress}. */
  predecessor?: {name: string; host: string; port: number}
  /** The successor's name; absent on the Tail. */
  successor?: {name: string}
  /** Send chainup's extension lines (HELLO, EXECUTING, ABORT, HEARTBEAT, ROUND). @default true */
  extensions?: boolean
  /** Halt the round when the predecessor works on its device longer than this, ms (docs/chainsync.md "Predecessor timeout"). */
  predecessorTimeoutMs: number
  /** {@link ChainSyncNode.connect} gives up after this, ms. @default 30000 */
  connectTimeoutMs?: number
  /** Heartbeat interval, ms; a link silent for 3 intervals is dead (with extensions; TCP keepalive otherwise). @default 5000 */
  heartbeatMs?: number
  /** A round whose link stays down longer than this fails, ms. @default 30000 */
  reconnectGraceMs?: number
  /** Announce joined rounds to the neighbours with `ROUND:<id>` (needed when a neighbour runs in another process). @default false */
  announceRounds?: boolean
  /**
   * Per-source admission of inbound connection attempts (token bucket): `burst` at once, refilled at `perSecond`.
   * Only tests (fuzzing opens thousands of connections) or unusual deployments need to change it.
   * @default {burst: NODE_LIMITS.connectBurst, perSecond: NODE_LIMITS.connectPerSecond}
   */
  connectRateLimit?: {burst: number; perSecond: number}
  /**
   * Caps on concurrent inbound connections and TLS handshakes, the handshake deadline, and how many refusals are
   * logged one by one.
   * @default NODE_LIMITS.maxInboundConnections, maxHandshakes, maxHandshakesPerSource, handshakeTimeoutMs, refusalLogBurst
   */
  inboundLimits?: InboundLimitOverrides
  /** Receives log lines (violations, lost connections). */
  log?: (entry: NodeLogEntry) => void
  /** TCP (default) or TLS. */
  transport?: ChainSyncTransport
  /**
   * The run journal's outbox: every READY/START/COMPLETE/EXECUTING/ABORT/ROUND line is committed with `enqueue`
   * (returns its id) before it is written, and marked with `sent` once written to a live link.
   */
  outbox?: {enqueue(roundId: string, side: Side, line: string): number; sent(id: number): void}
  /** Time and timers (heartbeats, timeouts, backoff, rate limit); tests pass a fake one. @default systemClock */
  clock?: Clock
}

/** Events a node emits; the device agent and the UI observe them. */
export interface ChainSyncNodeEvents {
  state: [{roundId: string; state: NodeState}]
  startTask: [{roundId: string}]
  /** §6.4 exit; `chainDone` on the Head means every node completed. */
  exit: [{roundId: string; chainDone: boolean}]
  halted: [{roundId: string; reason: string; origin: 'local' | Side}]
  /** The immediate predecessor worked on its device longer than predecessorTimeoutMs. Emitted before `halted`. */
  predecessorTimeout: [{roundId: string; predecessor: string; waitedMs: number}]
  /** The predecessor began its task (EXECUTING arrived, or WATCH was entered without extensions). */
  predecessorWorking: [{roundId: string; predecessor: string}]
  /**
   * A round this node has not joined was announced or started by a neighbour.
   * - With extensions: `ROUND:<id>` arrived from either side (`started: false`); join it to take part.
   * - Without extensions (draft §6.1, no announcements): the first READY of an unknown round from the predecessor
   *   starts it (`started: true`, `from: 'predecessor'`). The node has joined the round already (a listener's
   *   `join(roundId)` is a no-op); the READY is applied once the listeners returned; the listener runs the device's
   *   readiness and calls `locallyReady`. A READY without ROUND-ID while no round is live starts the node's single
   *   current round: `roundId` is then a fresh UUID of this node's own (its journal and result use it), and on the
   *   wire the round stays without ROUND-ID, as its predecessor sent it (docs/chainsync.md "Who starts a round").
   */
  roundAnnounced: [{roundId: string; from: Side; started: boolean}]
  /** A link to a neighbour is up (again). */
  linkUp: [{side: Side; reconnect: boolean}]
  linkDown: [{side: Side; reason: string}]
  /** A link stayed down past reconnectGraceMs during a round: the round is about to halt (emitted before `halted`). */
  linkLost: [{roundId: string; side: Side; peer: string; reason: string}]
  sent: [{to: Side; line: string}]
  received: [{from: Side; line: string}]
  violation: [{from: Side; reason: string; line: string}]
}
