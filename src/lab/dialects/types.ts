/**
 * The port between the simulated switch (sim-switch.ts: SSH, flash, reload lifecycle, faults) and a platform's
 * dialect (docs/lab.md "Dialects"): what commands mean and what the device prints. One dialect object per simulated
 * device (it may keep state, e.g. Junos' rollback image). IOS-XE is not a dialect: it is sim-switch.ts' own grammar.
 */
import type {LabFault} from '../../config/types.js'

/** What a dialect may read and do on its device. Times are UTC `Date`s, durations ms. */
export interface DialectHost {
  /** Host name (prompt, `show version`). */
  readonly name: string
  /** The login user (Junos and SONiC prompts show it). */
  readonly username: string
  /** The running version. */
  readonly version: string
  /** The version the next boot runs (set by an install; equals {@link version} otherwise). */
  readonly nextVersion: string
  /** When the running software booted. */
  readonly bootedAt: Date
  /** Completed reboots since the simulation started. */
  readonly reloads: number
  /** How long an install prints progress before it reloads, ms. */
  readonly installDelayMs: number
  now(): Date
  /** File names on the device's image file system (flash:, bootflash:, /var/tmp/, the home directory). */
  files(): string[]
  hasFile(name: string): boolean
  /** A file's digest (hex): of the bytes copied to it (image staging), else a stable made-up one; undefined when absent. */
  digest(name: string, algorithm: 'md5' | 'sha512'): string | undefined
  hasFault(fault: LabFault): boolean
  /** Commits the version the next boot runs. */
  setNextVersion(version: string): void
  /** Reloads the device now: every connection drops; it listens again after its boot time (faults apply). */
  reload(detail: string): void
  /** Runs `fn` after `ms`, unless the device reloads or stops first. */
  later(ms: number, fn: () => void): void
  /** Records a simulator event (`install_started` with the image name). */
  installStarted(image: string): void
  /** Records the simulator's `exec` event for a command line typed in the shell. */
  commandTyped(line: string): void
}

/** One command's input and output, in an exec channel or the PTY shell. */
export interface CommandIO {
  /** True in the PTY shell (a terminal: pager, prompts answered), false in an exec channel. */
  readonly interactive: boolean
  /** The shell's mode: `config` after `configure` (EOS, NX-OS, Junos). */
  mode: 'exec' | 'config'
  /** Writes text as it comes (progress lines), CR-LF line ends. */
  write(text: string): void
  /** Writes command output lines through the pager (a shell with a screen length pages; exec never does). */
  print(lines: readonly string[]): void
  /** Prints a question and waits for a line typed in answer (an exec channel gets none: it waits forever, like a device). */
  ask(question: string, then: (answer: string) => void): void
  /** The command ended with this exit status (the shell shows its prompt again). */
  done(code: number): void
  /** Sets the terminal's screen length (0 = no pager). */
  setScreenLength(lines: number): void
}

/** A platform's CLI, as the simulator speaks it. */
export interface Dialect {
  /** The playbook `platform` it answers for, e.g. `eos`. */
  readonly platform: string
  /** The SSH server's identification (`SSH-2.0-<ident>`). */
  readonly ident: string
  /** The files a device running `version` starts with. */
  files(version: string): string[]
  /** The image file of a version, e.g. `EOS-4.30.1F.swi`. */
  imageName(version: string): string
  /** The version an image file holds, or undefined for other files. */
  imageVersion(file: string): string | undefined
  /** The prompt the shell shows in a mode. */
  prompt(host: DialectHost, mode: 'exec' | 'config'): string
  /** The screen length a new shell starts with (0: no pager). */
  readonly screenLength: number
  /** The pager's marker, e.g. ` --More-- `. */
  readonly more: string
  /** Runs one command line; must end with `io.done(code)` unless the device reloads or hangs. */
  execute(line: string, host: DialectHost, io: CommandIO): void
}

/** `lines` joined with CR-LF, with a final CR-LF (how network devices end lines). */
export function crlf(lines: readonly string[]): string {
  return lines.length === 0 ? '' : lines.join('\r\n') + '\r\n'
}

/** Spreads progress lines over `ms` on the host's timers, then calls `after`. */
export function progress(host: DialectHost, io: CommandIO, lines: readonly string[], ms: number, after: () => void): void {
  lines.forEach((line, i) => host.later(Math.floor((ms * i) / Math.max(1, lines.length)), () => io.write(crlf([line]))))
  host.later(ms, after)
}

/** Uptime as "3 weeks, 2 days, 4 hours and 17 minutes" (EOS style; zero leading units left out). */
export function uptimeWords(ms: number, last = ' and '): string {
  const minutes = Math.floor(ms / 60_000)
  const parts: string[] = []
  const w = Math.floor(minutes / 10_080)
  const d = Math.floor((minutes % 10_080) / 1440)
  const h = Math.floor((minutes % 1440) / 60)
  const m = minutes % 60
  const unit = (n: number, u: string) => `${n} ${u}${n === 1 ? '' : 's'}`
  if (w) parts.push(unit(w, 'week'))
  if (w || d) parts.push(unit(d, 'day'))
  if (w || d || h) parts.push(unit(h, 'hour'))
  const head = parts.join(', ')
  return head ? `${head}${last}${unit(m, 'minute')}` : unit(m, 'minute')
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0')

/** `2026-11-21 10:01:59` (UTC). */
export function isoSeconds(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** `Sat Nov 21 10:01:59 2026` (ctime, UTC; the day padded to two with a space). */
export function ctime(d: Date): string {
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} ${d.getUTCFullYear()}`
}

/** Splits a command line into words (no quoting: network CLIs do not need it here). */
export function words(line: string): string[] {
  return line.trim().split(/\s+/).filter((w) => w !== '')
}

/** True when `typed` abbreviates `keyword` (at least `min` characters, like IOS/EOS/NX-OS keyword matching). */
export function abbreviates(typed: string, keyword: string, min = 2): boolean {
  return typed.length >= Math.min(min, keyword.length) && keyword.startsWith(typed.toLowerCase())
}
