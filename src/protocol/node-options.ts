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
} as const

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
  /** A neighbour announced a round this node has not joined (`ROUND:<id>`); join it to take part. */
  roundAnnounced: [{roundId: string; from: Side}]
  /** A link to a neighbour is up (again). */
  linkUp: [{side: Side; reconnect: boolean}]
  linkDown: [{side: Side; reason: string}]
  /** A link stayed down past reconnectGraceMs during a round: the round is about to halt (emitted before `halted`). */
  linkLost: [{roundId: string; side: Side; peer: string; reason: string}]
  sent: [{to: Side; line: string}]
  received: [{from: Side; line: string}]
  violation: [{from: Side; reason: string; line: string}]
}
