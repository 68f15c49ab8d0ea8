/**
 * A device session over SSH exec (ssh2). One connection per session; each command is one exec channel.
 * A reload drops the connection: {@link ExecResult.dropped} says so instead of throwing. A command's output is
 * capped ({@link DEFAULT_MAX_OUTPUT_BYTES}): a device that prints more fails that command with
 * {@link OutputLimitError} and its channel is closed, instead of filling chainup's memory.
 */
import {StringDecoder} from 'node:string_decoder'

import {ChainupError} from '../errors.js'
import type {DeviceSession, ExecResult} from '../model/device-session.js'
import {InteractiveShell, PromptTimeoutError, type InteractiveConfig, type PromptAnswer} from './interactive.js'
import {hostKeyCheck, type HostKeySource} from './known-hosts.js'
import type {DeviceTranscript, TranscriptLog} from './transcript.js'

/** Credentials; secret fields are non-enumerable so they never reach a log, a journal or JSON. */
export class Credentials {
  readonly username: string
  declare readonly password: string | undefined
  declare readonly privateKey: Buffer | undefined
  declare readonly passphrase: string | undefined

  constructor(username: string, secrets: {password?: string; privateKey?: Buffer; passphrase?: string}) {
    this.username = username
    for (const k of ['password', 'privateKey', 'passphrase'] as const) {
      Object.defineProperty(this, k, {value: secrets[k], enumerable: false, writable: false})
    }
  }

  toJSON(): object {
    return {username: this.username, password: this.password ? '[redacted]' : undefined, privateKey: this.privateKey ? '[redacted]' : undefined}
  }
}

export type {DeviceSession, ExecResult} from '../model/device-session.js'

export class CommandTimeoutError extends ChainupError {
  constructor(command: string, timeoutMs: number, readonly partialOutput: string) {
    super(`command "${command}" did not finish within ${Math.round(timeoutMs / 1000)}s`, {code: 'COMMAND_TIMEOUT'})
  }
}

/** The most output (stdout and stderr together) one command may print: 16 MiB. */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024

/** How much of the output an {@link OutputLimitError} keeps for the record (characters). */
const PARTIAL_OUTPUT_CHARS = 64 * 1024

/** A command printed more than its output cap; chainup stopped reading and closed its channel. */
export class OutputLimitError extends ChainupError {
  constructor(
    device: string,
    command: string,
    readonly limitBytes: number,
    /** The first 65,536 characters of what it printed. */
    readonly partialOutput: string,
  ) {
    super(`${device}: command "${command}" printed more than ${formatBytes(limitBytes)}; chainup stopped reading it and closed its channel`, {
      code: 'OUTPUT_LIMIT',
      hint: 'a device that streams without end (a pager, a debug trace) or a command that lists far more than expected; raise maxOutputBytes only if the output is legitimately that large',
    })
  }
}

