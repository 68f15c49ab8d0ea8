/**
 * A ChainSync node: the transport around the pure state machine (draft-dohmeyer-chainsync-03 §3).
 * Each node listens; each node except the Head dials its predecessor, so every adjacent pair shares one
 * persistent bidirectional connection (docs/chainsync.md "Connections"). Links that drop are re-established
 * within `reconnectGraceMs`, and every line of a live round is sent again on the new link; the receiver ignores
 * what it already has (duplicates are per round and per side).
 *
 * The pieces: `link.ts` (a live link, the dialer, grace timers), `handshake.ts` (HELLO), `admission.ts` (admission of
 * inbound connections before any handshake, the refusal log), `outbound.ts` (outbox and queued lines),
 * `node-options.ts` (options, events, limits). What stays here
 * is one class whose connection handling (connect, accept, attach, detach) and round dispatch share the links and
 * the rounds; cutting it further would split one state across files.
 */
import {randomUUID} from 'node:crypto'
import {EventEmitter} from 'node:events'

import {systemClock, type Clock, type Timer} from '../util/clock.js'
import {formatMs} from '../util/duration.js'
import {Admission, RefusalLog, type InboundCounts} from './admission.js'
import {formatMessage, LineDecoder, MAX_LINE_BYTES, parseMessage, ProtocolError, type Message} from './codec.js'
import {greetPredecessor, greetSuccessor, type Greeting} from './handshake.js'
import {GraceTimers, Link, PredecessorDialer, prepareSocket} from './link.js'
import {Outbound} from './outbound.js'
import {initialRound, NodeState, transition, type RoundAction, type RoundEvent, type RoundSnapshot, type Side} from './state-machine.js'
import {tcpTransport, type ChainSyncListener, type ChainSyncSocket, type ChainSyncTransport, type PeerInfo} from './transport.js'
import {NODE_LIMITS, type ChainSyncNodeEvents, type ChainSyncNodeOptions, type NodeLogEntry} from './node-options.js'

export {NODE_LIMITS, type ChainSyncNodeEvents, type ChainSyncNodeOptions, type NodeLogEntry} from './node-options.js'

interface Round {
  snapshot: RoundSnapshot
  /** The ROUND-ID written on the wire: the round's id, or none for a round started by a READY without one. */
  wireId: string | undefined
  watchTimer: Timer | undefined
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
  private readonly clock: Clock
  private readonly admission: Admission
  private readonly refusals: RefusalLog
  private readonly grace: GraceTimers
  private readonly dialer: PredecessorDialer
  private listener: ChainSyncListener | undefined
  private links: Partial<Record<Side, Link>> = {}
  private everUp: Record<Side, boolean> = {predecessor: false, successor: false}
  private readonly rounds = new Map<string, Round>()
  /** Rounds this node completed and forgot (see {@link rememberFinished}). */
  private readonly finished = new Set<string>()
  private closed = false
  private linkWaiters: Array<() => void> = []
  private readonly outbound: Outbound
  /** {@link ChainSyncNodeOptions.connectTimeoutMs}. */
  private readonly connectTimeoutMs: number

