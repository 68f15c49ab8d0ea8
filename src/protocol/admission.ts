/**
 * Admission of inbound connection attempts: a token bucket per source address (docs/chainsync.md "Limits").
 * `burst` attempts at once, refilled at `perSecond`; time comes from the node's {@link Clock}.
 */
import type {Clock} from '../util/clock.js'

export interface RateLimit {
  burst: number
  perSecond: number
}

/** At most this many source addresses are remembered; the oldest is forgotten first. */
const MAX_SOURCES = 4096

export class Admission {
  private readonly buckets = new Map<string, {tokens: number; at: number}>()

  constructor(
    readonly limit: RateLimit,
    private readonly clock: Clock,
  ) {}

  /** Takes a token from `source`'s bucket. @returns false when the bucket is empty (refuse the attempt) */
  admit(source: string): boolean {
    const now = this.clock.now()
    const {burst, perSecond} = this.limit
    const b = this.buckets.get(source) ?? {tokens: burst, at: now}
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond)
    b.at = now
    const ok = b.tokens >= 1
    if (ok) b.tokens -= 1
    this.buckets.set(source, b)
    if (this.buckets.size > MAX_SOURCES) this.buckets.delete(this.buckets.keys().next().value!)
    return ok
  }

  /** The reason logged for a refused attempt from `source`. */
  refusal(source: string): string {
    return `rate limit: more than ${this.limit.burst} connection attempts from ${source} (${this.limit.perSecond}/s sustained)`
  }
}
