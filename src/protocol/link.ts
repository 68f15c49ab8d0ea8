/**
 * Links between neighbours (docs/chainsync.md "Connections"): one live link (its socket, line decoder, heartbeat
 * and silence detection), the dialer that keeps the link to the predecessor up, and the reconnect-grace timers.
 * All timing goes through the node's {@link Clock}.
 */
import type {Clock, Timer} from '../util/clock.js'
import {formatMessage, type LineDecoder} from './codec.js'
import type {Side} from './state-machine.js'
import type {ChainSyncSocket, ChainSyncTransport} from './transport.js'

/** A link silent for this many heartbeat intervals is dead. */
export const SILENT_INTERVALS = 3

/** Redial timing of the predecessor dialer, ms. */
export const REDIAL = {
  /** First pause after a failed dial; it doubles after every further failure … */
  firstBackoffMs: 50,
  /** … up to this. */
  maxBackoffMs: 2000,
  /** A link that went down sooner than this after it came up (the peer closed it, or it went silent) is short-lived … */
  shortLivedMs: 1000,
  /** … and is redialed only after a pause: this at first, doubling after every further short-lived link … */
  minPauseMs: 100,
  /** … up to this. */
  maxPauseMs: 5000,
} as const

export interface LinkHooks {
  /** The complete lines of one chunk of data; `overflow` when a line was longer than the codec allows. */
  data(lines: string[], overflow: boolean): void
  /** The socket closed. */
  closed(): void
  /** No data for {@link SILENT_INTERVALS} heartbeat intervals; `silentMs` since the last data. */
  silent(silentMs: number): void
  /** Nothing at all arrived within the `idleMs` given to {@link Link.start}. */
  idle(): void
}

/** Readies a fresh connection to a neighbour (either direction): no Nagle delay, TCP keepalive after `idleMs` idle. */
export function prepareSocket(socket: ChainSyncSocket, idleMs: number): void {
  socket.setNoDelay?.(true)
  socket.setKeepAlive?.(true, idleMs)
}

/** One live connection to a neighbour. */
export class Link {
  /** When data last arrived (clock ms). */
  lastSeen: number
  private heartbeat: Timer | undefined
  /** Fires after 3 heartbeat intervals without data (re-armed on every chunk): the link is dead. */
  private silence: Timer | undefined
  /** Fires when nothing at all arrived within the first `idleMs` (cleared by the first data). */
  private idle: Timer | undefined

  /** @param decoder the greeting's decoder when there was one (it may hold the start of the next line) */
  constructor(
    readonly socket: ChainSyncSocket,
    private readonly decoder: LineDecoder,
    private readonly clock: Clock,
  ) {
    this.lastSeen = clock.now()
  }

  /**
   * Starts reading. With `heartbeatMs` (extensions) it also says something every interval, and reports the link
   * silent once nothing arrived for three intervals. The silence is timed from the last data (not checked at the
   * heartbeat ticks, which would let up to 4 intervals pass). With `idleMs`, a link on which nothing at all arrives
   * within that long is reported idle (a link without heartbeats whose peer never speaks).
   */
  start(hooks: LinkHooks, heartbeatMs: number | undefined, idleMs?: number): void {
    this.socket.on('data', (chunk: Buffer) => {
      this.lastSeen = this.clock.now()
      this.silence?.refresh()
      if (this.idle) {
        this.clock.clearTimeout(this.idle)
        this.idle = undefined
      }
      const {lines, overflow} = this.decoder.push(chunk)
      hooks.data(lines, overflow)
    })
    this.socket.on('close', () => hooks.closed())
    if (heartbeatMs !== undefined) {
      this.heartbeat = this.clock.setInterval(() => this.socket.write(formatMessage({command: 'HEARTBEAT'})), heartbeatMs)
      this.heartbeat.unref()
      this.silence = this.clock.setTimeout(() => hooks.silent(this.clock.now() - this.lastSeen), SILENT_INTERVALS * heartbeatMs)
      this.silence.unref()
    }
    if (idleMs !== undefined) {
      this.idle = this.clock.setTimeout(() => {
        this.idle = undefined
        hooks.idle()
      }, idleMs)
      this.idle.unref()
    }
  }