  constructor(opts: ChainSyncNodeOptions) {
    super()
    this.opts = opts
    this.name = opts.name
    this.extensions = opts.extensions ?? true
    this.transport = opts.transport ?? tcpTransport
    this.heartbeatMs = opts.heartbeatMs ?? 5000
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 30_000
    this.clock = opts.clock ?? systemClock
    const caps = opts.inboundLimits ?? {}
    this.admission = new Admission(
      {
        rate: opts.connectRateLimit ?? {burst: NODE_LIMITS.connectBurst, perSecond: NODE_LIMITS.connectPerSecond},
        rateLimitSources: NODE_LIMITS.rateLimitSources,
        maxConnections: caps.maxConnections ?? NODE_LIMITS.maxInboundConnections,
        maxHandshakes: caps.maxHandshakes ?? NODE_LIMITS.maxHandshakes,
        maxHandshakesPerSource: caps.maxHandshakesPerSource ?? NODE_LIMITS.maxHandshakesPerSource,
        handshakeTimeoutMs: caps.handshakeTimeoutMs ?? NODE_LIMITS.handshakeTimeoutMs,
      },
      this.clock,
    )
    this.refusals = new RefusalLog(this.clock, caps.refusalLogBurst ?? NODE_LIMITS.refusalLogBurst, NODE_LIMITS.refusalLogWindowMs, (message) => this.log('warn', message))
    this.grace = new GraceTimers(this.clock, opts.reconnectGraceMs ?? 30_000)
    this.dialer = new PredecessorDialer({
      clock: this.clock,
      transport: this.transport,
      target: () => this.opts.predecessor!,
      closed: () => this.closed,
      linked: () => this.links.predecessor !== undefined,
      greet: (socket) => this.greetPredecessor(socket),
      failed: (message) => this.log('debug', message),
    })
    this.outbound = new Outbound(opts.outbox, (side) => this.links[side], opts.name)
  }

  /** The address the node listens on (after {@link listen}). */
  get address(): {host: string; port: number} {
    if (!this.listener) throw new Error(`node ${this.name} is not listening`)
    return this.listener.address
  }

