/**
 * A simulated Cisco Catalyst 9000 (IOS-XE 17.x, INSTALL mode) behind a real SSH server on loopback.
 *
 * It answers the handful of exec commands chainup's IOS-XE playbook sends (`show version`, `dir flash:`,
 * `install add file ... activate commit`, ...) with output modelled on real devices, reloads like a real
 * switch (every TCP connection drops, the port refuses connections while it boots, it comes back on the
 * installed version) and can be told to misbehave with {@link LabFault}s. Reference: docs/lab.md.
 *
 * This file is the device: SSH transport, authentication, exec/shell channels, flash contents, the install and
 * reload lifecycle and the faults. What a command line means is in ios-grammar.ts, what the device prints in
 * ios-output.ts (both pure).
 *
 * Longer than ~450 lines: the class is one state machine (listening socket, connections, timers, flash, running
 * and next version) whose transport, channel and reload parts all act on the same private state; splitting it
 * further would mean exposing that state between files. Everything stateless already lives in the two modules.
 *
 * Output uses IOS line endings (`\r\n`). ssh2 is imported at module level: import this module lazily
 * (`await import(...)`) from commands that do not always need it.
 */
import {createHash, timingSafeEqual} from 'node:crypto'
import {EventEmitter} from 'node:events'
import net from 'node:net'
import ssh2 from 'ssh2'
import type {AuthContext, Connection, ParsedKey, ServerChannel, Session, SFTPWrapper} from 'ssh2'

import type {LabFault} from '../config/types.js'
import {fingerprintOf} from '../device/known-hosts.js'
import {type Clock, systemClock, type Timer} from '../util/clock.js'
import {type Dialect, type DialectHost, runDialectExec, runDialectShell} from './dialects/index.js'
import {parseLine} from './ios-grammar.js'
import {
  CRLF,
  type DeviceView,
  type FlashFile,
  fakeDigest,
  flashFileSize,
  flashFree,
  hostileErrors,
  hostileShowVersion,
  imageName,
  installAlreadyAdded,
  installBusy,
  installNoSuchFile,
  installNotAPackage,
  installProgress,
  parseErrorLines,
  parseImageVersion,
  pkgNames,
  renderOutput,
  toText,
  verifyNoSuchFile,
  verifyOutput,
} from './ios-output.js'

export {formatIosClock, formatIosTime, formatIosUptime, imageName, parseImageVersion, shortVersion} from './ios-output.js'

/**
 * Fault switches of the simulator: the inventory's {@link LabFault}s, and `hostile_output` (docs/lab.md "Faults"),
 * which only the simulator knows: its `show version` and error output carry shell syntax and escape sequences.
 */
export type SimFault = LabFault | 'hostile_output'

/** Options of one simulated switch. Times are in milliseconds. */
export interface SimSwitchOptions {
  /** Hostname shown in the prompt, `show version` and `show running-config`. */
  name: string
  /** Address to listen on. @default '127.0.0.1' */
  host?: string
  /** TCP port; 0 picks an ephemeral port on the first listen, which is then kept across reloads. */
  port: number
  /** Host private key (OpenSSH or PEM). @default a fresh ed25519 key */
  hostKey?: string | Buffer
  /** The only user name accepted. */
  username: string
  /** Accept password authentication with this password. */
  password?: string
  /** Accept public-key authentication for this OpenSSH public key line (`ssh-ed25519 AAAA... comment`). */
  publicKey?: string
  /** Running version at start, as `show version` prints it, e.g. `17.06.05`. */
  version: string
  /** Files on flash: (names only). @default packages.conf, the running version's .bin and its .pkg files */
  flash?: string[]
  /** Images also on flash:, e.g. the upgrade's target image (dropped by the `missing_image` fault). */
  extraImages?: string[]
  /** How long a reload keeps the device down (TCP port closed), ms. */
  bootTimeMs: number
  /** Fault switches (docs/lab.md). */
  faults?: readonly SimFault[]
  /** The `slow_boot` fault multiplies {@link SimSwitchOptions.bootTimeMs} by this. @default 10 */
  slowBootFactor?: number
  /** How long `install add ... activate commit` prints progress before it reloads the device, ms. @default 300 */
  installDelayMs?: number
  /**
   * When set, `install add ... activate commit` ends its exec with exit status 0 once its progress is printed, and
   * the device reloads this many ms later (a switch that returns the prompt before it goes down). Unset: the reload
   * drops the session while the command runs (IOS-XE with `prompt-level none`).
   */
  reloadAfterExitMs?: number
  /** Model number. @default 'C9300-48P' */
  model?: string
  /** When the device booted before the simulation started. @default now − 23 days 4 hours 17 minutes */
  bootedAt?: Date
  /** Source of "now" and of the reload model's timers (boot time, install progress, reload delay). @default systemClock */
  clock?: Clock
  /** Another platform's CLI (EOS, Junos, NX-OS, SONiC: dialects/index.ts `dialectFor`); absent = IOS-XE. */
  dialect?: Dialect
  /** Files already on flash: with the digests of their content (an image staged before), e.g. to test a skipped copy. */
  stagedFiles?: Array<{name: string; size: number; md5: string; sha512: string}>
  /** Size of flash:, bytes (free space = this − 1873412096 hidden bytes − the files). @default 11353194496 */
  flashTotalBytes?: number
}

