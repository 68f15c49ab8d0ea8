/**
 * A {@link Clock} whose time moves only when a test says so. Timers fire in due order inside {@link FakeClock.advance},
 * with the microtask queue and pending I/O callbacks drained between them, so code that awaits between timers sees
 * the same interleaving as on a real clock. Real sockets keep working: only timers are virtual.
 */
import {setImmediate as turn} from 'node:timers/promises'

import {sleepOn, type Clock, type Timer} from '../../src/util/clock.js'

interface Scheduled {
  id: number
  due: number
  fn: () => void
  /** Repeat period for intervals. */
  every: number | undefined
  delay: number
  cleared: boolean
}

export class FakeClock implements Clock {
  private time: number
  private seq = 0
  private readonly timers = new Map<number, Scheduled>()

  /** @param start epoch ms the clock starts at @default 1_700_000_000_000 */
  constructor(start = 1_700_000_000_000) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.schedule(fn, ms, undefined)
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.schedule(fn, ms, Math.max(1, ms))
  }

  clearTimeout(timer: Timer | undefined): void {
    const s = timer ? this.handles.get(timer) : undefined
    if (!s) return
    s.cleared = true
    this.timers.delete(s.id)
  }

  clearInterval(timer: Timer | undefined): void {
    this.clearTimeout(timer)
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal)
  }

  /** Timers not yet fired or cleared. */
  get pendingTimers(): number {
    return this.timers.size
  }

  /** Milliseconds until the next timer is due, or undefined when none is pending. */
  nextDueIn(): number | undefined {
    let next: number | undefined
    for (const s of this.timers.values()) next = next === undefined ? s.due : Math.min(next, s.due)
    return next === undefined ? undefined : next - this.time
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, in order. Between timers (and at the
   * end) it lets queued promise callbacks and socket events run.
   */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms
    await this.settle()
    for (;;) {
      const next = this.earliest()
      if (!next || next.due > end) break
      this.time = Math.max(this.time, next.due)
      if (next.every !== undefined) next.due = this.time + next.every
      else this.timers.delete(next.id)
      next.fn()
      await this.settle()
    }
    this.time = end
    await this.settle()
  }

  /** Advances to the next due timer and fires it (and any due at the same instant). @returns false if none is pending */
  async runNext(): Promise<boolean> {
    const dueIn = this.nextDueIn()
    if (dueIn === undefined) return false
    await this.advance(Math.max(0, dueIn))
    return true
  }

  /** Lets pending promise callbacks and I/O callbacks run without moving time. */
  async settle(turns = 5): Promise<void> {
    for (let i = 0; i < turns; i++) await turn()
  }

  private readonly handles = new WeakMap<Timer, Scheduled>()

  private schedule(fn: () => void, ms: number, every: number | undefined): Timer {
    const delay = Math.max(0, ms)
    const s: Scheduled = {id: ++this.seq, due: this.time + delay, fn, every, delay, cleared: false}
    this.timers.set(s.id, s)
    const handle: Timer = {
      refresh: () => {
        if (!s.cleared) {
          s.due = this.time + s.delay
          this.timers.set(s.id, s)
        }
        return handle
      },
      unref: () => handle,
    }
    this.handles.set(handle, s)
    return handle
  }

  private earliest(): Scheduled | undefined {
    let best: Scheduled | undefined
    for (const s of this.timers.values()) if (!best || s.due < best.due || (s.due === best.due && s.id < best.id)) best = s
    return best
  }
}

/**
 * Waits (without moving any fake clock) until `condition` holds, giving sockets and promises event-loop turns: first
 * a few hundred immediate turns, then real polls every 5 ms. This waits for I/O, never for a timer under test.
 * @throws Error naming `what` when it still does not hold after `limitMs` of real time (a hang, not a slow machine)
 */
export async function until(condition: () => boolean, what = 'condition', limitMs = 20_000): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return
    await turn()
  }
  const giveUp = Date.now() + limitMs
  while (Date.now() < giveUp) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  if (condition()) return
  throw new Error(`gave up waiting for ${what}`)
}
