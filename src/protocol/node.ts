/**
 * A ChainSync node over TCP: the transport around the pure state machine (draft-dohmeyer-chainsync-03 §3).
 * Each node listens; each node except the Head dials its predecessor, so every adjacent pair shares one
 * persistent bidirectional connection (docs/chainsync.md "Connections").
 */
import {EventEmitter} from 'node:events'

import {formatMessage, LineDecoder, parseMessage, ProtocolError, type Message} from './codec.js'
import {initialRound, NodeState, transition, type RoundAction, type RoundEvent, type RoundSnapshot, type Side} from './state-machine.js'
import {tcpTransport, type ChainSyncListener, type ChainSyncSocket, type ChainSyncTransport, type PeerInfo} from './transport.js'

export interface NodeLogEntry {
  level: 'debug' | 'info' | 'warn' | 'error'
  node: string
  message: string
}

export interface ChainSyncNodeOptions {
  /** This node's name (the device name). */
  name: string
  /** Where to listen; port 0 picks a free port (read {@link ChainSyncNode.address} after {@link ChainSyncNode.listen}). */
  listen: {host: string; port: number}
  /** The predecessor to dial; absent on the Head. The port may be filled in after construction with {@link ChainSyncNode.setPredecessorAddress}. */
  predecessor?: {name: string; host: string; port: number}
  /** The successor's name; absent on the Tail. */
  successor?: {name: string}
  /** Send chainup's extension lines (HELLO, EXECUTING, ABORT). @default true */
  extensions?: boolean
  /** Halt the round when the predecessor works on its device longer than this, ms (docs/chainsync.md "Predecessor timeout"). */
  predecessorTimeoutMs: number
  /** Give up dialing the predecessor / waiting for the successor after this, ms. @default 30000 */
  connectTimeoutMs?: number
  /** Receives log lines (violations, lost connections). */
  log?: (entry: NodeLogEntry) => void
  /** TCP (default) or TLS. */
  transport?: ChainSyncTransport
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
  sent: [{to: Side; line: string}]
  received: [{from: Side; line: string}]
  violation: [{from: Side; reason: string; line: string}]
}

interface Link {
  socket: ChainSyncSocket
  decoder: LineDecoder
}

interface Round {
  snapshot: RoundSnapshot
  watchTimer: NodeJS.Timeout | undefined
  watchStartedAt: number | undefined
  /** READY/START/COMPLETE lines sent in this round (draft §1: 4(n-1) across the chain). */
  draftMessagesSent: number
}

/** One ChainSync node. Lifecycle: `listen()` → `connect()` → `join(roundId)` … → `close()`. */
export class ChainSyncNode extends EventEmitter<ChainSyncNodeEvents> {
  readonly name: string
  private readonly opts: ChainSyncNodeOptions
  private readonly extensions: boolean
  private listener: ChainSyncListener | undefined
  private readonly transport: ChainSyncTransport
  private links: Partial<Record<Side, Link>> = {}
  private pending: Record<Side, string[]> = {predecessor: [], successor: []}
  private readonly rounds = new Map<string, Round>()
  private closed = false
  private successorWaiters: Array<() => void> = []

