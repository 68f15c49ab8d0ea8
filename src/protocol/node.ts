/**
 * A ChainSync node: the transport around the pure state machine (draft-dohmeyer-chainsync-03 §3).
 * Each node listens; each node except the Head dials its predecessor, so every adjacent pair shares one
 * persistent bidirectional connection (docs/chainsync.md "Connections"). Links that drop are re-established
 * within `reconnectGraceMs`, and every line of a live round is sent again on the new link; the receiver ignores
 * what it already has (duplicates are per round and per side).
 */
import {EventEmitter} from 'node:events'

import {formatMs} from '../util/duration.js'
import {failpoint} from '../util/failpoint.js'
import {formatMessage, LineDecoder, MAX_LINE_BYTES, parseMessage, ProtocolError, type Message} from './codec.js'
import {initialRound, NodeState, transition, type RoundAction, type RoundEvent, type RoundSnapshot, type Side} from './state-machine.js'
import {tcpTransport, type ChainSyncListener, type ChainSyncSocket, type ChainSyncTransport, type PeerInfo} from './transport.js'

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

interface Link {
  socket: ChainSyncSocket
  decoder: LineDecoder
  lastSeen: number
  heartbeat: NodeJS.Timeout | undefined
  /** Fires after 3 heartbeat intervals without data (re-armed on every chunk): the link is dead. */
  silence: NodeJS.Timeout | undefined
}

interface Round {
  snapshot: RoundSnapshot
  watchTimer: NodeJS.Timeout | undefined
  watchStartedAt: number | undefined
  /** READY/START/COMPLETE lines sent in this round (draft §1: 4(n-1) across the chain). */
  draftMessagesSent: number
  /** Lines sent per side, replayed after a reconnect. */
  sentLines: Record<Side, string[]>
  /** Commands received per side: a second copy is a duplicate (after a reconnect) and is ignored. */
  received: Record<Side, Set<string>>
}

/** One ChainSync node. Lifecycle: `listen()` → `connect()` → `join(roundId)` … → `close()`. */
export class ChainSyncNode extends EventEmitter<ChainSyncNodeEvents> {
  readonly name: string
  private readonly opts: ChainSyncNodeOptions
  private readonly extensions: boolean
  private readonly transport: ChainSyncTransport
  private readonly heartbeatMs: number
  private readonly graceMs: number
  private readonly rateLimit: {burst: number; perSecond: number}
  private listener: ChainSyncListener | undefined
  private links: Partial<Record<Side, Link>> = {}
  private everUp: Record<Side, boolean> = {predecessor: false, successor: false}
  /** Lines waiting for a link to their side (with their outbox id). */
  private pending: Record<Side, Array<{line: string; id: number | undefined}>> = {predecessor: [], successor: []}
  private graceTimers: Partial<Record<Side, NodeJS.Timeout>> = {}
  private readonly rounds = new Map<string, Round>()
  private readonly buckets = new Map<string, {tokens: number; at: number}>()
  private closed = false
  private dialing = false
  private linkWaiters: Array<() => void> = []
  /** When the current predecessor link came up, and the pause before redialing after a short-lived one (ms). */
  private predecessorUpAt: number | undefined
  private redialBackoffMs = 0
  private holding = false
  private held: Array<{side: Side; line: string; id: number | undefined}> = []

  constructor(opts: ChainSyncNodeOptions) {
    super()
    this.opts = opts
    this.name = opts.name
    this.extensions = opts.extensions ?? true
    this.transport = opts.transport ?? tcpTransport
    this.heartbeatMs = opts.heartbeatMs ?? 5000
    this.graceMs = opts.reconnectGraceMs ?? 30_000
    this.rateLimit = opts.connectRateLimit ?? {burst: NODE_LIMITS.connectBurst, perSecond: NODE_LIMITS.connectPerSecond}
  }

  /** The address the node listens on (after {@link listen}). */
  get address(): {host: string; port: number} {
    if (!this.listener) throw new Error(`node ${this.name} is not listening`)
    return this.listener.address
  }

  /** Sets the predecessor's port once it is known (embedded mode listens on ephemeral ports). */
  setPredecessorAddress(host: string, port: number): void {
    if (!this.opts.predecessor) throw new Error(`node ${this.name} is the Head: it has no predecessor`)
    this.opts.predecessor = {...this.opts.predecessor, host, port}
  }

