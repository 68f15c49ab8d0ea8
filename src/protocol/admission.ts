/**
 * Admission of inbound connections (docs/chainsync.md "Limits"), decided as soon as TCP has accepted a connection and
 * before any handshake: a token bucket per source address, a cap on concurrent inbound connections, and caps on
 * concurrent TLS handshakes (in all, and per source address) with a deadline for each. Time comes from the node's
 * {@link Clock}.
 */
import type {Clock, Timer} from '../util/clock.js'
import type {InboundGate, InboundTicket} from './transport.js'

export interface RateLimit {
  burst: number
  perSecond: number
}

interface Bucket {
  tokens: number
  /** Clock ms of the last refill. */
  at: number
}

/**
 * Token buckets per source address: `burst` attempts at once, refilled at `perSecond`.
 * The table holds at most `maxSources` addresses. When it is full, a new address displaces the least recently seen
 * address whose bucket still holds a token (a well-behaved one: forgetting it loses nothing, it would start full
 * again anyway); addresses with an empty bucket (offenders) are kept, so rotating through fresh source addresses
 * cannot reset an offender's bucket. Only a table of nothing but offenders forgets its least recently seen one.
 */
export class RateLimiter {
  /** In order of the last attempt, least recent first. */
  private readonly buckets = new Map<string, Bucket>()

  constructor(
    readonly limit: RateLimit,
    private readonly clock: Clock,
    /** How many source addresses the table remembers at most. */
    readonly maxSources: number,
  ) {}

  /** Addresses remembered now. */
  get size(): number {
    return this.buckets.size
  }

  /** Takes a token from `source`'s bucket. @returns false when the bucket is empty (refuse the attempt) */
  admit(source: string): boolean {
    const now = this.clock.now()
    let b = this.buckets.get(source)
    if (b) this.buckets.delete(source)
    else {
      if (this.buckets.size >= this.maxSources) this.evict(now)
      b = {tokens: this.limit.burst, at: now}
    }
    b.tokens = this.tokensAt(b, now)
    b.at = now
    const ok = b.tokens >= 1
    if (ok) b.tokens -= 1
    // Re-inserted: the map stays in order of the last attempt.
    this.buckets.set(source, b)
    return ok
  }

  /** The reason logged for a refused attempt from `source`. */
  refusal(source: string): string {
    return `rate limit: more than ${this.limit.burst} connection attempts from ${source} (${this.limit.perSecond}/s sustained)`
  }

  private tokensAt(b: Bucket, now: number): number {
    return Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond)
  }

  /** Forgets one address: the least recently seen well-behaved one, else (only offenders) the least recently seen. */
  private evict(now: number): void {
    for (const [source, b] of this.buckets) {
      if (this.tokensAt(b, now) >= 1) {
        this.buckets.delete(source)
        return
      }
    }
    this.buckets.delete(this.buckets.keys().next().value!)
  }
}

/** Caps of {@link Admission} (NODE_LIMITS holds the defaults). */
export interface InboundLimits {
  /** Per source address: token bucket of connection attempts. */
  rate: RateLimit
  /** Source addresses the rate-limit table remembers. */
  rateLimitSources: number
  /** Inbound connections open at once (in a handshake, greeting, or the successor's link). */
  maxConnections: number
  /** Inbound connections in their TLS handshake at once. */
  maxHandshakes: number
  /** Inbound connections from one source address in their TLS handshake at once. */
  maxHandshakesPerSource: number
  /** A TLS handshake not finished within this is ended, ms. */
  handshakeTimeoutMs: number
}

/** Connections admitted and still open, and those of them in their handshake. */
export interface InboundCounts {
  connections: number
  handshakes: number
}

/**
 * A node's admission of inbound connections: the {@link InboundGate} its transport consults before any handshake.
 * Checks, in order: the source's token bucket (every attempt takes a token, so a flood empties it even while the
 * caps refuse it), the connection cap, the handshake caps (in all, per source). An admitted connection holds a
 * ticket until it closes; its handshake slot is freed when the transport says the handshake is over, or when the
 * handshake deadline expires (the transport then ends the connection).
 */