/** What happened to a simulated device, in order. */
export type SimEventType = 'listening' | 'login' | 'login_failed' | 'exec' | 'reload' | 'down' | 'up' | 'install_started' | 'copy_started' | 'copy_finished' | 'copy_failed'

/** One entry of {@link SimSwitch.events}. */
export interface SimEvent {
  /** When, epoch ms. */
  at: number
  /** The device's name. */
  device: string
  type: SimEventType
  /** The command for `exec`, the user for `login`, the address for `listening`, the version for `up`, ... */
  detail?: string
}

const DEFAULT_BOOTED_AGO_MS = ((23 * 24 + 4) * 60 + 17) * 60_000

/**
 * A simulated Catalyst 9000 switch: an SSH server on a real TCP port that answers IOS-XE exec commands.
 * Emits `event` with every {@link SimEvent} it also appends to {@link SimSwitch.events}.
 */
export class SimSwitch extends EventEmitter<{event: [SimEvent]}> {
  /** The host key's fingerprint as `ssh-keygen -lf` prints it: `SHA256:` + unpadded base64. */
  readonly hostKeyFingerprint: string

  private readonly opts: SimSwitchOptions
  private readonly host: string
  private readonly faults: ReadonlySet<SimFault>
  private readonly clock: Clock
  private readonly hostKey: string | Buffer
  private readonly allowedKey: ParsedKey | undefined
  private readonly ssh: ssh2.Server
  private readonly log: SimEvent[] = []
  private readonly sockets = new Set<net.Socket>()
  private readonly timers = new Set<Timer>()
  private readonly installTimers = new Set<Timer>()
  private readonly flash = new Map<string, FlashFile>()
  private server: net.Server | undefined
  private listenPort: number
  private runningVersion: string
  /** Version the next boot comes up on (set by a committed install). */
  private nextVersion: string
  private booted: Date
  private reloadCount = 0
  private lastReload: Date | undefined
  /** `drop_copy` drops only the first copy. */
  private copyDropped = false
  private up = false
  private started = false
  private stopped = false
  private stopping: Promise<void> | undefined

  /** @throws Error when `hostKey` or `publicKey` cannot be parsed. */
  constructor(opts: SimSwitchOptions) {
    super()
    this.opts = opts
    this.host = opts.host ?? '127.0.0.1'
    this.listenPort = opts.port
    this.faults = new Set(opts.faults ?? [])
    this.runningVersion = opts.version
    this.nextVersion = opts.version
    this.clock = opts.clock ?? systemClock
    this.booted = opts.bootedAt ?? new Date(this.clock.now() - DEFAULT_BOOTED_AGO_MS)

    this.hostKey = opts.hostKey ?? generateHostKey()
    const parsedHost = parseOneKey(this.hostKey, 'hostKey')
    this.hostKeyFingerprint = fingerprintOf(parsedHost.getPublicSSH())
    this.allowedKey = opts.publicKey === undefined ? undefined : parseOneKey(opts.publicKey, 'publicKey')

    const fileTime = new Date(this.booted.getTime() - 3_600_000)
    const dialect = opts.dialect
    const names = opts.flash ?? (dialect ? dialect.files(opts.version) : ['packages.conf', imageName(opts.version), ...pkgNames(opts.version)])
    for (const n of [...names, ...(opts.extraImages ?? [])]) this.flash.set(n, makeFile(n, fileTime))
    for (const f of opts.stagedFiles ?? []) this.flash.set(f.name, {...makeFile(f.name, fileTime), size: f.size, md5: f.md5, sha512: f.sha512})
    // The image it runs now is what a rollback would go back to.
    if (this.faults.has('no_rollback_image')) this.flash.delete(dialect ? dialect.imageName(opts.version) : imageName(opts.version))
    if (this.faults.has('missing_image')) {
      for (const n of [...this.flash.keys()]) {
        const v = dialect ? dialect.imageVersion(n) : parseImageVersion(n)
        if (v !== undefined && v !== opts.version) this.flash.delete(n)
      }
    }

    this.ssh = new ssh2.Server({hostKeys: [this.hostKey], ident: dialect?.ident ?? 'Cisco-1.25'}, (client, info) => this.onClient(client, info.ip))
    this.ssh.on('error', () => {})
  }

