/**
 * Lines on their way to a neighbour: committed to the run journal's outbox before they are written (seed 001 §5),
 * held inside {@link Outbound.atomically} until the caller's transaction returned, queued while no link to their
 * side is up, and written again on a new link after a reconnect.
 */
import {failpoint} from '../util/failpoint.js'
import type {Link} from './link.js'
import type {Side} from './state-machine.js'

/** The run journal's outbox (ChainSyncNodeOptions.outbox). */
export interface Outbox {
  enqueue(roundId: string, side: Side, line: string): number
  sent(id: number): void
}

interface Queued {
  line: string
  /** The line's outbox id, marked sent once the line is written to a live link. */
  id: number | undefined
}

export class Outbound {
  /** Lines waiting for a link to their side. */
  private pending: Record<Side, Queued[]> = {predecessor: [], successor: []}
  private holding = false
  private held: Array<Queued & {side: Side}> = []

  /**
   * @param link the live link to a side, if any
   * @param name the node's name (for the `outbox-committed:<name>` failpoint)
   */
  constructor(
    private readonly outbox: Outbox | undefined,
    private readonly link: (side: Side) => Link | undefined,
    private readonly name: string,
  ) {}

  /** Commits `line` to the outbox first; it leaves now, after the enclosing {@link atomically}, or on the next link. */
  send(roundId: string, side: Side, line: string): void {
    const id = this.outbox?.enqueue(roundId, side, line.trimEnd())
    if (this.holding) this.held.push({side, line, id})
    else this.deliver(side, line, id)
  }

  /** Runs `fn`; the lines it sends leave only after it returned (none if it threw). */
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

  /** Queues lines to be sent first on the next link to `side`. */
  preload(side: Side, lines: readonly string[]): void {
    this.pending[side].unshift(...lines.map((l) => ({line: l.endsWith('\n') ? l : `${l}\n`, id: undefined})))
  }

  /** A link to `side` came up: writes `replay`, then the lines queued meanwhile, each distinct line once. */
  flush(side: Side, link: Link, replay: readonly string[]): void {
    const queued = this.pending[side]
    this.pending[side] = []
    const written = new Set<string>()
    for (const line of replay) if (!written.has(line)) written.add(line) && link.write(line)
    for (const q of queued) {
      if (!written.has(q.line)) {
        written.add(q.line)
        link.write(q.line)
      }
      if (q.id !== undefined) this.outbox?.sent(q.id)
    }
  }

  private deliver(side: Side, line: string, id: number | undefined): void {
    const link = this.link(side)
    if (link) {
      link.write(line)
      if (id !== undefined) this.outbox?.sent(id)
    } else this.pending[side].push({line, id})
  }
}