  /** Inbound connections admitted and still open, and those of them in their TLS handshake. */
  get inbound(): InboundCounts {
    return this.admission.counts
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
      (remote, reason) => this.refusals.refused(remote, reason),
      // Rate limit and caps, applied by the transport before any handshake.
      this.admission,
    )
  }

  /**
   * Dials the predecessor (retrying with backoff: 50 ms doubling to 2 s) and waits for the successor to dial in.
   * The dialer keeps the link up for the node's whole life, redialing whenever it drops.
   * @throws Error when either link is not up within connectTimeoutMs
   */
  async connect(): Promise<void> {
    const timeoutMs = this.connectTimeoutMs
    if (this.opts.predecessor) this.dialer.start()
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.closed) return reject(new Error(`node ${this.name} closed`))
        if ((!this.opts.predecessor || this.links.predecessor) && (!this.opts.successor || this.links.successor)) {
          this.clock.clearTimeout(timer)
          return resolve()
        }
        this.linkWaiters.push(check)
      }
      const timer = this.clock.setTimeout(() => {
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
    this.joinRound(roundId, roundId)
  }

  /** Joins `roundId`, written on the wire as `wireId` (none: lines without ROUND-ID). */
  private joinRound(roundId: string, wireId: string | undefined): void {
    if (this.rounds.has(roundId)) return
    if (this.activeRounds() >= NODE_LIMITS.maxActiveRounds) throw new Error(`node ${this.name}: already in ${NODE_LIMITS.maxActiveRounds} rounds`)
    this.finished.delete(roundId)
    this.rounds.set(roundId, {
      snapshot: initialRound({hasPredecessor: !!this.opts.predecessor, hasSuccessor: !!this.opts.successor, extensions: this.extensions}),
      wireId,
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
    this.clock.clearTimeout(r.watchTimer)
    this.rounds.delete(roundId)
    if (r.snapshot.exited) this.rememberFinished(roundId)
  }

  /**
   * Remembers that this node completed its part of `roundId` (bounded, oldest forgotten first): a READY of it that
   * arrives again (the predecessor replays its lines after a reconnect) must not start it a second time. A halted
   * round is not remembered: a resumed run starts it again.
   */
  private rememberFinished(roundId: string): void {
    this.finished.add(roundId)
    if (this.finished.size > NODE_LIMITS.rememberedRounds) this.finished.delete(this.finished.values().next().value!)
  }

  /** Closes the listener, both links and every timer. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.refusals.flush()
    for (const r of this.rounds.values()) this.clock.clearTimeout(r.watchTimer)
    this.grace.clear()
    for (const link of Object.values(this.links)) link?.stop()
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

  /** Dialer side: HELLO both ways with extensions; without them the link counts as up at once. */
  private greetPredecessor(socket: ChainSyncSocket): Promise<void> {
    // Errors (ECONNRESET …) are followed by 'close', which detaches the link; without a listener they would crash the process.
    socket.on('error', () => undefined)
    prepareSocket(socket, this.heartbeatMs)
    if (!this.extensions) {
      this.attach('predecessor', socket)
      return Promise.resolve()
    }
    const greeting = {self: this.name, peer: this.opts.predecessor!.name, clock: this.clock, timeoutMs: NODE_LIMITS.helloTimeoutMs}
    return greetPredecessor(socket, greeting, (g) => this.attach('predecessor', socket, g))
  }

  private accept(socket: ChainSyncSocket, info: PeerInfo): void {
    const peer = info.remote
    const refuse = (reason: string) => {
      this.refusals.refused(peer, reason)
      socket.destroy()
    }
    socket.on('error', () => undefined)
    if (!info.admitted) {
      // A transport that does not take the gate: admit here (after its handshake, if it has one).
      const admitted = this.admission.admit(info.source, (reason) => refuse(reason))
      if ('refused' in admitted) return refuse(admitted.refused)
      admitted.handshakeDone()
      socket.once('close', () => admitted.release())
    }
    if (this.closed || !this.opts.successor) return refuse(this.closed ? 'node closing' : 'the Tail accepts no successor')
    const successor = this.opts.successor.name
    // An authenticating transport (TLS) names the peer: only the expected successor may take that position, and a
    // connection it did not name is nobody's (its ROUND/START/ABORT lines are never read).
    if (this.transport.authenticates && info.identity === undefined) {
      return refuse(`not authenticated (the ${this.transport.kind} transport authenticates every peer; expected successor "${successor}")`)
    }
    if (info.identity !== undefined && info.identity !== successor) {
      return refuse(`authenticated as "${info.identity}", expected successor "${successor}"`)
    }
    prepareSocket(socket, this.heartbeatMs)
    if (!this.extensions) {
      if (this.links.successor) return refuse('a successor is already connected')
      return this.attach('successor', socket)
    }
    // With extensions the dialer greets first: HELLO:<its name>; we answer HELLO:<our name>.
    greetSuccessor(socket, {self: this.name, peer: successor, clock: this.clock, timeoutMs: NODE_LIMITS.helloTimeoutMs}, {
      refuse,
      beforeAnswer: () => {
        // The successor redialed (it saw the old link die first): the new link replaces the old one.
        const old = this.links.successor
        if (old) this.detach('successor', old, REPLACED)
      },
      greeted: (g) => this.attach('successor', socket, g),
    })
  }

  /**
   * Makes `socket` the link to `side`. The greeting's (if any) `early` lines are complete lines that arrived with it;
   * its `decoder` may hold the start of the next line.
   */
  private attach(side: Side, socket: ChainSyncSocket, {early, decoder}: Greeting = {early: [], decoder: new LineDecoder()}): void {
    if (this.closed) {
      // A greeting that completed after close(): the node is gone.
      socket.destroy()
      return
    }
    const link = new Link(socket, decoder, this.clock)
    const reconnect = this.everUp[side]
    this.links[side] = link
    this.everUp[side] = true
    if (side === 'predecessor') this.dialer.linkUp()
    this.grace.disarm(side)
    link.start(
      {
        data: (lines, overflow) => {
          for (const line of lines) {
            if (this.links[side] !== link) return
            this.onLine(side, line)
          }
          if (overflow && this.links[side] === link) this.dropLink(side, `line longer than ${MAX_LINE_BYTES} bytes`, '')
        },
        closed: () => this.detach(side, link, 'connection closed'),
        silent: (silentMs) => {
          this.log('warn', `no data from ${side} for ${formatMs(silentMs)}: link dead`)
          this.detach(side, link, 'heartbeat timeout')
        },
        idle: () => {
          const why = `nothing received within connect_timeout (${formatMs(this.connectTimeoutMs)})`
          this.log('warn', `closing connection to ${side}: ${why}`)
          this.detach(side, link, why)
        },
      },
      this.extensions ? this.heartbeatMs : undefined,
      // Without extensions there is no greeting and no heartbeat: a successor that connects and says nothing must not
      // hold the position for ever (a chainup successor dials again at once).
      !this.extensions && side === 'successor' ? this.connectTimeoutMs : undefined,
    )
    this.emit('linkUp', {side, reconnect})
    if (reconnect) this.log('info', `link to ${side} re-established`)
    // Lines queued while no link was up, then (after a reconnect) every line of every live round again.
    const replay = reconnect ? [...this.rounds.values()].filter((r) => r.snapshot.aborted === undefined).flatMap((r) => r.sentLines[side]) : []
    this.outbound.flush(side, link, replay)
    for (const line of early) {
      // A violation closes the link: what followed it on that connection is not acted on.
      if (this.links[side] !== link) break
      this.onLine(side, line)
    }
    this.wakeLinkWaiters()
  }

  private detach(side: Side, link: Link, reason: string): void {
    link.stop()
    if (this.links[side] !== link) return
    delete this.links[side]
    if (this.closed) return
    this.emit('linkDown', {side, reason})
    const peer = side === 'predecessor' ? this.opts.predecessor?.name : this.opts.successor?.name
    if (reason !== REPLACED) this.log(this.activeRounds() > 0 ? 'warn' : 'info', `link to ${side} ${peer} down: ${reason}`)
    if (side === 'predecessor') this.dialer.start()
    if (this.activeRounds() > 0) {
      this.grace.arm(side, () => {
        if (this.links[side]) return
        for (const [roundId, round] of this.rounds) {
          if (round.snapshot.exited || round.snapshot.aborted !== undefined) continue
          const why = `connection to ${side} ${peer} lost for more than ${formatMs(this.grace.graceMs)}`
          this.emit('linkLost', {roundId, side, peer: peer ?? '?', reason: why})
          this.apply(roundId, {type: 'abort', reason: why})
        }
      })
    }
  }

  /** Closes a link because of what it sent (bad input never changes state). */
  private dropLink(side: Side, reason: string, line: string): void {
    this.log('warn', `closing connection to ${side}: ${reason}${line ? ` (line "${printable(line)}")` : ''}`)
    this.emit('violation', {from: side, reason, line})
    const link = this.links[side]
    if (link) {
      if (side === 'predecessor') this.dialer.droppedByUs() // our decision, not the peer refusing us: no redial pause
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
      this.emit('roundAnnounced', {roundId: msg.roundId, from: side, started: false})
      return
    }
    let roundId = msg.roundId ?? this.onlyRound()
    const known = roundId === undefined ? undefined : this.rounds.get(roundId)
    // Without ROUND-ID, a READY after the only round was halted begins the next round (the halted one is over).
    const next = msg.roundId === undefined && known?.snapshot.aborted !== undefined
    if (msg.command === 'READY' && side === 'predecessor' && !this.extensions && (!known || next)) {
      // Draft §6.1: without announcements, READY from the predecessor is what starts a round here.
      if (msg.roundId === undefined && this.liveRounds().length > 0) return this.dropLink(side, 'READY without ROUND-ID while several rounds are live', line)
      if (msg.roundId !== undefined && this.finished.has(msg.roundId)) {
        this.log('debug', `READY of round ${msg.roundId}, which this node completed, ignored (a replay)`)
        return
      }
      roundId = this.startRound(msg.roundId, line)
      if (roundId === undefined) return
    }
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

  /**
   * A message without ROUND-ID belongs to the only round (draft §5 "MAY omit"): the only live one (neither exited nor
   * halted) if there is exactly one, else the only one if there is exactly one.
   */
  private onlyRound(): string | undefined {
    const live = this.liveRounds()
    if (live.length === 1) return live[0]
    if (live.length === 0 && this.rounds.size === 1) return this.rounds.keys().next().value
    return undefined
  }

  private liveRounds(): string[] {
    return [...this.rounds].filter(([, r]) => !r.snapshot.exited && r.snapshot.aborted === undefined).map(([id]) => id)
  }

  /**
   * Starts a round on the predecessor's first READY (extensions off, draft §6.1): joins it, then tells the listeners
   * (`roundAnnounced`, `started: true`) so the device's readiness runs. A READY without ROUND-ID starts the single
   * current round under a fresh UUID of this node's own, kept off the wire.
   * @returns the round's id, or undefined when it cannot start (the link was dropped, or a listener gave it up)
   */
  private startRound(wireId: string | undefined, line: string): string | undefined {
    if (this.activeRounds() >= NODE_LIMITS.maxActiveRounds) {
      this.dropLink('predecessor', `more than ${NODE_LIMITS.maxActiveRounds} concurrent rounds`, line)
      return undefined
    }
    const roundId = wireId ?? randomUUID()
    this.joinRound(roundId, wireId)
    this.log('info', `round ${roundId} started by READY from predecessor ${this.opts.predecessor!.name}${wireId === undefined ? ' (without ROUND-ID: this node names it)' : ''}`)
    this.emit('roundAnnounced', {roundId, from: 'predecessor', started: true})
    // A listener that could not take the round on (e.g. cannot journal it) aborts and forgets it: the READY goes nowhere.
    const round = this.rounds.get(roundId)
    if (!round || round.snapshot.aborted !== undefined) return undefined
    return roundId
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
        // EXECUTING (an extension) always names its round; a draft line only when the round has a ROUND-ID on the wire.
        const wireId = action.command === 'EXECUTING' ? roundId : round.wireId
        this.write(action.to, formatMessage({command: action.command, roundId: wireId} as Message), roundId)
        break
      }
      case 'sendAbort':
        this.write(action.to, formatMessage({command: 'ABORT', roundId, reason: action.reason}), roundId)
        break
      case 'startTask':
        this.emit('startTask', {roundId})
        break
      case 'watchPredecessor':
        this.watchPredecessor(roundId, round)
        break
      case 'unwatchPredecessor':
        this.clock.clearTimeout(round.watchTimer)
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

  /** Arms the predecessor timeout (docs/chainsync.md "Predecessor timeout"). */
  private watchPredecessor(roundId: string, round: Round): void {
    this.clock.clearTimeout(round.watchTimer)
    const predecessor = this.opts.predecessor!.name
    round.watchStartedAt = this.clock.now()
    this.emit('predecessorWorking', {roundId, predecessor})
    round.watchTimer = this.clock.setTimeout(() => {
      const waitedMs = this.clock.now() - (round.watchStartedAt ?? this.clock.now())
      this.emit('predecessorTimeout', {roundId, predecessor, waitedMs})
      this.apply(roundId, {type: 'abort', reason: `predecessor ${predecessor} did not complete within ${Math.round(waitedMs / 1000)}s`})
    }, this.opts.predecessorTimeoutMs)
  }

  // --- outbox ----------------------------------------------------------------

  private write(side: Side, line: string, roundId: string): void {
    this.emit('sent', {to: side, line: line.trimEnd()})
    this.rounds.get(roundId)?.sentLines[side].push(line)
    // With an outbox the line is committed first (seed 001 §5); inside `atomically` it leaves only after the commit.
    this.outbound.send(roundId, side, line)
  }

  /**
   * Runs `fn` (typically a journal transaction that records a step's result and, through the outbox, the lines it
   * makes this node send); the lines leave only after `fn` returned, i.e. after the commit (seed 001 §5 outbox).
   */
  atomically<T>(fn: () => T): T {
    return this.outbound.atomically(fn)
  }

  /** Queues lines to be sent first on the next link to `side` (a resumed run's committed but unsent lines). */
  preload(side: Side, lines: readonly string[]): void {
    this.outbound.preload(side, lines)
  }

  private log(level: NodeLogEntry['level'], message: string): void {
    this.opts.log?.({level, node: this.name, message})
  }
}

/** The reason an old successor link is detached with when the successor dialed again (not logged). */
const REPLACED = 'replaced by a new connection from the successor'

/** A line as it can be logged: non-printable bytes escaped, at most 80 characters. */
function printable(line: string): string {
  return line.slice(0, 80).replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}
