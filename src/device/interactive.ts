/**
 * Interactive CLI sessions (issue #10 "Interactive CLI sessions", docs/devices.md "Sessions: exec and interactive"):
 * one PTY shell channel per SSH connection, driven like an engineer at a terminal. It waits for the platform's
 * prompt (a playbook `prompt` pattern), sends the platform's pager-off command first (`terminal length 0`,
 * `set cli screen-length 0`), answers ` --More-- ` pagers with a space as a fallback, answers confirmation prompts
 * from the step's `answers`, and fails a command that does not get its prompt back within its timeout with an error
 * naming the pattern it waited for and the last lines seen (made printable).
 *
 * What a command printed comes back as exec output does (model/device-session.ts `ExecResult`): ANSI escapes,
 * the command's echo, backspaces, the pager's markers and the trailing prompt removed, CR-LF as LF. A shell has no
 * exit status: a command that got its prompt back reports exit status 0 and the playbook's `error_patterns` decide.
 * A connection that drops while a command runs (a reload) resolves with `dropped: true`, like exec.
 *
 * The SSH client is passed in (ssh-session.ts opens it); nothing here imports ssh2 or ssh-session.ts.
 */
import {StringDecoder} from 'node:string_decoder'

import {ChainupError} from '../errors.js'
import type {ExecResult} from '../model/device-session.js'
import {type Clock, systemClock, type Timer} from '../util/clock.js'
import {printable} from '../util/text.js'
import type {TranscriptLog} from './transcript.js'

/** A confirmation prompt and what to answer (playbook step `answers`); `send` is followed by a carriage return. */
export interface PromptAnswer {
  /** Pattern (JavaScript, `m` flag) matched against the last, unfinished line the device printed. */
  prompt: string
  /** Text typed in answer, e.g. `y`; `''` just presses Enter (`[confirm]`). */
  send: string
}

/** How a platform's CLI looks in a terminal (the playbook's `prompt` and `pager`). */
export interface InteractiveConfig {
  /** Pattern the last line must match for the CLI to be ready: its prompt. @default {@link DEFAULT_PROMPT} */
  prompt?: string
  /** Command sent once after the first prompt to turn the pager off, e.g. `terminal length 0`; none when absent. */
  pager?: string
}

/**
 * A generic prompt: a host name (a letter, then letters, digits, `. _ - @ : ~ / ( ) [ ]`) ending in `>`, `#`, `$` or
 * `%`, e.g.
 * `sw1#`, `sw1(config)#`, `netops@ex1>`, `admin@sonic:~$`.
 */
export const DEFAULT_PROMPT = '^[A-Za-z][\\w.@:~/()\\[\\]-]* ?[>#$%] ?$'

/**
 * The pagers chainup presses space for: ` --More-- ` (IOS, NX-OS, EOS), `---(more)---` / `---(more 42%)---` (Junos),
 * `-- More --`, `<--- More --->`.
 */
export const MORE_PATTERN = /(?:<?-{2,3}\s*\(?\s*more(?:\s+\d+%)?\s*\)?\s*-{2,3}>?)\s*$/i

/** A pager marker left at the start of a line (the device went on printing after it without erasing it). */
const MORE_AT_START = /^\s*<?-{2,3}\s*\(?\s*more(?:\s+\d+%)?\s*\)?\s*-{2,3}>?/i

/** ANSI/VT escape sequences: CSI (7- and 8-bit), OSC (ended by BEL or ST), and two-character ESC sequences. */
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]/g

/** Control characters that carry nothing once escapes, backspaces and line ends are handled (BEL, NUL, ...). */
const OTHER_CONTROLS = /[\x00-\x07\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]/g

/** How much of the end of the received text the prompt and answer checks look at, characters. */
const TAIL_CHARS = 4096