  constructor(opts: ChainSyncNodeOptions) {
    super()
    this.opts = opts
    this.name = opts.name
    this.extensions = opts.extensions ?? true
    this.transport = opts.transport ?? tcpTransport
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
   * Dials the predecessor (retrying with backoff) and waits for the successor to dial in.
   * @throws Error when either link is not up within connectTimeoutMs.
   */
  async connect(): Promise<void> {
    const deadline = Date.now() + (this.opts.connectTimeoutMs ?? 30_000)
    const tasks: Array<Promise<void>> = []
    if (this.opts.predecessor) tasks.push(this.dialPredecessor(deadline))
    if (this.opts.successor) tasks.push(this.waitForSuccessor(deadline))
    await Promise.all(tasks)
  }

  /** Joins a round in SYNC. Messages for rounds not joined are violations. */
  join(roundId: string): void {
    if (this.rounds.has(roundId)) return
    this.rounds.set(roundId, {
      snapshot: initialRound({hasPredecessor: !!this.opts.predecessor, hasSuccessor: !!this.opts.successor, extensions: this.extensions}),
      watchTimer: undefined,
      watchStartedAt: undefined,
      draftMessagesSent: 0,
    })
    this.emit('state', {roundId, state: NodeState.SYNC})
  }

  /** The local readiness steps and `before` gates passed (draft §6.1). */
  locallyReady(roundId: string): void {
    this.apply(roundId, {type: 'locallyReady'})
  }

  /** The local task finished; sends COMPLETE on (draft §6.3). */
  taskFinished(roundId: string): void {
    this.apply(roundId, {type: 'taskFinished'})
  }

  /** Halts the round from here; with extensions an ABORT travels both ways. */
  abort(roundId: string, reason: string): void {
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

  /** Closes the listener, both links and every timer. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const r of this.rounds.values()) clearTimeout(r.watchTimer)
    for (const link of Object.values(this.links)) link?.socket.destroy()
    this.links = {}
    for (const w of this.successorWaiters) w()
    await this.listener?.close()
  }

  // --- connections -------------------------------------------------------

  private async dialPredecessor(deadline: number): Promise<void> {
    let delay = 50
    for (;;) {
      if (this.closed) throw new Error(`node ${this.name} closed`)
      const pred = this.opts.predecessor!
      try {
        const socket = await this.transport.connect(pred.host, pred.port, pred.name)
        socket.setNoDelay?.(true)
        socket.setKeepAlive?.(true, 5000)
        if (this.extensions) socket.write(formatMessage({command: 'HELLO', node: this.name}))
        this.attach('predecessor', socket)
        return
      } catch (error) {
        if (Date.now() + delay > deadline) {
          throw new Error(`node ${this.name}: cannot reach predecessor ${pred.name} at ${pred.host}:${pred.port}: ${(error as Error).message}`)
        }
        await new Promise((r) => setTimeout(r, delay))
        delay = Math.min(delay * 2, 2000)
      }
    }
  }

  private waitForSuccessor(deadline: number): Promise<void> {
    if (this.links.successor) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`node ${this.name}: successor ${this.opts.successor!.name} did not connect`))
      }, Math.max(0, deadline - Date.now()))
      this.successorWaiters.push(() => {
        clearTimeout(timer)
        if (this.links.successor) resolve()
        else reject(new Error(`node ${this.name} closed`))
      })
    })
  }

  private accept(socket: ChainSyncSocket, info: PeerInfo): void {
    const peer = info.remote
    if (this.closed || !this.opts.successor || this.links.successor) {
      this.log('warn', `refused connection from ${peer}: ${!this.opts.successor ? 'the Tail accepts no successor' : 'a successor is already connected'}`)
      socket.destroy()
      return
    }
    // An authenticated transport (TLS) names the peer: only the expected successor may take that position.
    if (info.identity !== undefined && info.identity !== this.opts.successor.name) {
      this.log('warn', `refused connection from ${peer}: authenticated as "${info.identity}", expected successor "${this.opts.successor.name}"`)
      socket.destroy()
      return
    }
    socket.setNoDelay?.(true)
    socket.setKeepAlive?.(true, 5000)
    if (!this.extensions) {
      this.attach('successor', socket)
      return
    }
    // With extensions the dialer must greet first: HELLO:<its name>.
    const decoder = new LineDecoder()
    const onData = (chunk: Buffer) => {
      const {lines, overflow} = decoder.push(chunk)
      if (overflow) return refuse('greeting line too long')
      if (lines.length === 0) return
      socket.off('data', onData)
      let hello: Message
      try {
        hello = parseMessage(lines[0]!)
      } catch (error) {
        return refuse((error as Error).message)
      }
      if (hello.command !== 'HELLO') return refuse(`expected HELLO, got ${hello.command}`)
      if (hello.node !== this.opts.successor!.name) return refuse(`HELLO from "${hello.node}", expected successor "${this.opts.successor!.name}"`)
      if (this.links.successor) return refuse('a successor is already connected')
      this.attach('successor', socket)
      // Lines that arrived with the greeting.
      for (const line of lines.slice(1)) this.onLine('successor', line)
    }
    const refuse = (reason: string) => {
      this.log('warn', `refused connection from ${peer}: ${reason}`)
      socket.destroy()
    }
    socket.on('data', onData)
    socket.on('error', () => socket.destroy())
  }

  private attach(side: Side, socket: ChainSyncSocket): void {
    const link: Link = {socket, decoder: new LineDecoder()}
    this.links[side] = link
    socket.on('data', (chunk: Buffer) => {
      const {lines, overflow} = link.decoder.push(chunk)
      for (const line of lines) {
        if (this.links[side] !== link) return
        this.onLine(side, line)
      }
      if (overflow && this.links[side] === link) this.dropLink(side, 'line longer than 1024 bytes', '')
    })
    socket.on('error', (err) => this.log('debug', `${side} socket error: ${err.message}`))
    socket.on('close', () => {
      if (this.links[side] !== link) return
      delete this.links[side]
      if (!this.closed) this.linkLost(side)
    })
    const queued = this.pending[side]
    this.pending[side] = []
    for (const line of queued) socket.write(line)
    if (side === 'successor') {
      const waiters = this.successorWaiters
      this.successorWaiters = []
      for (const w of waiters) w()
    }
  }

  private linkLost(side: Side): void {
    const peer = side === 'predecessor' ? this.opts.predecessor?.name : this.opts.successor?.name
    for (const [roundId, round] of this.rounds) {
      if (round.snapshot.exited || round.snapshot.aborted !== undefined) continue
      this.log('error', `connection to ${side} ${peer} lost during round ${roundId}`)
      this.apply(roundId, {type: 'abort', reason: `connection to ${side} ${peer} lost`})
    }
  }

  /** Closes a link because of what it sent (bad input never changes state). */
  private dropLink(side: Side, reason: string, line: string): void {
    this.log('warn', `closing connection to ${side}: ${reason}${line ? ` (line "${line.slice(0, 80)}")` : ''}`)
    this.emit('violation', {from: side, reason, line})
    const link = this.links[side]
    if (link) link.socket.destroy()
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
    if (msg.command === 'HELLO') return this.dropLink(side, 'HELLO after the greeting', line)
    const roundId = msg.roundId
    const known = roundId === undefined ? this.onlyRound() : roundId
    if (known === undefined || !this.rounds.has(known)) {
      return this.dropLink(side, `unknown ROUND-ID ${roundId ?? '(none)'}`, line)
    }
    const event: RoundEvent =
      msg.command === 'ABORT' ? {type: 'receivedAbort', from: side, reason: msg.reason} : {type: 'received', from: side, command: msg.command}
    this.apply(known, event, line)
  }

  /** A message without ROUND-ID belongs to the only round, if there is exactly one (draft §5 "MAY omit"). */
  private onlyRound(): string | undefined {
    return this.rounds.size === 1 ? this.rounds.keys().next().value : undefined
  }

  // --- state machine glue --------------------------------------------------

  private apply(roundId: string, event: RoundEvent, line = ''): void {
    const round = this.rounds.get(roundId)
    if (!round) throw new Error(`node ${this.name} has not joined round ${roundId}`)
    const before = round.snapshot.state
    const {snapshot, actions} = transition(round.snapshot, event)
    round.snapshot = snapshot
    if (snapshot.state !== before) this.emit('state', {roundId, state: snapshot.state})
    for (const action of actions) this.perform(roundId, round, action, line)
  }

  private perform(roundId: string, round: Round, action: RoundAction, line: string): void {
    switch (action.type) {
      case 'send': {
        if (action.command !== 'EXECUTING') round.draftMessagesSent++
        this.write(action.to, formatMessage({command: action.command, roundId} as Message))
        break
      }
      case 'sendAbort':
        this.write(action.to, formatMessage({command: 'ABORT', roundId, reason: action.reason}))
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
        round.watchTimer.unref?.()
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

  private write(side: Side, line: string): void {
    this.emit('sent', {to: side, line: line.trimEnd()})
    const link = this.links[side]
    if (link) link.socket.write(line)
    else this.pending[side].push(line)
  }

  private log(level: NodeLogEntry['level'], message: string): void {
    this.opts.log?.({level, node: this.name, message})
  }
}