export class Admission implements InboundGate {
  readonly rate: RateLimiter
  private connections = 0
  private handshakes = 0
  private readonly handshakesBySource = new Map<string, number>()

  constructor(
    readonly limits: InboundLimits,
    private readonly clock: Clock,
  ) {
    this.rate = new RateLimiter(limits.rate, clock, limits.rateLimitSources)
  }

  /** What is open now. */
  get counts(): InboundCounts {
    return {connections: this.connections, handshakes: this.handshakes}
  }

  admit(source: string, expire: (reason: string) => void): InboundTicket | {refused: string} {
    const l = this.limits
    if (!this.rate.admit(source)) return {refused: this.rate.refusal(source)}
    if (this.connections >= l.maxConnections) return {refused: `too many connections: ${this.connections} open (at most ${l.maxConnections})`}
    if (this.handshakes >= l.maxHandshakes) return {refused: `too many TLS handshakes in progress: ${this.handshakes} (at most ${l.maxHandshakes})`}
    const fromSource = this.handshakesBySource.get(source) ?? 0
    if (fromSource >= l.maxHandshakesPerSource) return {refused: `too many TLS handshakes in progress from ${source}: ${fromSource} (at most ${l.maxHandshakesPerSource})`}

    this.connections++
    this.handshakes++
    this.handshakesBySource.set(source, fromSource + 1)
    let handshaking = true
    let open = true
    const endHandshake = () => {
      if (!handshaking) return
      handshaking = false
      this.clock.clearTimeout(deadline)
      this.handshakes--
      const n = (this.handshakesBySource.get(source) ?? 1) - 1
      if (n > 0) this.handshakesBySource.set(source, n)
      else this.handshakesBySource.delete(source)
    }
    const deadline: Timer = this.clock.setTimeout(() => {
      if (!handshaking) return
      endHandshake()
      expire(`TLS handshake not completed within ${l.handshakeTimeoutMs} ms`)
    }, l.handshakeTimeoutMs)
    deadline.unref()
    return {
      handshakeDone: endHandshake,
      release: () => {
        if (!open) return
        open = false
        endHandshake()
        this.connections--
      },
    }
  }
}

/**
 * Logs refused connections one by one up to `burst` per `windowMs`, then counts them and logs one summary line when
 * the window ends: a flood of refused connections must not become a flood of log lines (every run journals its log).
 */
export class RefusalLog {
  private windowStart = Number.NEGATIVE_INFINITY
  private logged = 0
  private suppressed = 0
  private timer: Timer | undefined

  constructor(
    private readonly clock: Clock,
    /** Refusals logged one by one per window. */
    readonly burst: number,
    /** The window, ms. */
    readonly windowMs: number,
    private readonly sink: (message: string) => void,
  ) {}

  refused(remote: string, reason: string): void {
    const now = this.clock.now()
    if (now - this.windowStart >= this.windowMs) {
      this.flush()
      this.windowStart = now
      this.logged = 0
    }
    if (this.logged < this.burst) {
      this.logged++
      this.sink(`refused connection from ${remote}: ${reason}`)
      return
    }
    this.suppressed++
    if (!this.timer) {
      this.timer = this.clock.setTimeout(() => {
        this.timer = undefined
        this.flush()
      }, this.windowStart + this.windowMs - now)
      this.timer.unref()
    }
  }

  /** Logs the summary of the refusals not logged one by one (if any) and stops the timer. */
  flush(): void {
    this.clock.clearTimeout(this.timer)
    this.timer = undefined
    if (this.suppressed === 0) return
    const n = this.suppressed
    this.suppressed = 0
    this.sink(`refused ${n} more connection${n === 1 ? '' : 's'} (more than ${this.burst} refusals within ${this.windowMs / 1000}s are counted, not logged one by one)`)
  }
}