/** `16 MiB`, `64 KiB`, or `1000 bytes`. */
function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`
  return `${n} bytes`
}

export class SessionClosedError extends ChainupError {
  constructor(device: string) {
    super(`SSH session to ${device} is closed`, {code: 'SESSION_CLOSED'})
  }
}

export class ConnectError extends ChainupError {
  /**
   * @param offeredKey for `host_key`: the key blob the device offered and chainup refused (SSH wire format, RFC 4253
   *   §6.6), so a `host_key_policy: repin-after-reload` can pin it after the device's own reload
   */
  constructor(
    message: string,
    readonly kind: 'host_key' | 'auth' | 'unreachable' | 'timeout',
    cause?: unknown,
    readonly offeredKey?: Buffer,
  ) {
    super(message, {code: kind === 'host_key' ? 'HOST_KEY_REJECTED' : kind === 'auth' ? 'AUTH_FAILED' : 'CONNECT_FAILED', cause})
  }
}

export interface ConnectOptions {
  /** Device name, for messages. */
  device: string
  host: string
  port: number
  credentials: Credentials
  hostKey: HostKeySource
  /** Handshake + authentication timeout, ms. */
  timeoutMs: number
  /** The most output one command may print (bytes, stdout and stderr together). @default DEFAULT_MAX_OUTPUT_BYTES (16 MiB) */
  maxOutputBytes?: number
  /** How commands run unless a command says otherwise (playbook `session`, interactive.ts). @default 'exec' */
  session?: SessionMode
  /** The platform's prompt and pager for interactive commands (playbook `prompt`, `pager`). */
  interactive?: InteractiveConfig
  /** Writes this connection's transcript (`--transcript`, transcript.ts). */
  transcript?: DeviceTranscript
}

/** `exec`: one exec channel per command; `interactive`: one PTY shell per connection (interactive.ts). */
export type SessionMode = 'exec' | 'interactive'

/** Per-command options of {@link SshDeviceSession.exec}. */
export interface ExecOptions {
  /** Overrides the session's output cap for this command (bytes). */
  maxOutputBytes?: number
  /** Overrides the connection's session mode for this command (playbook step `session`). */
  session?: SessionMode
  /** Confirmation prompts answered while an interactive command runs (playbook step `answers`). */
  answers?: readonly PromptAnswer[]
}

/** A device session that knows whether its connection is gone (what a device worker holds). */
export interface DeviceConnection extends DeviceSession {
  readonly isClosed: boolean
  /** Runs one command (see {@link SshDeviceSession.exec}); in-memory devices may ignore `options`. */
  exec(command: string, timeoutMs: number, options?: ExecOptions): Promise<ExecResult>
}

/** Opens a {@link DeviceConnection}: {@link connectDevice} in production; tests may pass an in-memory device. */
export type Dialer = (opts: ConnectOptions) => Promise<DeviceConnection>

const RSA_ALGOS = ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']

/**
 * Opens an SSH connection and verifies the host key before authenticating.
 * @throws ConnectError (kind `host_key` for an unknown or changed key, `auth`, `unreachable`, `timeout`)
 */
export async function connectDevice(opts: ConnectOptions): Promise<SshDeviceSession> {
  return new SshDeviceSession(opts.device, await openVerifiedClient(opts), opts.maxOutputBytes, {
    ...(opts.session === undefined ? {} : {session: opts.session}),
    ...(opts.interactive === undefined ? {} : {interactive: opts.interactive}),
    ...(opts.transcript === undefined ? {} : {transcript: opts.transcript.connection(`${opts.host}:${opts.port}`)}),
    connectTimeoutMs: opts.timeoutMs,
  })
}

/** The optional parts of a {@link SshDeviceSession}. */
export interface SessionExtras {
  /** @default 'exec' */
  session?: SessionMode
  interactive?: InteractiveConfig
  transcript?: TranscriptLog
  /** How long an interactive shell's first prompt may take, ms. @default 15000 */
  connectTimeoutMs?: number
}

/**
 * The one place chainup opens an ssh2 connection to a device (command sessions and image copies): the host key is
 * checked against the device's source (`known-hosts.ts`) before any credential is sent, only the key types the
 * source lists are asked for, keepalives every 5 s. A refused key is reported with the key the device offered (for
 * `host_key_policy: repin-after-reload`).
 * @param ciphers ssh2's cipher list to offer (the staging benchmark pins one); default ssh2's own preference
 * @returns the ready client
 * @throws ConnectError (kind `host_key`, `auth`, `unreachable`, `timeout`)
 */
export async function openVerifiedClient(opts: ConnectOptions, ciphers?: string[]): Promise<Ssh2Client> {
  const {Client} = await import('ssh2')
  const check = hostKeyCheck(opts.hostKey, opts.host, opts.port)
  const client = new Client()
  let hostKeyProblem: string | undefined
  let offeredKey: Buffer | undefined
  await new Promise<void>((resolve, reject) => {
    let settled = false
    const fail = (error: Error & {level?: string}) => {
      if (settled) return
      settled = true
      client.end()
      if (hostKeyProblem !== undefined) return reject(new ConnectError(`${opts.device}: ${hostKeyProblem}`, 'host_key', undefined, offeredKey))
      if (error.level === 'client-authentication') return reject(new ConnectError(`${opts.device}: authentication as ${opts.credentials.username} failed`, 'auth', error))
      if (/Timed out/i.test(error.message)) return reject(new ConnectError(`${opts.device}: SSH handshake with ${opts.host}:${opts.port} timed out after ${Math.round(opts.timeoutMs / 1000)}s`, 'timeout', error))
      reject(new ConnectError(`${opts.device}: cannot connect to ${opts.host}:${opts.port}: ${error.message}`, 'unreachable', error))
    }
    client.once('ready', () => {
      settled = true
      resolve()
    })
    client.on('error', fail)
    client.once('close', () => fail(new Error('connection closed during handshake')))
    const serverHostKey = check.algorithms?.flatMap((t) => (t === 'ssh-rsa' ? RSA_ALGOS : [t]))
    client.connect({
      host: opts.host,
      port: opts.port,
      username: opts.credentials.username,
      readyTimeout: opts.timeoutMs,
      keepaliveInterval: 5000,
      keepaliveCountMax: 3,
      ...(opts.credentials.password === undefined ? {} : {password: opts.credentials.password}),
      ...(opts.credentials.privateKey === undefined ? {} : {privateKey: opts.credentials.privateKey}),
      ...(opts.credentials.passphrase === undefined ? {} : {passphrase: opts.credentials.passphrase}),
      algorithms: {
        ...(serverHostKey ? {serverHostKey: serverHostKey as never} : {}),
        ...(ciphers ? {cipher: ciphers as never} : {}),
      },
      hostVerifier: (key: Buffer) => {
        hostKeyProblem = check.verify(key)
        if (hostKeyProblem !== undefined) offeredKey = key
        return hostKeyProblem === undefined
      },
    })
  })
  return client
}

type Ssh2Client = import('ssh2').Client

/** A live SSH connection to one device. */
export class SshDeviceSession implements DeviceSession {
  private closed = false
  private readonly dropWaiters = new Set<() => void>()
  /** The PTY shell interactive commands run in, opened at the first one (interactive.ts). */
  private shell: Promise<InteractiveShell> | undefined
  /** {@link close} was called (for the transcript: closed by chainup, not dropped by the device). */
  private closedByUs = false

  constructor(
    readonly device: string,
    private readonly client: Ssh2Client,
    /** The most output one command may print, bytes. */
    readonly maxOutputBytes: number = DEFAULT_MAX_OUTPUT_BYTES,
    private readonly extras: SessionExtras = {},
  ) {
    // The server side going away (reload) gives `end`/`close`, never necessarily `error` (FIELD-NOTES).
    client.on('close', () => this.markClosed())
    client.on('end', () => this.markClosed())
    client.on('error', () => this.markClosed())
  }

  /** True once the connection is gone (closed by us or dropped by the device). */
  get isClosed(): boolean {
    return this.closed
  }

  /** Resolves when the connection drops (immediately if it already has). */
  waitForDrop(): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => this.dropWaiters.add(resolve))
  }

  /**
   * Runs one command on its own exec channel.
   * @throws CommandTimeoutError past `timeoutMs` (the connection is closed); OutputLimitError when it printed more than
   *   the cap (its channel is closed, the connection stays usable); SessionClosedError when the session is gone
   */
  exec(command: string, timeoutMs: number, options: ExecOptions = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new SessionClosedError(this.device))
    if ((options.session ?? this.extras.session) === 'interactive') return this.interactiveExec(command, timeoutMs, options)
    const limit = options.maxOutputBytes ?? this.maxOutputBytes
    const log = this.extras.transcript
    log?.exec(command)
    return new Promise((resolve, reject) => {
      let output = ''
      let bytes = 0
      let exitCode: number | undefined
      let done = false
      const finish = (dropped: boolean) => {
        if (done) return
        done = true
        clearTimeout(timer)
        this.dropWaiters.delete(onDrop)
        log?.exit(dropped ? undefined : exitCode)
        resolve({output: output.replace(/\r\n/g, '\n'), exitCode, dropped})
      }
      const fail = (error: Error) => {
        if (done) return
        done = true
        clearTimeout(timer)
        this.dropWaiters.delete(onDrop)
        reject(error)
      }
      const onDrop = () => finish(true)
      const timer = setTimeout(() => {
        if (done) return
        fail(new CommandTimeoutError(command, timeoutMs, output))
        // Abandon the channel: a hung command must not keep the connection busy.
        this.close()
      }, timeoutMs)
      this.dropWaiters.add(onDrop)
      this.client.exec(command, (err, stream) => {
        if (err) {
          if (done) return
          if (this.closed) return finish(true)
          return fail(err)
        }
        const stdout = new StringDecoder('utf8')
        const stderr = new StringDecoder('utf8')
        const take = (decoder: StringDecoder) => (d: Buffer) => {
          if (done) return
          bytes += d.length
          if (bytes > limit) {
            const kept = output.slice(0, PARTIAL_OUTPUT_CHARS)
            output = ''
            fail(new OutputLimitError(this.device, command, limit, kept))
            // Stop it at the source: ask the device to kill the command, then close our end of the channel. What is
            // still in flight is dropped unread (no listener stores it any more).
            try {
              stream.signal('KILL')
            } catch {
              // not every server takes signals
            }
            stream.close()
            return
          }
          const text = decoder.write(d)
          log?.received(text)
          output += text
        }
        stream.on('data', take(stdout))
        stream.stderr.on('data', take(stderr))
        stream.on('exit', (code: number | null) => {
          if (typeof code === 'number') exitCode = code
        })
        stream.on('close', () => {
          if (done) return
          output += stdout.end() + stderr.end()
          if (exitCode !== undefined || this.closed) return finish(exitCode === undefined)
          // A channel closed without exit status: the connection is usually about to drop (reload). Give it a moment.
          setTimeout(() => finish(this.closed), 250)
        })
        stream.resume()
      })
    })
  }

  close(): void {
    if (!this.closed) {
      this.closedByUs = true
      this.client.end()
    }
    this.markClosed()
  }

  /**
   * Runs one command in the connection's PTY shell (opened at the first interactive command: first prompt, pager
   * off), answering the step's confirmation prompts (interactive.ts).
   * @throws PromptTimeoutError past `timeoutMs` (the connection is closed); OutputLimitError; SessionClosedError
   */
  private async interactiveExec(command: string, timeoutMs: number, options: ExecOptions): Promise<ExecResult> {
    this.shell ??= this.openShell()
    let shell: InteractiveShell
    try {
      shell = await this.shell
    } catch (error) {
      this.shell = undefined
      // The device went away while the shell opened (a reload): dropped, as an exec would be. A prompt that never
      // came (a wrong `prompt` pattern) is an error, never a drop.
      if (this.closed && !this.closedByUs && !(error instanceof PromptTimeoutError)) return {output: '', exitCode: undefined, dropped: true}
      throw error
    }
    if (shell.isClosed) {
      this.shell = undefined
      if (this.closed) return {output: '', exitCode: undefined, dropped: true}
      return this.interactiveExec(command, timeoutMs, options)
    }
    try {
      return await shell.run(command, timeoutMs, options.answers ?? [])
    } catch (error) {
      // A command that did not get its prompt back leaves the shell in an unknown state: drop the connection, as exec does.
      if (error instanceof PromptTimeoutError) this.close()
      throw error
    }
  }

  private openShell(): Promise<InteractiveShell> {
    const {extras} = this
    return new Promise<InteractiveShell>((resolve, reject) => {
      // A wide terminal: long command lines and output are not wrapped (the echo is found whole).
      this.client.shell({term: 'vt100', cols: 511, rows: 24, width: 0, height: 0}, (err, channel) => {
        if (err) return reject(err)
        extras.transcript?.shell()
        const onDrop = () => channel.close()
        this.dropWaiters.add(onDrop)
        InteractiveShell.open(
          channel,
          {
            device: this.device,
            maxOutputBytes: this.maxOutputBytes,
            limitError: (cmd, partial) => new OutputLimitError(this.device, cmd, this.maxOutputBytes, partial),
            ...(extras.interactive ?? {}),
            ...(extras.transcript ? {transcript: extras.transcript} : {}),
          },
          extras.connectTimeoutMs ?? 15_000,
          () => this.dropWaiters.delete(onDrop),
        ).then(resolve, (error: unknown) => {
          this.close()
          reject(error as Error)
        })
      })
    })
  }

  private markClosed(): void {
    if (!this.closed) this.extras.transcript?.close(!this.closedByUs)
    this.closed = true
    for (const w of this.dropWaiters) w()
    this.dropWaiters.clear()
  }
}