  /** The TCP port; before the first {@link SimSwitch.start} this is the configured port (maybe 0). */
  get port(): number {
    return this.listenPort
  }

  /** Everything that happened so far, oldest first. */
  get events(): readonly SimEvent[] {
    return this.log
  }

  /** The running software version, e.g. `17.09.05`. */
  get version(): string {
    return this.runningVersion
  }

  /** When the running software booted (the `System restarted at` time). */
  get bootedAt(): Date {
    return this.booted
  }

  /** Completed reboots since the simulation started (a device that never comes back does not count). */
  get reloads(): number {
    return this.reloadCount
  }

  /** True while the device accepts SSH connections. */
  get isUp(): boolean {
    return this.up
  }

  /**
   * Starts listening; resolves once the port accepts connections.
   * @throws Error from `net.Server#listen` (e.g. `EADDRINUSE`), or when called twice or after {@link SimSwitch.stop}.
   */
  async start(): Promise<void> {
    if (this.started || this.stopped) throw new Error(`SimSwitch ${this.opts.name}: start() may be called once, before stop()`)
    this.started = true
    await this.listen()
    this.up = true
    this.record('listening', `${this.host}:${this.listenPort}`)
  }

  /**
   * Closes the listening socket and every client connection and cancels pending boots and installs.
   * Idempotent; afterwards nothing of this switch keeps the event loop alive.
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping
    this.stopped = true
    this.up = false
    for (const t of [...this.timers, ...this.installTimers]) this.clock.clearTimeout(t)
    this.timers.clear()
    this.installTimers.clear()
    this.stopping = this.closeServer()
    return this.stopping
  }

  // ---------------------------------------------------------------- transport

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const srv = net.createServer((socket) => this.onSocket(socket))
      srv.once('error', reject)
      srv.listen({port: this.listenPort, host: this.host}, () => {
        srv.off('error', reject)
        srv.on('error', () => {})
        if (this.stopped) {
          srv.close()
          reject(new Error(`SimSwitch ${this.opts.name} was stopped while it was starting`))
          return
        }
        this.server = srv
        const address = srv.address()
        if (address !== null && typeof address === 'object') this.listenPort = address.port
        resolve()
      })
    })
  }

  private onSocket(socket: net.Socket): void {
    if (!this.up || this.stopped) {
      socket.destroy()
      return
    }
    this.sockets.add(socket)
    socket.on('error', () => {})
    socket.once('close', () => this.sockets.delete(socket))
    this.ssh.injectSocket(socket)
  }

  /** Stops listening and drops every connection at once (no SSH disconnect message, like a power cut). */
  private closeServer(): Promise<void> {
    const srv = this.server
    this.server = undefined
    for (const s of this.sockets) s.destroy()
    this.sockets.clear()
    if (!srv) return Promise.resolve()
    return new Promise((resolve) => srv.close(() => resolve()))
  }

  private now(): Date {
    return new Date(this.clock.now())
  }

  private later(ms: number, fn: () => void, set: Set<Timer> = this.timers): void {
    const t = this.clock.setTimeout(() => {
      set.delete(t)
      fn()
    }, ms)
    set.add(t)
  }

  private record(type: SimEventType, detail?: string): void {
    const ev: SimEvent = {at: this.clock.now(), device: this.opts.name, type}
    if (detail !== undefined) ev.detail = detail
    this.log.push(ev)
    this.emit('event', ev)
  }

  // ---------------------------------------------------------------- SSH

