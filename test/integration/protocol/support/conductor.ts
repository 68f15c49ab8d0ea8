/**
 * Real nodes on a {@link FakeClock}: their sockets are real, so between two moves of the clock a test waits for the
 * lines in flight to arrive. {@link Traffic} says when nothing is in flight between adjacent nodes of a chain;
 * {@link conduct} alternates "wait (real time) until quiet" and "fire the next timer".
 */
import type {ChainSyncNode} from '../../../../src/protocol/node.js'
import {until, type FakeClock} from '../../../helpers/fake-clock.js'

/**
 * The protocol lines on each directed link of a chain: a line is in flight from the sender's `sent` event until the
 * receiver's `received` event for it. Compared as sets per link, so the replay after a reconnect (lines received
 * before) neither counts twice nor hides a line still in flight. A line sent while its link is down (at either end)
 * is *blocked*, not in flight: only the link coming back (after a redial, which may wait for a timer) delivers it.
 * HEARTBEATs are not counted (they are not `sent` events).
 */
export class Traffic {
  private readonly sent = new Map<string, Set<string>>()
  private readonly received = new Map<string, Set<string>>()
  /** Link ends that are down, as `name:side`. */
  private readonly down = new Set<string>()
  /** Each node's position in the chain, by name. */
  private readonly ends = new Map<string, number>()
  private readonly offs: Array<() => void> = []

  /** @param nodes a whole chain, in chain order, whose links are up */
  constructor(nodes: readonly ChainSyncNode[]) {
    const add = (map: Map<string, Set<string>>, link: string, line: string) => {
      const set = map.get(link) ?? new Set<string>()
      set.add(line)
      map.set(link, set)
    }
    nodes.forEach((node, i) => {
      const onSent = ({to, line}: {to: string; line: string}) => add(this.sent, `${node.name}>${nodes[to === 'successor' ? i + 1 : i - 1]?.name}`, line)
      const onReceived = ({from, line}: {from: string; line: string}) => {
        if (line !== 'HEARTBEAT') add(this.received, `${nodes[from === 'predecessor' ? i - 1 : i + 1]?.name}>${node.name}`, line)
      }
      const onDown = ({side}: {side: string}) => this.down.add(`${node.name}:${side}`)
      const onUp = ({side}: {side: string}) => this.down.delete(`${node.name}:${side}`)
      node.on('sent', onSent)
      node.on('received', onReceived)
      node.on('linkDown', onDown)
      node.on('linkUp', onUp)
      this.offs.push(() => {
        node.off('sent', onSent)
        node.off('received', onReceived)
        node.off('linkDown', onDown)
        node.off('linkUp', onUp)
      })
      this.ends.set(node.name, i)
    })
  }

  /** Lines sent and not yet received, as `from>to: line`; with `blocked`, also those whose link is down. */
  inFlight(blocked = false): string[] {
    const out: string[] = []
    for (const [link, lines] of this.sent) {
      if (!blocked && !this.linkUp(link)) continue
      for (const line of lines) if (!this.received.get(link)?.has(line)) out.push(`${link}: ${line}`)
    }
    return out
  }

  /**
   * No line is in flight on a link that is up, and no link is half down (one end saw it close, the other not yet:
   * the other end is about to notice, and a timer fired now, such as a redial pause, would race with that).
   */
  quiet(): boolean {
    return this.inFlight().length === 0 && this.halfDown().length === 0
  }

  /** Adjacent pairs whose link is down at one end only, as `a|b`. */
  halfDown(): string[] {
    const names = [...this.ends.keys()]
    const out: string[] = []
    for (let i = 1; i < names.length; i++) {
      if (this.down.has(`${names[i - 1]}:successor`) !== this.down.has(`${names[i]}:predecessor`)) out.push(`${names[i - 1]}|${names[i]}`)
    }
    return out
  }

  private linkUp(link: string): boolean {
    const [from, to] = link.split('>') as [string, string]
    const forward = this.ends.get(from)! < this.ends.get(to)!
    return !this.down.has(`${from}:${forward ? 'successor' : 'predecessor'}`) && !this.down.has(`${to}:${forward ? 'predecessor' : 'successor'}`)
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off()
  }
}

export interface ConductOptions {
  /** Fire a timer only when it is due within this many ms; timers further out (heartbeats …) never fire. @default 1000 */
  maxStepMs?: number
  /** For the error when the chain stalls. */
  what?: string
}

/**
 * Until `done()`: waits (real time, for I/O) until no line is in flight and a timer is due within `maxStepMs`, then
 * moves `clock` to that timer and fires it.
 * @throws Error when neither happens within until()'s limit: the chain stalled (names the lines still in flight)
 */
export async function conduct(clock: FakeClock, traffic: Traffic, done: () => boolean, opts: ConductOptions = {}): Promise<void> {
  const maxStepMs = opts.maxStepMs ?? 1000
  const dueSoon = () => {
    const due = clock.nextDueIn()
    return due !== undefined && due <= maxStepMs
  }
  for (;;) {
    try {
      await until(() => done() || (traffic.quiet() && dueSoon()), opts.what ?? 'the chain')
    } catch {
      throw new Error(`${opts.what ?? 'the chain'} stalled: in flight ${JSON.stringify(traffic.inFlight(true))}, half down ${JSON.stringify(traffic.halfDown())}, next timer in ${clock.nextDueIn()} ms`)
    }
    if (done()) return
    await clock.runNext()
  }
}