  write(line: string): void {
    this.socket.write(line)
  }

  /** Stops the timers and destroys the socket. Idempotent. */
  stop(): void {
    this.clock.clearInterval(this.heartbeat)
    this.clock.clearTimeout(this.silence)
    this.clock.clearTimeout(this.idle)
    this.socket.destroy()
  }
}

export interface DialerDeps {
  clock: Clock
  transport: ChainSyncTransport
  /** Where the predecessor is now (its port may be set after the dialer was made). */
  target(): {name: string; host: string; port: number}
  /** The node is closed: stop. */
  closed(): boolean
  /** A link to the predecessor is up: stop. */
  linked(): boolean
  /** Greets on a fresh connection and makes it the link. @throws (rejects) when the greeting fails */
  greet(socket: ChainSyncSocket): Promise<void>
  /** A failed attempt (logged at debug level). */
  failed(message: string): void
}

/**
 * Keeps (re)dialing the predecessor while the node lives and the link is down: backoff 50 ms doubling to 2 s between
 * failed attempts; after a short-lived link (e.g. the peer refused what we replayed) a pause first, 100 ms doubling
 * to 5 s, so such a link is not redialed in a tight loop. A link we dropped for a violation is redialed at once.
 */
export class PredecessorDialer {
  private dialing = false
  /** When the current predecessor link came up. */
  private upAt: number | undefined
  /** The pause before redialing after a short-lived link, ms. */
  private pauseMs = 0

  constructor(private readonly d: DialerDeps) {}

  /** The link to the predecessor came up. */
  linkUp(): void {
    this.upAt = this.d.clock.now()
  }

  /** We dropped the link ourselves (a violation): not the peer refusing us, so no redial pause. */
  droppedByUs(): void {
    this.upAt = undefined
  }

  /** Starts the dial loop unless it runs already. */
  start(): void {
    if (this.dialing || this.d.closed()) return
    this.dialing = true
    const lived = this.upAt === undefined ? Infinity : this.d.clock.now() - this.upAt
    this.pauseMs = lived < REDIAL.shortLivedMs ? Math.min(Math.max(this.pauseMs * 2, REDIAL.minPauseMs), REDIAL.maxPauseMs) : 0
    const pause = this.pauseMs
    void (async () => {
      if (pause > 0) await this.d.clock.sleep(pause)
      let delay: number = REDIAL.firstBackoffMs
      while (!this.d.closed() && !this.d.linked()) {
        const pred = this.d.target()
        try {
          const socket = await this.d.transport.connect(pred.host, pred.port, pred.name)
          if (this.d.closed()) {
            socket.destroy()
            break
          }
          await this.d.greet(socket)
          delay = REDIAL.firstBackoffMs
        } catch (error) {
          this.d.failed(`dialing predecessor ${pred.name} at ${pred.host}:${pred.port}: ${(error as Error).message}`)
          await this.d.clock.sleep(delay)
          delay = Math.min(delay * 2, REDIAL.maxBackoffMs)
        }
      }
      this.dialing = false
    })()
  }
}

/** Per side, the reconnect-grace timer of a link that dropped during a round. */
export class GraceTimers {
  private readonly timers: Partial<Record<Side, Timer>> = {}

  constructor(
    private readonly clock: Clock,
    readonly graceMs: number,
  ) {}

  /** Arms `side`'s timer unless it is armed already; `expired` runs when it fires. */
  arm(side: Side, expired: () => void): void {
    if (this.timers[side]) return
    this.timers[side] = this.clock.setTimeout(() => {
      delete this.timers[side]
      expired()
    }, this.graceMs)
  }

  /** The link to `side` is back. */
  disarm(side: Side): void {
    this.clock.clearTimeout(this.timers[side])
    delete this.timers[side]
  }

  /** Cancels every timer (the node closes). */
  clear(): void {
    for (const side of Object.keys(this.timers) as Side[]) this.disarm(side)
  }
}