  private onClient(client: Connection, ip: string): void {
    let user = ''
    let method = ''
    client.on('error', () => {})
    client.on('authentication', (ctx) => {
      const ok = this.authenticate(ctx)
      if (ok === 'accept') {
        user = ctx.username
        method = ctx.method
        ctx.accept()
      } else if (ok === 'query-ok') {
        ctx.accept()
      } else {
        if (ctx.method !== 'none') this.record('login_failed', `${ctx.method} ${ctx.username} from ${ip}`)
        ctx.reject(this.authMethods())
      }
    })
    client.on('ready', () => {
      this.record('login', `${user} (${method}) from ${ip}`)
      client.on('session', (accept) => this.onSession(accept()))
    })
  }

  private authMethods(): Array<'password' | 'publickey'> {
    const methods: Array<'password' | 'publickey'> = []
    if (this.opts.password !== undefined) methods.push('password')
    if (this.allowedKey) methods.push('publickey')
    return methods
  }

  /** `query-ok`: the client asked whether a key would do (no signature yet); not a login. */
  private authenticate(ctx: AuthContext): 'accept' | 'query-ok' | 'reject' {
    if (ctx.username !== this.opts.username) return 'reject'
    if (ctx.method === 'password') {
      return this.opts.password !== undefined && sameSecret(ctx.password, this.opts.password) ? 'accept' : 'reject'
    }
    if (ctx.method === 'publickey') {
      const key = this.allowedKey
      if (!key || ctx.key.algo !== key.type || !ctx.key.data.equals(key.getPublicSSH())) return 'reject'
      if (!ctx.signature) return 'query-ok'
      if (!ctx.blob) return 'reject'
      return key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true ? 'accept' : 'reject'
    }
    return 'reject'
  }

  private onSession(session: Session): void {
    // ssh2 passes `accept`/`reject` as undefined when the client sent want-reply=false (OpenSSH does for
    // `env`), although @types/ssh2 declares them as functions; and `accept()` returns undefined when the
    // session is already ending. Hence the `?.` and the channel checks.
    session.on('pty', (accept) => accept?.())
    session.on('env', (accept) => accept?.())
    session.on('window-change', (accept) => accept?.())
    session.on('subsystem', (_accept, reject) => reject?.())
    session.on('sftp', (accept) => {
      const sftp = accept?.() as SFTPWrapper | undefined
      if (sftp) this.sftpServer(sftp)
    })
    session.on('exec', (accept, _reject, info) => {
      const ch = accept?.() as ServerChannel | undefined
      if (!ch) return
      this.record('exec', info.command)
      const scp = /^scp\s+(?:-[a-zA-Z]+\s+)*-t\s+(?:-[a-zA-Z]+\s+)*(\S+)\s*$/.exec(info.command)
      if (scp) return this.scpSink(ch, scp[1]!)
      if (this.opts.dialect) return runDialectExec(ch, info.command, this.opts.dialect, this.dialectHost())
      const out = channelSink(ch)
      this.execute(info.command, out, (code) => out.exit(code))
    })
    session.on('shell', (accept) => {
      const ch = accept?.() as ServerChannel | undefined
      if (ch) this.shell(ch)
    })
  }

  /** A minimal interactive CLI: `name#` prompt, echo, backspace, `exit`. */
  private shell(ch: ServerChannel): void {
    if (this.opts.dialect) return runDialectShell(ch, this.opts.dialect, this.dialectHost())
    const out = channelSink(ch)
    const prompt = `${this.opts.name}#`
    let line = ''
    let busy = false
    let lastCr = false
    out.write(`${CRLF}${prompt}`)
    ch.on('data', (data: Buffer) => {
      for (const c of data.toString('utf8')) {
        const wasCr = lastCr
        lastCr = c === '\r'
        if (busy) continue
        if (c === '\r' || c === '\n') {
          if (c === '\n' && wasCr) continue
          out.write(CRLF)
          const command = line.trim()
          line = ''
          if (/^(exit|logout|quit)$/i.test(command)) {
            out.exit(0)
            return
          }
          if (command === '') {
            out.write(prompt)
            continue
          }
          busy = true
          this.record('exec', command)
          this.execute(command, out, () => {
            busy = false
            out.write(prompt)
          })
        } else if (c === '\x7f' || c === '\b') {
          if (line.length > 0) {
            line = line.slice(0, -1)
            out.write('\b \b')
          }
        } else if (c === '\x03') {
          line = ''
          out.write(`${CRLF}${prompt}`)
        } else if (c >= ' ') {
          line += c
          out.write(c)
        }
      }
    })
  }

