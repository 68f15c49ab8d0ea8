/**
 * Is the process that took a lock still running? (docs/journal.md "Locks"). `kill(pid, 0)` answers for the pid;
 * on Linux the process start time from `/proc/PID/stat` also tells a reused pid from the original holder,
 * and a zombie counts as dead (it will never release anything).
 */
import {readFileSync} from 'node:fs'

interface ProcStat {
  state: string
  /** Field 22, clock ticks since boot, kept as text. */
  startTime: string
}

function procStat(pid: number): ProcStat | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  // "PID (comm) STATE ..." — comm may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  const state = fields[0]
  const startTime = fields[19]
  return state !== undefined && startTime !== undefined ? {state, startTime} : null
}

/** The start time of a process (Linux: clock ticks since boot, as text), or null where `/proc` is not available. */
export function processStartTime(pid: number): string | null {
  return procStat(pid)?.startTime ?? null
}

/**
 * Whether `pid` (on this host) is still the process that recorded `startTime` and is running.
 * `EPERM` from `kill(pid, 0)` means it exists but belongs to another user: alive. A pid that is not a
 * positive integer is never alive (`kill(0, …)` would signal our own process group).
 * @param startTime what {@link processStartTime} said when the lock was taken, or null to trust the pid alone
 */
export function isProcessAlive(pid: number, startTime: string | null): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  const stat = procStat(pid)
  if (stat === null) return true
  if (stat.state === 'Z' || stat.state === 'X') return false
  return startTime === null || stat.startTime === startTime
}