  /** Starts the listener. @throws the listen error (EADDRINUSE …). */
  async listen(): Promise<void> {
    this.listener = await this.transport.listen(
      this.opts.listen.host,
      this.opts.listen.port,
      (socket, peer) => this.accept(socket, peer),
      (remote, reason) => this.log('warn', `refused connection from ${remote}: ${reason}`),
    )
  }

  /**
   * Dials the predecessor (retrying with backoff: 50 ms doubling to 2 s) and waits for the successor to dial in.
   * The dialer keeps the link up for the node's whole life, redialing whenever it drops.
   * @throws Error when either link is not up within connectTimeoutMs
   */
  async connect(): Promise<void> {
    const timeoutMs = this.opts.connectTimeoutMs ?? 30_000
    if (this.opts.predecessor) this.startDialing()
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.closed) return reject(new Error(`node ${this.name} closed`))
        if ((!this.opts.predecessor || this.links.predecessor) && (!this.opts.successor || this.links.successor)) {
          clearTimeout(timer)
          return resolve()
        }
        this.linkWaiters.push(check)
      }
      const timer = setTimeout(() => {
        this.linkWaiters = this.linkWaiters.filter((w) => w !== check)
        const missing = [
          this.opts.predecessor && !this.links.predecessor ? `cannot reach predecessor ${this.opts.predecessor.name} at ${this.opts.predecessor.host}:${this.opts.predecessor.port}` : '',
          this.opts.successor && !this.links.successor ? `successor ${this.opts.successor.name} did not connect` : '',
        ].filter(Boolean)
        reject(new Error(`node ${this.name}: ${missing.join('; ')} within ${formatMs(timeoutMs)}`))
      }, timeoutMs)
      check()
    })
  }

  /**
   * Joins a round in SYNC.
   * @throws Error when the node already takes part in {@link NODE_LIMITS.maxActiveRounds} rounds
   */
  join(roundId: string): void {
    if (this.rounds.has(roundId)) return
    if (this.activeRounds() >= NODE_LIMITS.maxActiveRounds) throw new Error(`node ${this.name}: already in ${NODE_LIMITS.maxActiveRounds} rounds`)
    this.rounds.set(roundId, {
      snapshot: initialRound({hasPredecessor: !!this.opts.predecessor, hasSuccessor: !!this.opts.successor, extensions: this.extensions}),
      watchTimer: undefined,
      watchStartedAt: undefined,
      draftMessagesSent: 0,
      sentLines: {predecessor: [], successor: []},
      received: {predecessor: new Set(), successor: new Set()},
    })
    this.emit('state', {roundId, state: NodeState.SYNC})
    if (this.extensions && this.opts.announceRounds) {
      for (const side of this.sides()) this.write(side, formatMessage({command: 'ROUND', roundId}), roundId)
    }
  }

  /** The local readiness steps and `before` gates passed (draft §6.1). */
  locallyReady(roundId: string): void {
    this.apply(roundId, {type: 'locallyReady'})
  }

  /** The local task finished; sends COMPLETE on (draft §6.3). */
  taskFinished(roundId: string): void {
    this.apply(roundId, {type: 'taskFinished'})
  }

  /** Halts the round from here; with extensions an ABORT travels both ways. A round not joined is left alone. */
  abort(roundId: string, reason: string): void {
    if (!this.rounds.has(roundId)) return
    this.apply(roundId, {type: 'abort', reason})
  }

  /** The round's current snapshot. */
  round(roundId: string): RoundSnapshot | undefined {
    return this.rounds.get(roundId)?.snapshot
  }

  /** READY/START/COMPLETE lines this node sent in the round. */
  draftMessagesSent(roundId: string): number {
    return this.rounds.get(roundId)?.draftMessagesSent ?? 0
  }

  /** Forgets a finished (exited or halted) round, so it no longer counts against the round limit. */
  forget(roundId: string): void {
    const r = this.rounds.get(roundId)
    if (!r || (!r.snapshot.exited && r.snapshot.aborted === undefined)) return
    clearTimeout(r.watchTimer)
    this.rounds.delete(roundId)
  }

  /** Closes the listener, both links and every timer. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const r of this.rounds.values()) clearTimeout(r.watchTimer)
    for (const t of Object.values(this.graceTimers)) clearTimeout(t)
    for (const link of Object.values(this.links)) {
      clearInterval(link?.heartbeat)
      clearTimeout(link?.silence)
      link?.socket.destroy()
    }
    this.links = {}
    this.wakeLinkWaiters()
    await this.listener?.close()
  }

  // --- connections -------------------------------------------------------

  private sides(): Side[] {
    return [...(this.opts.predecessor ? ['predecessor' as const] : []), ...(this.opts.successor ? ['successor' as const] : [])]
  }

  private activeRounds(): number {
    let n = 0
    for (const r of this.rounds.values()) if (!r.snapshot.exited && r.snapshot.aborted === undefined) n++
    return n
  }

  /** Keeps (re)dialing the predecessor while the node lives and the link is down. */
  private startDialing(): void {
    if (this.dialing || this.closed) return
    this.dialing = true
    // A link the peer closed young (e.g. it refused what we replayed) is not redialed in a tight loop.
    const lived = this.predecessorUpAt === undefined ? Infinity : Date.now() - this.predecessorUpAt
    this.redialBackoffMs = lived < 1000 ? Math.min(Math.max(this.redialBackoffMs * 2, 100), 5000) : 0
    const pause = this.redialBackoffMs
    void (async () => {
      if (pause > 0) await new Promise((r) => setTimeout(r, pause))
      let delay = 50
      while (!this.closed && !this.links.predecessor) {
        const pred = this.opts.predecessor!
        try {
          const socket = await this.transport.connect(pred.host, pred.port, pred.name)
          if (this.closed) {
            socket.destroy()
            break
          }
          await this.greetPredecessor(socket)
          delay = 50
        } catch (error) {
          this.log('debug', `dialing predecessor ${pred.name} at ${pred.host}:${pred.port}: ${(error as Error).message}`)
          await new Promise((r) => setTimeout(r, delay))
          delay = Math.min(delay * 2, 2000)
        }
      }
      this.dialing = false
    })()
  }

  /** Dialer side: HELLO both ways with extensions; without them the link counts as up at once. */
  private greetPredecessor(socket: ChainSyncSocket): Promise<void> {
    // Errors (ECONNRESET …) are followed by 'close', which detaches the link; without a listener they would crash the process.
    socket.on('error', () => undefined)
    socket.setNoDelay?.(true)
    socket.setKeepAlive?.(true, this.heartbeatMs)
    if (!this.extensions) {
      this.attach('predecessor', socket, [])
      return Promise.resolve()
    }
    const pred = this.opts.predecessor!
    return new Promise((resolve, reject) => {
      const decoder = new LineDecoder()
      const fail = (reason: string) => {
        cleanup()
        socket.destroy()
        reject(new Error(reason))
      }
      const timer = setTimeout(() => fail(`no HELLO from ${pred.name} within ${NODE_LIMITS.helloTimeoutMs / 1000}s`), NODE_LIMITS.helloTimeoutMs)
      const onData = (chunk: Buffer) => {
        const {lines, overflow} = decoder.push(chunk)
        if (overflow) return fail('greeting line too long')
        if (lines.length === 0) return
        let hello: Message
        try {
          hello = parseMessage(lines[0]!)
        } catch (error) {
          return fail((error as Error).message)
        }
        if (hello.command !== 'HELLO' || hello.node !== pred.name) return fail(`expected HELLO:${pred.name}, got "${lines[0]!.slice(0, 80)}"`)
        cleanup()
        // The greeting's decoder goes on: it holds any partial line that arrived in the same segment as HELLO.
        this.attach('predecessor', socket, lines.slice(1), decoder)
        resolve()
      }
      const onClose = () => fail('connection closed before HELLO (refused by the predecessor?)')
      const cleanup = () => {
        clearTimeout(timer)
        socket.off('data', onData)
        socket.off('close', onClose)
      }
      socket.on('data', onData)
      socket.on('close', onClose)
      socket.write(formatMessage({command: 'HELLO', node: this.name}))
    })
  }

  /** Token bucket per source address (connectRateLimit, by default NODE_LIMITS.connectBurst, connectPerSecond). */
  private admit(source: string): boolean {
    const now = Date.now()
    const {burst, perSecond} = this.rateLimit
    const b = this.buckets.get(source) ?? {tokens: burst, at: now}
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond)
    b.at = now
    const ok = b.tokens >= 1
    if (ok) b.tokens -= 1
    this.buckets.set(source, b)
    if (this.buckets.size > 4096) this.buckets.delete(this.buckets.keys().next().value!)
    return ok
  }

  private accept(socket: ChainSyncSocket, info: PeerInfo): void {
    const peer = info.remote
    const refuse = (reason: string) => {
      this.log('warn', `refused connection from ${peer}: ${reason}`)
      socket.destroy()
    }
    socket.on('error', () => undefined)
    if (!this.admit(info.source)) return refuse(`rate limit: more than ${this.rateLimit.burst} connection attempts from ${info.source} (${this.rateLimit.perSecond}/s sustained)`)
    if (this.closed || !this.opts.successor) return refuse(this.closed ? 'node closing' : 'the Tail accepts no successor')
    const successor = this.opts.successor.name
    // An authenticated transport (TLS) names the peer: only the expected successor may take that position.
    if (info.identity !== undefined && info.identity !== successor) {
      return refuse(`authenticated as "${info.identity}", expected successor "${successor}"`)
    }
    socket.setNoDelay?.(true)
    socket.setKeepAlive?.(true, this.heartbeatMs)
    if (!this.extensions) {
      if (this.links.successor) return refuse('a successor is already connected')
      return this.attach('successor', socket, [])
    }
    // With extensions the dialer greets first: HELLO:<its name>; we answer HELLO:<our name>.
    const decoder = new LineDecoder()
    const timer = setTimeout(() => refuse('no HELLO within 10s'), NODE_LIMITS.helloTimeoutMs)
    const onData = (chunk: Buffer) => {
      const {lines, overflow} = decoder.push(chunk)
      if (overflow) {
        clearTimeout(timer)
        return refuse('greeting line too long')
      }
      if (lines.length === 0) return
      clearTimeout(timer)
      socket.off('data', onData)
      let hello: Message
      try {
        hello = parseMessage(lines[0]!)
      } catch (error) {
        return refuse((error as Error).message)
      }
      if (hello.command !== 'HELLO') return refuse(`expected HELLO, got ${hello.command}`)
      if (hello.node !== successor) return refuse(`HELLO from "${hello.node}", expected successor "${successor}"`)
      // The successor redialed (it saw the old link die first): the new link replaces the old one.
      const old = this.links.successor
      if (old) this.detach('successor', old, 'replaced by a new connection from the successor')
      socket.write(formatMessage({command: 'HELLO', node: this.name}))
      this.attach('successor', socket, lines.slice(1), decoder)
    }
    socket.on('data', onData)
    socket.on('close', () => clearTimeout(timer))
  }

  /**
   * Makes `socket` the link to `side`. `early` are complete lines that arrived with the greeting; `decoder` is the
   * greeting's decoder, which may hold the start of the next line.
   */
  private attach(side: Side, socket: ChainSyncSocket, early: string[], decoder = new LineDecoder()): void {
    if (this.closed) {
      // A greeting that completed after close(): the node is gone.
      socket.destroy()
      return
    }
    const link: Link = {socket, decoder, lastSeen: Date.now(), heartbeat: undefined, silence: undefined}
    const reconnect = this.everUp[side]
    this.links[side] = link
    this.everUp[side] = true
    if (side === 'predecessor') this.predecessorUpAt = Date.now()
    clearTimeout(this.graceTimers[side])
    delete this.graceTimers[side]
    socket.on('data', (chunk: Buffer) => {
      link.lastSeen = Date.now()
      link.silence?.refresh()
      const {lines, overflow} = link.decoder.push(chunk)
      for (const line of lines) {
        if (this.links[side] !== link) return
        this.onLine(side, line)
      }
      if (overflow && this.links[side] === link) this.dropLink(side, `line longer than ${MAX_LINE_BYTES} bytes`, '')
    })
    socket.on('close', () => this.detach(side, link, 'connection closed'))
    if (this.extensions) {
      // Heartbeat: say something every interval; a link silent for three intervals is dead. The silence is timed
      // from the last data (not checked at the heartbeat ticks, which would let up to 4 intervals pass).
      link.heartbeat = setInterval(() => socket.write(formatMessage({command: 'HEARTBEAT'})), this.heartbeatMs)
      link.heartbeat.unref?.()
      link.silence = setTimeout(() => {
        this.log('warn', `no data from ${side} for ${formatMs(Date.now() - link.lastSeen)}: link dead`)
        this.detach(side, link, 'heartbeat timeout')
      }, 3 * this.heartbeatMs)
      link.silence.unref?.()
    }
    this.emit('linkUp', {side, reconnect})
    if (reconnect) this.log('info', `link to ${side} re-established`)
    // Lines queued while no link was up, then (after a reconnect) every line of every live round again.
    const queued = this.pending[side]
    this.pending[side] = []
    const replay = reconnect ? [...this.rounds.values()].filter((r) => r.snapshot.aborted === undefined).flatMap((r) => r.sentLines[side]) : []
    const written = new Set<string>()
    for (const line of replay) if (!written.has(line)) written.add(line) && socket.write(line)
    for (const q of queued) {
      if (!written.has(q.line)) {
        written.add(q.line)
        socket.write(q.line)
      }
      if (q.id !== undefined) this.opts.outbox?.sent(q.id)
    }
    for (const line of early) {
      // A violation closes the link: what followed it on that connection is not acted on.
      if (this.links[side] !== link) break
      this.onLine(side, line)
    }
    this.wakeLinkWaiters()
  }

  private detach(side: Side, link: Link, reason: string): void {
    clearInterval(link.heartbeat)
    clearTimeout(link.silence)
    link.socket.destroy()
    if (this.links[side] !== link) return
    delete this.links[side]
    if (this.closed) return
    this.emit('linkDown', {side, reason})
    const peer = side === 'predecessor' ? this.opts.predecessor?.name : this.opts.successor?.name
    if (reason !== 'replaced by a new connection from the successor') this.log(this.activeRounds() > 0 ? 'warn' : 'info', `link to ${side} ${peer} down: ${reason}`)
    if (side === 'predecessor') this.startDialing()
    if (this.activeRounds() > 0 && !this.graceTimers[side]) {
      this.graceTimers[side] = setTimeout(() => {
        delete this.graceTimers[side]
        if (this.links[side]) return
        for (const [roundId, round] of this.rounds) {
          if (round.snapshot.exited || round.snapshot.aborted !== undefined) continue
          const why = `connection to ${side} ${peer} lost for more than ${formatMs(this.graceMs)}`
          this.emit('linkLost', {roundId, side, peer: peer ?? '?', reason: why})
          this.apply(roundId, {type: 'abort', reason: why})
        }
      }, this.graceMs)
    }
  }

  /** Closes a link because of what it sent (bad input never changes state). */
  private dropLink(side: Side, reason: string, line: string): void {
    this.log('warn', `closing connection to ${side}: ${reason}${line ? ` (line "${printable(line)}")` : ''}`)
    this.emit('violation', {from: side, reason, line})
    const link = this.links[side]
    if (link) {
      if (side === 'predecessor') this.predecessorUpAt = undefined // our decision, not the peer refusing us: no redial pause
      this.detach(side, link, `protocol violation: ${reason}`)
    }
  }

  private wakeLinkWaiters(): void {
    const waiters = this.linkWaiters
    this.linkWaiters = []
    for (const w of waiters) w()
  }

  private onLine(side: Side, line: string): void {
    this.emit('received', {from: side, line})
    let msg: Message
    try {
      msg = parseMessage(line)
    } catch (error) {
      const reason = error instanceof ProtocolError ? error.message : String(error)
      return this.dropLink(side, reason, line)
    }
    if (msg.command === 'HEARTBEAT') return
    if (msg.command === 'HELLO') return this.dropLink(side, 'HELLO after the greeting', line)
    if (msg.command === 'ROUND') {
      if (this.rounds.has(msg.roundId)) return
      if (this.activeRounds() >= NODE_LIMITS.maxActiveRounds) return this.dropLink(side, `more than ${NODE_LIMITS.maxActiveRounds} concurrent rounds`, line)
      this.emit('roundAnnounced', {roundId: msg.roundId, from: side})
      return
    }
    const roundId = msg.roundId ?? this.onlyRound()
    const round = roundId === undefined ? undefined : this.rounds.get(roundId)
    if (roundId === undefined || !round) return this.dropLink(side, `unknown ROUND-ID ${msg.roundId ?? '(none)'}`, line)
    if (msg.command !== 'ABORT') {
      // After a reconnect the peer sends its lines of the round again: what we already have is a duplicate.
      if (round.received[side].has(msg.command)) {
        this.log('debug', `duplicate ${msg.command} from ${side} in round ${roundId} ignored`)
        return
      }
    }
    const event: RoundEvent =
      msg.command === 'ABORT' ? {type: 'receivedAbort', from: side, reason: msg.reason} : {type: 'received', from: side, command: msg.command}
    const legal = this.apply(roundId, event, line)
    if (legal && msg.command !== 'ABORT') round.received[side].add(msg.command)
  }

  /** A message without ROUND-ID belongs to the only round, if there is exactly one (draft §5 "MAY omit"). */
  private onlyRound(): string | undefined {
    return this.rounds.size === 1 ? this.rounds.keys().next().value : undefined
  }

  // --- state machine glue --------------------------------------------------

  /** @returns false when the event was a violation */
  private apply(roundId: string, event: RoundEvent, line = ''): boolean {
    const round = this.rounds.get(roundId)
    if (!round) throw new Error(`node ${this.name} has not joined round ${roundId}`)
    const before = round.snapshot.state
    const {snapshot, actions} = transition(round.snapshot, event)
    round.snapshot = snapshot
    if (snapshot.state !== before) this.emit('state', {roundId, state: snapshot.state})
    let legal = true
    for (const action of actions) {
      if (action.type === 'violation') legal = false
      this.perform(roundId, round, action, line)
    }
    return legal
  }

  private perform(roundId: string, round: Round, action: RoundAction, line: string): void {
    switch (action.type) {
      case 'send': {
        if (action.command !== 'EXECUTING') round.draftMessagesSent++
        this.write(action.to, formatMessage({command: action.command, roundId} as Message), roundId)
        break
      }
      case 'sendAbort':
        this.write(action.to, formatMessage({command: 'ABORT', roundId, reason: action.reason}), roundId)
        break
      case 'startTask':
        this.emit('startTask', {roundId})
        break
      case 'watchPredecessor': {
        clearTimeout(round.watchTimer)
        const predecessor = this.opts.predecessor!.name
        round.watchStartedAt = Date.now()
        this.emit('predecessorWorking', {roundId, predecessor})
        round.watchTimer = setTimeout(() => {
          const waitedMs = Date.now() - (round.watchStartedAt ?? Date.now())
          this.emit('predecessorTimeout', {roundId, predecessor, waitedMs})
          this.apply(roundId, {type: 'abort', reason: `predecessor ${predecessor} did not complete within ${Math.round(waitedMs / 1000)}s`})
        }, this.opts.predecessorTimeoutMs)
        break
      }
      case 'unwatchPredecessor':
        clearTimeout(round.watchTimer)
        round.watchTimer = undefined
        break
      case 'exit':
        this.emit('exit', {roundId, chainDone: action.chainDone})
        break
      case 'halted':
        this.emit('halted', {roundId, reason: action.reason, origin: action.origin})
        break
      case 'violation':
        this.dropLink(action.from, action.reason, line)
        break
    }
  }

  private write(side: Side, line: string, roundId: string): void {
    this.emit('sent', {to: side, line: line.trimEnd()})
    this.rounds.get(roundId)?.sentLines[side].push(line)
    // With an outbox the line is committed first (seed 001 §5); inside `atomically` it leaves only after the commit.
    const id = this.opts.outbox?.enqueue(roundId, side, line.trimEnd())
    if (this.holding) this.held.push({side, line, id})
    else this.deliver(side, line, id)
  }

  private deliver(side: Side, line: string, id: number | undefined): void {
    const link = this.links[side]
    if (link) {
      link.socket.write(line)
      if (id !== undefined) this.opts.outbox?.sent(id)
    } else this.pending[side].push({line, id})
  }

  /**
   * Runs `fn` (typically a journal transaction that records a step's result and, through the outbox, the lines it
   * makes this node send); the lines leave only after `fn` returned, i.e. after the commit (seed 001 §5 outbox).
   */
  atomically<T>(fn: () => T): T {
    this.holding = true
    let out: T
    try {
      out = fn()
    } catch (error) {
      this.held = []
      throw error
    } finally {
      this.holding = false
    }
    const held = this.held
    this.held = []
    failpoint(`outbox-committed:${this.name}`)
    for (const h of held) this.deliver(h.side, h.line, h.id)
    return out
  }

  /** Queues lines to be sent first on the next link to `side` (a resumed run's committed but unsent lines). */
  preload(side: Side, lines: readonly string[]): void {
    this.pending[side].unshift(...lines.map((l) => ({line: l.endsWith('\n') ? l : `${l}\n`, id: undefined})))
  }

  private log(level: NodeLogEntry['level'], message: string): void {
    this.opts.log?.({level, node: this.name, message})
  }
}

/** A line as it can be logged: non-printable bytes escaped, at most 80 characters. */
function printable(line: string): string {
  return line.slice(0, 80).replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}