  // ---------------------------------------------------------------- CLI

  /** Runs one command line; calls `done(exitStatus)` unless the device reloads (or hangs) first. */
  private execute(line: string, out: Sink, done: (code: number) => void): void {
    const finish = (code: number, lines: readonly string[] = []): void => {
      if (lines.length > 0) out.write(toText(code === 0 ? lines : this.errorLines(lines)))
      done(code)
    }
    const parsed = parseLine(line)
    if (parsed.kind === 'empty') return finish(0)
    if (parsed.kind === 'error') return finish(1, parseErrorLines(this.opts.name, parsed.error))
    const {command, filter} = parsed
    switch (command.id) {
      case 'show_version':
      case 'show_clock':
      case 'show_running':
      case 'show_install_summary':
      case 'show_boot':
      case 'show_switch':
      case 'dir': {
        const rendered = renderOutput(command, this.view(), this.now())
        const text = command.id === 'show_version' && this.faults.has('hostile_output') ? hostileShowVersion(rendered) : rendered
        return finish(0, filter ? filter(text) : text)
      }
      case 'terminal_length':
        return finish(0)
      case 'verify': {
        const name = command.file.replace(/^(flash|bootflash):\/?/i, '')
        const f = /^(flash|bootflash):/i.test(command.file) ? this.flash.get(name) : undefined
        if (!f) return finish(1, verifyNoSuchFile(name))
        return finish(0, verifyOutput(command.algorithm, name, f[command.algorithm] ?? fakeDigest(name, command.algorithm)))
      }
      case 'reload':
        this.later(20, () => this.reload('Reload Command'))
        return
      case 'install':
        this.install(command.file, out, done)
        return
      case 'exit':
        return finish(0)
    }
  }

  /** What a dialect (dialects/types.ts) sees of this device and may do with it. */
  private dialectHost(): DialectHost {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const sim = this
    return {
      name: this.opts.name,
      username: this.opts.username,
      get version() {
        return sim.runningVersion
      },
      get nextVersion() {
        return sim.nextVersion
      },
      get bootedAt() {
        return sim.booted
      },
      get reloads() {
        return sim.reloadCount
      },
      installDelayMs: this.opts.installDelayMs ?? 300,
      now: () => this.now(),
      files: () => [...this.flash.keys()],
      hasFile: (name) => this.flash.has(name),
      digest: (name, algorithm) => {
        const file = this.flash.get(name)
        return file === undefined ? undefined : (file[algorithm] ?? fakeDigest(name, algorithm))
      },
      hasFault: (fault) => this.faults.has(fault),
      setNextVersion: (version) => {
        this.nextVersion = version
      },
      reload: (detail) => this.later(20, () => this.reload('Reload Command', detail)),
      later: (ms, fn) => this.later(ms, fn, this.installTimers),
      installStarted: (image) => this.record('install_started', image),
      commandTyped: (line) => this.record('exec', line),
    }
  }

  /** The state the output renderers need. */
  private view(): DeviceView {
    return {
      name: this.opts.name,
      model: this.opts.model ?? 'C9300-48P',
      username: this.opts.username,
      version: this.runningVersion,
      nextVersion: this.nextVersion,
      bootedAt: this.booted,
      lastReload: this.lastReload,
      flash: [...this.flash.values()],
      ...(this.opts.flashTotalBytes === undefined ? {} : {flashTotal: this.opts.flashTotalBytes}),
    }
  }

  // ---------------------------------------------------------------- image copies (staging)

  /** Free bytes on flash: now. */
  private get freeBytes(): number {
    return flashFree([...this.flash.values()], this.opts.flashTotalBytes)
  }