/** A command did not get its prompt back in time; the connection was closed. */
export class PromptTimeoutError extends ChainupError {
  constructor(
    device: string,
    readonly command: string,
    readonly timeoutMs: number,
    /** The pattern waited for (the prompt, or the answers' prompts too). */
    readonly waitedFor: string,
    /** The last lines seen, printable. */
    readonly lastLines: readonly string[],
    /** Everything the command printed so far, cleaned like a result's output. */
    readonly partialOutput: string,
  ) {
    super(
      `${device}: ${command === '' ? 'no prompt after login' : `"${printable(command)}" did not return to the prompt`} within ${formatSeconds(timeoutMs)}: waited for /${printable(waitedFor)}/; last lines seen: ${lastLines.length === 0 ? '(nothing)' : lastLines.map((l) => `"${l}"`).join(' / ')}`,
      {code: 'PROMPT_TIMEOUT', hint: 'a question the step does not answer (add it to the step\'s answers), a prompt the playbook\'s prompt pattern does not match, or a command that takes longer than its timeout'},
    )
  }
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`
}

/**
 * Terminal output as plain text: ANSI escapes removed, CR-LF as LF, a lone CR starts the line over (what follows it
 * overwrites), a backspace deletes the character before it, other control characters dropped.
 */
export function cleanTerminalText(raw: string): string {
  const noEscapes = raw.replace(ANSI, '').replace(/\r+\n/g, '\n')
  return noEscapes
    .split('\n')
    .map((line) => {
      const cr = line.lastIndexOf('\r')
      const visible = cr >= 0 && cr < line.length - 1 ? line.slice(cr + 1) : line.replace(/\r$/, '')
      if (!visible.includes('\b')) return visible.replace(OTHER_CONTROLS, '')
      let out = ''
      for (const c of visible) out = c === '\b' ? out.slice(0, -1) : out + c
      return out.replace(OTHER_CONTROLS, '')
    })
    .join('\n')
}

/** The last line of `text` (after its last LF). */
function lastLine(text: string): string {
  return text.slice(text.lastIndexOf('\n') + 1)
}

/**
 * A command's output as {@link ExecResult.output}: cleaned, the echoed command line and the prompt after it removed,
 * pager markers dropped.
 * @param raw everything received since the command was sent
 * @param promptSeen the prompt came back (its line is the last one and is removed)
 */
export function commandOutput(raw: string, command: string, promptSeen: boolean): string {
  const lines = cleanTerminalText(raw)
    .split('\n')
    .map((l) => {
      const without = l.replace(MORE_PATTERN, '').replace(MORE_AT_START, '')
      return without === l ? l : without.trimEnd()
    })
  const trimmed = command.trim()
  if (lines.length > 0 && trimmed !== '' && lines[0]!.trimEnd().endsWith(trimmed)) lines.shift()
  if (promptSeen) lines.pop()
  return lines.join('\n')
}

/** The ssh2 channel an interactive shell runs on (ssh2's `ClientChannel`, narrowed to what is used). */
export interface ShellChannel {
  write(data: string): boolean
  on(event: 'data', listener: (data: Buffer) => void): unknown
  on(event: 'close', listener: () => void): unknown
  stderr: {on(event: 'data', listener: (data: Buffer) => void): unknown}
  close(): void
}

/** Options of {@link InteractiveShell}. */
export interface InteractiveShellOptions extends InteractiveConfig {
  /** Device name, for messages. */
  device: string
  /** The most output one command may print, bytes. */
  maxOutputBytes: number
  /** Builds the error for a command past {@link maxOutputBytes} (ssh-session.ts's OutputLimitError). */
  limitError: (command: string, partialOutput: string) => Error
  /** Times the commands. @default systemClock */
  clock?: Clock
  /** Records what is sent and received. */
  transcript?: TranscriptLog
}

interface Pending {
  command: string
  /** Received since the command was sent. */
  raw: string
  bytes: number
  /** Where in `raw` the next pager or answer check starts (past the last one handled). */
  scanFrom: number
  answers: readonly {re: RegExp; send: string}[]
  resolve: (result: ExecResult) => void
  reject: (error: Error) => void
  timer: Timer
  /** The command's timeout, ms. */
  timeoutMs: number
  /** Pattern text for the timeout's message. */
  waitedFor: string
}

/**
 * The PTY shell of one SSH connection: one command at a time. Build it with {@link InteractiveShell.open}.
 */
export class InteractiveShell {
  private readonly prompt: RegExp
  private readonly clock: Clock
  private readonly decoder = new StringDecoder('utf8')
  private pending: Pending | undefined
  private closed = false
  /** Everything received while no command ran (the banner, the first prompt), for the first wait. */
  private idle = ''

  private constructor(
    private readonly channel: ShellChannel,
    private readonly opts: InteractiveShellOptions,
    private readonly onClosed: () => void,
  ) {
    this.prompt = new RegExp(opts.prompt ?? DEFAULT_PROMPT, 'm')
    this.clock = opts.clock ?? systemClock
    const take = (data: Buffer) => this.receive(this.decoder.write(data))
    channel.on('data', take)
    channel.stderr.on('data', take)
    channel.on('close', () => this.dropped())
  }

  /**
   * Waits for the first prompt on a freshly opened shell channel, then turns the pager off.
   * @param timeoutMs how long the first prompt (and the pager command) may take
   * @throws PromptTimeoutError when the prompt does not come; Error when the channel closes first
   */
  static async open(channel: ShellChannel, opts: InteractiveShellOptions, timeoutMs: number, onClosed: () => void = () => undefined): Promise<InteractiveShell> {
    const shell = new InteractiveShell(channel, opts, onClosed)
    const first = await shell.run('', timeoutMs, [], false)
    if (first.dropped) throw new Error(`${opts.device}: the shell closed before its first prompt`)
    if (opts.pager) {
      const pager = await shell.run(opts.pager, timeoutMs)
      if (pager.dropped) throw new Error(`${opts.device}: the shell closed after "${opts.pager}"`)
    }
    return shell
  }

  /** True once the channel closed (or {@link close} was called). */
  get isClosed(): boolean {
    return this.closed
  }

  /**
   * Sends one command line and collects its output until the prompt is back.
   * @param timeoutMs the command must get its prompt back within this, ms
   * @param answers confirmation prompts answered while it runs
   * @param send false: send nothing, only wait for the prompt (the first one after login)
   * @throws PromptTimeoutError past `timeoutMs` (the shell is closed: its state is unknown); the `limitError` past
   *   the output cap; Error when a command is already running or the shell is closed
   */
  run(command: string, timeoutMs: number, answers: readonly PromptAnswer[] = [], send = true): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new Error(`${this.opts.device}: the interactive session is closed`))
    if (this.pending) return Promise.reject(new Error(`${this.opts.device}: "${command}" sent while "${this.pending.command}" still runs`))
    return new Promise<ExecResult>((resolve, reject) => {
      const compiled = answers.map((a) => ({re: new RegExp(a.prompt, 'm'), send: a.send}))
      const waitedFor = [this.opts.prompt ?? DEFAULT_PROMPT, ...answers.map((a) => a.prompt)].join('/ or /')
      const timer = this.clock.setTimeout(() => this.timeout(), timeoutMs)
      this.pending = {command, raw: send ? '' : this.idle, bytes: 0, scanFrom: 0, answers: compiled, resolve, reject, timer, timeoutMs, waitedFor}
      this.idle = ''
      if (send) this.send(`${command}\r`, `command ${JSON.stringify(command)}`)
      else this.check()
    })
  }

  /** Closes the channel; a running command resolves as dropped. Idempotent. */
  close(): void {
    if (this.closed) return
    try {
      this.channel.close()
    } catch {
      // already gone
    }
    this.dropped()
  }

  private send(text: string, why: string): void {
    this.opts.transcript?.sent(text, why)
    this.channel.write(text)
  }

  private receive(text: string): void {
    if (text === '') return
    this.opts.transcript?.received(text)
    const p = this.pending
    if (!p) {
      this.idle = (this.idle + text).slice(-TAIL_CHARS)
      return
    }
    p.bytes += Buffer.byteLength(text)
    p.raw += text
    if (p.bytes > this.opts.maxOutputBytes) {
      const error = this.opts.limitError(p.command, commandOutput(p.raw.slice(0, 65_536), p.command, false))
      this.finish()
      p.reject(error)
      this.close()
      return
    }
    this.check()
  }

  /** Looks at what arrived: the prompt ends the command; a pager gets a space; a known question gets its answer. */
  private check(): void {
    const p = this.pending
    if (!p) return
    const tailStart = Math.max(0, p.raw.length - TAIL_CHARS)
    const line = lastLine(cleanTerminalText(p.raw.slice(tailStart)))
    if (line !== '' && this.prompt.test(line)) {
      this.finish()
      p.resolve({output: commandOutput(p.raw, p.command, true), exitCode: 0, dropped: false})
      return
    }
    if (p.raw.length <= p.scanFrom) return
    const fresh = lastLine(cleanTerminalText(p.raw.slice(Math.max(p.scanFrom, tailStart))))
    if (fresh === '') return
    if (MORE_PATTERN.test(fresh)) {
      p.scanFrom = p.raw.length
      this.send(' ', 'pager')
      return
    }
    const answer = p.answers.find((a) => a.re.test(fresh))
    if (answer) {
      p.scanFrom = p.raw.length
      this.send(`${answer.send}\r`, `answer to /${answer.re.source}/`)
    }
  }

  private timeout(): void {
    const p = this.pending
    if (!p) return
    this.pending = undefined
    const seen = commandOutput(p.raw.slice(-TAIL_CHARS), p.command, false).split('\n').filter((l) => l.trim() !== '').slice(-3).map((l) => printable(l.slice(-160)))
    p.reject(new PromptTimeoutError(this.opts.device, p.command, p.timeoutMs, p.waitedFor, seen, commandOutput(p.raw, p.command, false)))
    this.opts.transcript?.note(`timeout: no prompt after ${JSON.stringify(p.command)}`)
    this.close()
  }

  private finish(): void {
    const p = this.pending
    if (!p) return
    this.clock.clearTimeout(p.timer)
    this.pending = undefined
  }

  private dropped(): void {
    const wasClosed = this.closed
    this.closed = true
    const p = this.pending
    if (p) {
      this.finish()
      p.raw += this.decoder.end()
      p.resolve({output: commandOutput(p.raw, p.command, false), exitCode: undefined, dropped: true})
    }
    if (!wasClosed) {
      this.opts.transcript?.note('shell closed')
      this.onClosed()
    }
  }
}

