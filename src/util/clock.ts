/**
 * Time as a port (STYLE.md "time in tests is a value, not a wait"). Everything in chainup that waits, times out,
 * backs off or measures an interval takes a {@link Clock}; production code passes {@link systemClock}, tests pass a
 * fake one (`test/helpers/fake-clock.ts`) and advance it instead of sleeping.
 */

/** A scheduled callback, as returned by {@link Clock.setTimeout} / {@link Clock.setInterval}. */
export interface Timer {
  /** Restarts the timer's countdown from now with its original delay (like Node's `Timeout.refresh()`). */
  refresh(): Timer
  /** Lets the process exit while the timer is pending (no-op on fake clocks). */
  unref(): Timer
}

/** The source of "now" and of timers. All durations are milliseconds. */
export interface Clock {
  /** Milliseconds since the Unix epoch (like `Date.now()`). */
  now(): number
  /** Calls `fn` once after `ms` ms. */
  setTimeout(fn: () => void, ms: number): Timer
  /** Calls `fn` every `ms` ms until cleared. */
  setInterval(fn: () => void, ms: number): Timer
  /** Cancels a timer from either function; `undefined` is ignored. */
  clearTimeout(timer: Timer | undefined): void
  /** Same as {@link clearTimeout} (kept for symmetry with the globals). */
  clearInterval(timer: Timer | undefined): void
  /**
   * Resolves after `ms` ms, or at once (resolving, not rejecting) when `signal` aborts, whichever comes first.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

/** The real clock: `Date.now` and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout | undefined),
  clearInterval: (t) => clearInterval(t as NodeJS.Timeout | undefined),
  sleep: (ms, signal) => sleepOn(systemClock, ms, signal),
}

/** {@link Clock.sleep} in terms of a clock's own timers (shared by the real and the fake clock). */
export function sleepOn(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve()
    const done = () => {
      clock.clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = clock.setTimeout(done, Math.max(0, ms))
    signal?.addEventListener('abort', done, {once: true})
  })
}