  /**
   * Receives one file into flash:, checking the room for it and applying the copy faults; shared by SCP and SFTP.
   * `corrupt_copy` changes the first byte it is given; `drop_copy` drops every connection once half of the first copy
   * arrived (like a link flap: the device stays up).
   */
  private receiver(name: string, method: 'scp' | 'sftp', size: number | undefined) {
    const md5 = createHash('md5')
    const sha512 = createHash('sha512')
    let bytes = 0
    let failed = false
    let dropped = false
    this.record('copy_started', `${method} ${name}`)
    return {
      get bytes() {
        return bytes
      },
      /** The fault `drop_copy` dropped the connections. */
      get dropped() {
        return dropped
      },
      /** @returns false when the copy cannot go on (no space; the connection was dropped) */
      write: (data: Buffer): boolean => {
        if (failed) return false
        if (bytes + data.length > this.freeBytes + (this.flash.get(name)?.size ?? 0)) {
          this.fail(name, bytes, 'no space left on device')
          failed = true
          return false
        }
        const chunk = this.faults.has('corrupt_copy') && bytes === 0 && data.length > 0 ? Buffer.concat([Buffer.from([data[0]! ^ 0xff]), data.subarray(1)]) : data
        md5.update(chunk)
        sha512.update(chunk)
        bytes += data.length
        if (this.faults.has('drop_copy') && !this.copyDropped && size !== undefined && bytes >= size / 2) {
          this.copyDropped = true
          failed = true
          dropped = true
          this.fail(name, bytes, 'connection dropped (fault drop_copy)')
          for (const socket of this.sockets) socket.destroy()
          return false
        }
        return true
      },
      /** Stores the file (replacing one of that name). */
      finish: () => {
        if (failed) return
        failed = true
        this.flash.set(name, {...makeFile(name, this.now()), size: bytes, md5: md5.digest('hex'), sha512: sha512.digest('hex')})
        this.record('copy_finished', `${method} ${name} ${bytes} bytes`)
      },
      abort: (why: string) => {
        if (failed) return
        failed = true
        this.fail(name, bytes, why)
      },
    }
  }

  private fail(name: string, bytes: number, why: string): void {
    this.record('copy_failed', `${name} after ${bytes} bytes: ${why}`)
  }

  /** `scp -t TARGET`: the sink side of the SCP protocol (docs/staging.md); TARGET is `flash:NAME` or `flash:`. */
  private scpSink(ch: ServerChannel, target: string): void {
    ch.on('error', () => {})
    // A dialect's device also takes its image directory (Junos /var/tmp/, a SONiC home directory): one flat file system.
    const fs = /^(flash|bootflash):\/?(.*)$/i.exec(target) ?? (this.opts.dialect ? /^(\/(?:[\w.-]+\/)*)([^/]*)$/.exec(target) : null)
    const refuse = (message: string) => {
      if (ch.writable) ch.write(`\x01scp: ${message}\n`)
      ch.exit(1)
      ch.end()
    }
    let state: 'header' | 'data' | 'end' | 'done' = 'header'
    let header = ''
    let size = 0
    let rx: ReturnType<SimSwitch['receiver']> | undefined
    ch.on('close', () => rx?.abort('the connection closed during the copy'))
    if (!fs) return refuse(`${target}: only flash: is writable`)
    ch.write(Buffer.from([0]))
    ch.on('data', (data: Buffer) => {
      let rest = data
      while (rest.length > 0 && state !== 'done') {
        if (state === 'header') {
          const nl = rest.indexOf(0x0a)
          header += rest.subarray(0, nl < 0 ? rest.length : nl).toString('utf8')
          if (nl < 0) return
          rest = rest.subarray(nl + 1)
          const m = /^C([0-7]{4}) (\d+) ([^/\s]+)$/.exec(header)
          if (!m) return refuse(`protocol error: unexpected ${JSON.stringify(header.slice(0, 40))}`)
          size = Number(m[2])
          const name = fs[2] || m[3]!
          if (size > this.freeBytes + (this.flash.get(name)?.size ?? 0)) return refuse(`flash:/${name}: No space left on device`)
          rx = this.receiver(name, 'scp', size)
          ch.write(Buffer.from([0]))
          state = size === 0 ? 'end' : 'data'
        } else if (state === 'data') {
          const take = rest.subarray(0, size - rx!.bytes)
          rest = rest.subarray(take.length)
          if (!rx!.write(take)) return rx!.dropped ? undefined : refuse('flash: No space left on device')
          if (rx!.bytes >= size) state = 'end'
        } else if (state === 'end') {
          if (rest[0] !== 0) return refuse('protocol error: no end-of-file byte')
          rest = rest.subarray(1)
          rx!.finish()
          ch.write(Buffer.from([0]))
          state = 'done'
        }
      }
    })
    ch.on('end', () => {
      if (state === 'done' || state === 'header') {
        ch.exit(0)
        ch.end()
      }
    })
  }

