/**
 * Session transcripts (`chainup upgrade --transcript DIR`, docs/devices.md "Transcripts"): everything chainup sends
 * to a device and receives from it, with timestamps, in `DIR/<run id>/<device>.log`, the run's secrets replaced by
 * `[redacted]`. One line per event:
 *
 * ```
 * 2026-11-25T20:40:01.123Z s1 connect "127.0.0.1:10021"
 * 2026-11-25T20:40:01.130Z s1 exec "show version"
 * 2026-11-25T20:40:01.140Z s1 < "Cisco IOS XE Software, Version 17.06.05\r\n..."
 * 2026-11-25T20:40:01.141Z s1 exit "0"
 * 2026-11-25T20:40:02.000Z s1 shell ""
 * 2026-11-25T20:40:02.010Z s1 > "terminal length 0\r"
 * ```
 *
 * `sN` numbers the SSH connections of the device in the run; the payload is a JSON string (control characters, C1
 * and bidi characters escaped, so a transcript is safe to `cat`). Kinds: `connect`, `exec` (an exec channel's
 * command), `shell` (a PTY shell opened), `<` (received), `>` (sent), `exit` (an exec's exit status, or `dropped`),
 * `note`, `close`. {@link parseTranscript} reads it back (the replay tests play it to the session code).
 */
import {appendFileSync, existsSync, mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {terminalJson, withoutSecrets} from '../util/text.js'

/** What one SSH connection reports to its transcript. */
export interface TranscriptLog {
  /** Text sent on the shell; `why` says what it was (a command, a pager's space, an answer). */
  sent(text: string, why?: string): void
  /** Text received (exec output or shell output). */
  received(text: string): void
  /** An exec channel was opened for `command`. */
  exec(command: string): void
  /** The exec ended: its exit status, or `undefined` when the connection dropped. */
  exit(code: number | undefined): void
  /** A PTY shell was opened. */
  shell(): void
  /** Free text (a timeout, the shell closing). */
  note(text: string): void
  /** The connection closed (`dropped`: by the device). */
  close(dropped: boolean): void
}

/** The kinds of transcript lines. */
export const TRANSCRIPT_KINDS = ['connect', 'exec', 'shell', '<', '>', 'exit', 'note', 'close'] as const
export type TranscriptKind = (typeof TRANSCRIPT_KINDS)[number]

/** One parsed transcript line. */
export interface TranscriptEvent {
  /** ISO 8601 UTC. */
  at: string
  /** The connection number (`s1` → 1). */
  session: number
  kind: TranscriptKind
  data: string
}

/**
 * A device's transcript file. {@link connection} starts the log of one SSH connection. Writes are synchronous
 * appends (a crash loses nothing written); a write that fails turns the transcript off with one warning.
 */
export class DeviceTranscript {
  readonly file: string
  private sessions = 0
  private failed = false

  /**
   * @param dir the `--transcript` directory; the file is `dir/<runId>/<device>.log` (directories made 0700, the file 0600)
   * @param secrets values replaced by `[redacted]` in every payload (4 characters or longer)
   * @param warn told once when the file cannot be written
   */
  constructor(
    dir: string,
    runId: string,
    device: string,
    private readonly secrets: readonly (string | undefined)[],
    private readonly warn: (message: string) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.file = join(dir, runId, `${device}.log`)
    try {
      mkdirSync(join(dir, runId), {recursive: true, mode: 0o700})
      // A resumed run appends to its transcript: its connections are numbered on from the last one there.
      if (existsSync(this.file)) for (const m of readFileSync(this.file, 'utf8').matchAll(/^\S+ s(\d+) /gm)) this.sessions = Math.max(this.sessions, Number(m[1]))
    } catch (error) {
      this.fail(error)
    }
  }

  /** The log of a new SSH connection to `address` (`host:port`). */
  connection(address: string): TranscriptLog {
    const session = ++this.sessions
    const write = (kind: TranscriptKind, data: string) => this.write(session, kind, data)
    write('connect', address)
    return {
      sent: (text, why) => {
        if (why && why !== 'pager' && !why.startsWith('command')) write('note', why)
        write('>', text)
      },
      received: (text) => write('<', text),
      exec: (command) => write('exec', command),
      exit: (code) => write('exit', code === undefined ? 'dropped' : String(code)),
      shell: () => write('shell', ''),
      note: (text) => write('note', text),
      close: (dropped) => write('close', dropped ? 'dropped' : 'closed'),
    }
  }

  private write(session: number, kind: TranscriptKind, data: string): void {
    if (this.failed) return
    try {
      appendFileSync(this.file, `${new Date(this.now()).toISOString()} s${session} ${kind} ${terminalJson(withoutSecrets(data, this.secrets), 0)}\n`, {mode: 0o600})
    } catch (error) {
      this.fail(error)
    }
  }

  private fail(error: unknown): void {
    if (this.failed) return
    this.failed = true
    this.warn(`transcript ${this.file}: ${(error as Error).message}; no more is written to it`)
  }
}

/**
 * Reads a transcript back.
 * @throws Error naming the line number of a line that is not `TIMESTAMP sN KIND "JSON"`
 */
export function parseTranscript(text: string): TranscriptEvent[] {
  const events: TranscriptEvent[] = []
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return
    const m = /^(\S+) s(\d+) (\S+) (".*")$/.exec(line)
    if (!m || !(TRANSCRIPT_KINDS as readonly string[]).includes(m[3]!)) throw new Error(`transcript line ${i + 1}: not "TIMESTAMP sN KIND \\"DATA\\""`)
    events.push({at: m[1]!, session: Number(m[2]), kind: m[3] as TranscriptKind, data: JSON.parse(m[4]!) as string})
  })
  return events
}