  /** The SFTP subsystem, writing files to flash: (`flash:NAME`, `flash:/NAME` or `/NAME`); fastPut's out-of-order writes are put in order. */
  private sftpServer(sftp: SFTPWrapper): void {
    const {STATUS_CODE, OPEN_MODE} = ssh2.utils.sftp
    interface Open {
      rx: ReturnType<SimSwitch['receiver']>
      next: number
      pending: Map<number, Buffer>
      broken: boolean
    }
    const open = new Map<number, Open>()
    let nextHandle = 1
    const handleOf = (h: Buffer) => (h.length === 4 ? h.readUInt32BE(0) : -1)
    sftp.on('error', () => {})
    sftp.on('OPEN', (reqid, filename, flags) => {
      const stripped = filename.replace(/^(flash|bootflash):/i, '').replace(/^\/+/, '')
      // A dialect's device takes any directory of its one flat file system (Junos /var/tmp/, a SONiC home directory).
      const name = this.opts.dialect ? stripped.slice(stripped.lastIndexOf('/') + 1) : stripped
      if (!(flags & OPEN_MODE.WRITE) || name === '' || name.includes('/')) return sftp.status(reqid, STATUS_CODE.PERMISSION_DENIED, `only files on flash: can be written`)
      const id = nextHandle++
      open.set(id, {rx: this.receiver(name, 'sftp', undefined), next: 0, pending: new Map(), broken: false})
      const h = Buffer.alloc(4)
      h.writeUInt32BE(id, 0)
      sftp.handle(reqid, h)
    })
    sftp.on('WRITE', (reqid, handle, offset, data) => {
      const f = open.get(handleOf(handle))
      if (!f || f.broken) return sftp.status(reqid, STATUS_CODE.FAILURE, 'bad handle')
      f.pending.set(offset, Buffer.from(data))
      for (let chunk = f.pending.get(f.next); chunk; chunk = f.pending.get(f.next)) {
        f.pending.delete(f.next)
        f.next += chunk.length
        if (!f.rx.write(chunk)) {
          f.broken = true
          return sftp.status(reqid, STATUS_CODE.FAILURE, 'No space left on device')
        }
      }
      sftp.status(reqid, STATUS_CODE.OK)
    })
    sftp.on('FSETSTAT', (reqid) => sftp.status(reqid, STATUS_CODE.OK))
    sftp.on('CLOSE', (reqid, handle) => {
      const id = handleOf(handle)
      const f = open.get(id)
      open.delete(id)
      if (!f) return sftp.status(reqid, STATUS_CODE.FAILURE, 'bad handle')
      if (f.broken || f.pending.size > 0) {
        f.rx.abort('incomplete file')
        return sftp.status(reqid, STATUS_CODE.FAILURE, 'incomplete file')
      }
      f.rx.finish()
      sftp.status(reqid, STATUS_CODE.OK)
    })
    for (const op of ['READ', 'FSTAT', 'OPENDIR', 'READDIR', 'LSTAT', 'STAT', 'REMOVE', 'RMDIR', 'REALPATH', 'READLINK', 'SETSTAT', 'MKDIR', 'RENAME', 'SYMLINK'] as const) {
      sftp.on(op, (reqid: number) => sftp.status(reqid, STATUS_CODE.OP_UNSUPPORTED))
    }
    sftp.on('end', () => {
      for (const f of open.values()) f.rx.abort('the SFTP session ended with the file open')
      open.clear()
    })
  }

  /** A failed command's output: with `hostile_output`, every error line carries shell syntax and escape sequences. */
  private errorLines(lines: readonly string[]): readonly string[] {
    return this.faults.has('hostile_output') ? hostileErrors(lines) : lines
  }

  private install(path: string, out: Sink, done: (code: number) => void): void {
    const image = path.replace(/^(flash|bootflash):\/?/i, '')
    const write = (lines: string[]): void => out.write(toText(lines))
    const fail = (lines: string[]): void => {
      out.write(toText(this.errorLines(lines)))
      done(1)
    }
    if (!/^(flash|bootflash):/i.test(path) || !this.flash.has(image)) return fail(installNoSuchFile(image))
    const target = parseImageVersion(image)
    if (target === undefined) return fail(installNotAPackage(image))
    const now = this.now()
    if (target === this.runningVersion || target === this.nextVersion) return fail(installAlreadyAdded(now))

    if (this.faults.has('install_busy')) {
      write(installBusy(now))
      return done(0)
    }
    this.record('install_started', image)
    const progress = installProgress(image, target, now, Math.max(1, Math.round((this.opts.installDelayMs ?? 300) / 1000)))
    if (this.faults.has('hang_install')) {
      write(progress.slice(0, 1))
      return
    }
    const delay = this.opts.installDelayMs ?? 300
    progress.forEach((l, i) => {
      this.later(Math.floor((delay * i) / progress.length), () => {
        write([l])
        if (l.startsWith('install_add_activate_commit: Adding PACKAGE')) {
          for (const n of pkgNames(target)) if (!this.flash.has(n)) this.flash.set(n, makeFile(n, this.now()))
        }
      }, this.installTimers)
    })
    this.later(delay, () => {
      this.nextVersion = target
      if (this.faults.has('no_reload')) done(0)
      else if (this.opts.reloadAfterExitMs !== undefined) {
        done(0)
        this.later(this.opts.reloadAfterExitMs, () => this.reload('Reload Command', `install ${image}`), this.installTimers)
      } else this.reload('Reload Command', `install ${image}`)
    }, this.installTimers)
  }

  /** Drops every connection, stays down for the boot time, then listens again on the same port. */
  private reload(reason: string, detail = 'reload command'): void {
    if (!this.up || this.stopped) return
    this.up = false
    this.lastReload = this.now()
    this.record('reload', detail)
    for (const t of this.installTimers) this.clock.clearTimeout(t)
    this.installTimers.clear()
    void this.closeServer()
    this.record('down', reason)
    if (this.faults.has('never_returns')) return
    const bootMs = this.opts.bootTimeMs * (this.faults.has('slow_boot') ? (this.opts.slowBootFactor ?? 10) : 1)
    this.later(bootMs, () => this.boot())
  }

  private boot(): void {
    if (this.stopped) return
    this.listen().then(
      () => {
        if (!this.faults.has('old_version')) this.runningVersion = this.nextVersion
        this.nextVersion = this.runningVersion
        this.booted = this.now()
        this.reloadCount++
        this.up = true
        this.record('up', this.runningVersion)
      },
      () => {
        // The port is taken (or we were stopped): keep trying like a device that keeps booting.
        if (!this.stopped) this.later(100, () => this.boot())
      },
    )
  }
}

// ------------------------------------------------------------------ channels

interface Sink {
  write(text: string): void
  /** Sends the exit status and closes the channel. */
  exit(code: number): void
}

/** Writes to a channel until the client closes it; never throws on a closed channel. */
function channelSink(ch: ServerChannel): Sink {
  let closed = false
  ch.on('close', () => {
    closed = true
  })
  ch.on('error', () => {})
  return {
    write(text) {
      if (!closed && ch.writable) ch.write(text)
    },
    exit(code) {
      if (closed) return
      closed = true
      ch.exit(code)
      ch.end()
    },
  }
}

// ------------------------------------------------------------------ flash

/** Inode numbers are handed out process-wide, in creation order, across all simulated switches. */
let nextInode = 475_137

function makeFile(name: string, mtime: Date): FlashFile {
  return {name, size: flashFileSize(name), mtime, inode: nextInode++}
}

// ------------------------------------------------------------------ keys

function parseOneKey(data: string | Buffer, what: string): ParsedKey {
  const parsed: ParsedKey | ParsedKey[] | Error = ssh2.utils.parseKey(data)
  if (parsed instanceof Error) throw new Error(`SimSwitch: cannot parse ${what}: ${parsed.message}`)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (!key) throw new Error(`SimSwitch: ${what} holds no key`)
  return key
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

/**
 * A fresh ed25519 host key in OpenSSH format. ssh2 1.17's generateKeyPairSync('ed25519') yields a key its own
 * parseKey refuses ("Malformed OpenSSH private key") about 4 times in 1000 (measured here), so retry.
 */
function generateHostKey(): string {
  for (let attempt = 0; ; attempt++) {
    const key = ssh2.utils.generateKeyPairSync('ed25519').private
    if (!(ssh2.utils.parseKey(key) instanceof Error) || attempt >= 20) return key
  }
}