/**
 * A simulated Cisco Catalyst 9000 (IOS-XE 17.x, INSTALL mode) behind a real SSH server on loopback.
 *
 * It answers the handful of exec commands chainup's IOS-XE playbook sends (`show version`, `dir flash:`,
 * `install add file ... activate commit`, ...) with output modelled on real devices, reloads like a real
 * switch (every TCP connection drops, the port refuses connections while it boots, it comes back on the
 * installed version) and can be told to misbehave with {@link LabFault}s. Reference: docs/lab.md.
 *
 * Output uses IOS line endings (`\r\n`). ssh2 is imported at module level: import this module lazily
 * (`await import(...)`) from commands that do not always need it.
 */
import {createHash, timingSafeEqual} from 'node:crypto'
import {EventEmitter} from 'node:events'
import net from 'node:net'
import ssh2 from 'ssh2'
import type {AuthContext, Connection, ParsedKey, ServerChannel, Session} from 'ssh2'

import type {LabFault} from '../config/types.js'

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
  faults?: readonly LabFault[]
  /** The `slow_boot` fault multiplies {@link SimSwitchOptions.bootTimeMs} by this. @default 10 */
  slowBootFactor?: number
  /** How long `install add ... activate commit` prints progress before it reloads the device, ms. @default 300 */
  installDelayMs?: number
  /** Model number. @default 'C9300-48P' */
  model?: string
  /** When the device booted before the simulation started. @default now − 23 days 4 hours 17 minutes */
  bootedAt?: Date
}

/** What happened to a simulated device, in order. */
export type SimEventType = 'listening' | 'login' | 'login_failed' | 'exec' | 'reload' | 'down' | 'up' | 'install_started'

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

const CRLF = '\r\n'
const DEFAULT_BOOTED_AGO_MS = ((23 * 24 + 4) * 60 + 17) * 60_000
const FLASH_TOTAL_BYTES = 11_353_194_496
/** Bytes used on flash by files the listing does not show (crashinfo, tracelogs, ...). */
const FLASH_HIDDEN_USED_BYTES = 1_873_412_096
const PKG_KINDS = ['cc_srdriver', 'espbase', 'guestshell', 'lni', 'rpbase', 'rpboot', 'sipbase', 'sipspa', 'srdriver', 'webui', 'wlc']
const IMAGE_RE = /^cat9k_iosxe\.(\d{2}\.\d{2}\.\d{2}[a-z]?)\.SPA\.bin$/i
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/**
 * A simulated Catalyst 9000 switch: an SSH server on a real TCP port that answers IOS-XE exec commands.
 * Emits `event` with every {@link SimEvent} it also appends to {@link SimSwitch.events}.
 */
export class SimSwitch extends EventEmitter<{event: [SimEvent]}> {
  /** The host key's fingerprint as `ssh-keygen -lf` prints it: `SHA256:` + unpadded base64. */
  readonly hostKeyFingerprint: string

  private readonly opts: SimSwitchOptions
  private readonly host: string
  private readonly faults: ReadonlySet<LabFault>
  private readonly hostKey: string | Buffer
  private readonly allowedKey: ParsedKey | undefined
  private readonly ssh: ssh2.Server
  private readonly log: SimEvent[] = []
  private readonly sockets = new Set<net.Socket>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly installTimers = new Set<NodeJS.Timeout>()
  private readonly flash = new Map<string, FlashFile>()
  private server: net.Server | undefined
  private listenPort: number
  private runningVersion: string
  /** Version the next boot comes up on (set by a committed install). */
  private nextVersion: string
  private booted: Date
  private reloadCount = 0
  private lastReload: Date | undefined
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
    this.booted = opts.bootedAt ?? new Date(Date.now() - DEFAULT_BOOTED_AGO_MS)

    this.hostKey = opts.hostKey ?? generateHostKey()
    const parsedHost = parseOneKey(this.hostKey, 'hostKey')
    this.hostKeyFingerprint = fingerprintOf(parsedHost.getPublicSSH())
    this.allowedKey = opts.publicKey === undefined ? undefined : parseOneKey(opts.publicKey, 'publicKey')

    const fileTime = new Date(this.booted.getTime() - 3_600_000)
    const names = opts.flash ?? ['packages.conf', imageName(opts.version), ...pkgNames(opts.version)]
    for (const n of [...names, ...(opts.extraImages ?? [])]) this.flash.set(n, makeFile(n, fileTime))
    // The image it runs now is what a rollback would go back to.
    if (this.faults.has('no_rollback_image')) this.flash.delete(imageName(opts.version))
    if (this.faults.has('missing_image')) {
      for (const n of [...this.flash.keys()]) {
        const v = parseImageVersion(n)
        if (v !== undefined && v !== opts.version) this.flash.delete(n)
      }
    }

    this.ssh = new ssh2.Server({hostKeys: [this.hostKey], ident: 'Cisco-1.25'}, (client, info) => this.onClient(client, info.ip))
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
    for (const t of [...this.timers, ...this.installTimers]) clearTimeout(t)
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

  private later(ms: number, fn: () => void, set: Set<NodeJS.Timeout> = this.timers): void {
    const t = setTimeout(() => {
      set.delete(t)
      fn()
    }, ms)
    set.add(t)
  }

  private record(type: SimEventType, detail?: string): void {
    const ev: SimEvent = {at: Date.now(), device: this.opts.name, type}
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
    session.on('sftp', (_accept, reject) => reject?.())
    session.on('exec', (accept, _reject, info) => {
      const ch = accept?.() as ServerChannel | undefined
      if (!ch) return
      const out = channelSink(ch)
      this.record('exec', info.command)
      this.execute(info.command, out, (code) => out.exit(code))
    })
    session.on('shell', (accept) => {
      const ch = accept?.() as ServerChannel | undefined
      if (ch) this.shell(ch)
    })
  }

  /** A minimal interactive CLI: `name#` prompt, echo, backspace, `exit`. */
  private shell(ch: ServerChannel): void {
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
    const [commandPart, filterPart] = splitPipe(line)
    const parsed = parseCommand(commandPart)
    const lines: string[] = []
    const finish = (code: number): void => {
      if (lines.length > 0) out.write(lines.join(CRLF) + CRLF)
      done(code)
    }
    if (parsed.kind === 'empty') return finish(0)
    if (parsed.kind !== 'ok') {
      lines.push(...this.parseError(parsed))
      return finish(1)
    }
    const outputCommand = OUTPUT_COMMANDS.has(parsed.id)
    let filter: ((l: string[]) => string[]) | undefined
    if (filterPart !== undefined) {
      // IOS only takes output modifiers after commands that print something; elsewhere the `|` is the error.
      const f = outputCommand ? parseFilter(filterPart.text) : {kind: 'invalid' as const, col: -1}
      if (f.kind !== 'ok') {
        lines.push(...this.parseError(f.kind === 'invalid' ? {kind: 'invalid', col: filterPart.col + f.col} : f))
        return finish(1)
      }
      filter = f.apply
    }
    const now = new Date()
    switch (parsed.id) {
      case 'show_version':
      case 'show_clock':
      case 'show_running':
      case 'show_install_summary':
      case 'show_boot':
      case 'show_switch':
      case 'dir': {
        const text = this.render(parsed.id, now)
        lines.push(...(filter ? filter(text) : text))
        return finish(0)
      }
      case 'terminal_length':
        return finish(0)
      case 'reload':
        this.later(20, () => this.reload('Reload Command'))
        return
      case 'install':
        this.install(parsed.args[0] ?? '', out, done)
        return
      case 'exit':
        return finish(0)
    }
  }

  private parseError(e: ParseFailure): string[] {
    switch (e.kind) {
      case 'invalid':
        return [`${' '.repeat(this.opts.name.length + 1 + e.col)}^`, "% Invalid input detected at '^' marker.", '']
      case 'incomplete':
        return ['% Incomplete command.', '']
      case 'ambiguous':
        return [`% Ambiguous command:  "${e.text}"`]
    }
  }

  private render(id: OutputCommand, now: Date): string[] {
    switch (id) {
      case 'show_version':
        return this.showVersion(now)
      case 'show_clock':
        return [`*${formatIosClock(now)}`]
      case 'show_running':
        return this.runningConfig(now)
      case 'show_install_summary':
        return this.installSummary()
      case 'show_boot':
        return showBoot()
      case 'show_switch':
        return this.showSwitch()
      case 'dir':
        return this.dirFlash()
    }
  }

  private install(path: string, out: Sink, done: (code: number) => void): void {
    const image = path.replace(/^(flash|bootflash):\/?/i, '')
    const write = (lines: string[]): void => out.write(lines.join(CRLF) + CRLF)
    if (!/^(flash|bootflash):/i.test(path) || !this.flash.has(image)) {
      write([`%Error opening flash:/${image} (No such file or directory)`, ''])
      return done(1)
    }
    const target = parseImageVersion(image)
    if (target === undefined) {
      write([`%Error: flash:/${image} is not a valid IOS XE package (bad package name or type)`, ''])
      return done(1)
    }
    const now = new Date()
    if (target === this.runningVersion || target === this.nextVersion) {
      write([
        `install_add_activate_commit: START ${formatUnixDate(now)}`,
        'install_add_activate_commit: Adding PACKAGE',
        'install_add_activate_commit: Checking whether new add is allowed ....',
        "FAILED: install_add_activate_commit : Super package already added. Add operation not allowed. 'install remove inactive' can be used to discard unused package",
        `FAILED: install_add_activate_commit exit(1) ${formatUnixDate(now)}`,
      ])
      return done(1)
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
          for (const n of pkgNames(target)) if (!this.flash.has(n)) this.flash.set(n, makeFile(n, new Date()))
        }
      }, this.installTimers)
    })
    this.later(delay, () => {
      this.nextVersion = target
      if (this.faults.has('no_reload')) done(0)
      else this.reload('Reload Command', `install ${image}`)
    }, this.installTimers)
  }

  /** Drops every connection, stays down for the boot time, then listens again on the same port. */
  private reload(reason: string, detail = 'reload command'): void {
    if (!this.up || this.stopped) return
    this.up = false
    this.lastReload = new Date()
    this.record('reload', detail)
    for (const t of this.installTimers) clearTimeout(t)
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
        this.booted = new Date()
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

  // ---------------------------------------------------------------- output

  private showVersion(now: Date): string[] {
    const v = this.runningVersion
    const name = this.opts.name
    const model = this.opts.model ?? 'C9300-48P'
    const ports = /-24/.test(model) ? 24 : 48
    const uptime = formatIosUptime(now.getTime() - this.booted.getTime())
    const serial = serialOf(name)
    const returned = this.lastReload
      ? [`System returned to ROM by Reload Command at ${formatIosTime(this.lastReload)}`]
      : ['System returned to ROM by PowerOn']
    return [
      `Cisco IOS XE Software, Version ${v}`,
      `Cisco IOS Software [${trainOf(v)}], Catalyst L3 Switch Software (CAT9K_IOSXE), Version ${shortVersion(v)}, RELEASE SOFTWARE (fc2)`,
      'Technical Support: http://www.cisco.com/techsupport',
      'Copyright (c) 1986-2024 by Cisco Systems, Inc.',
      'Compiled Thu 14-Mar-24 02:13 by mcpre',
      '',
      '',
      'Cisco IOS-XE software, Copyright (c) 2005-2024 by cisco Systems, Inc.',
      'All rights reserved.  Certain components of Cisco IOS-XE software are',
      'licensed under the GNU General Public License ("GPL") Version 2.0.  The',
      'software code licensed under GPL Version 2.0 is free software that comes',
      'with ABSOLUTELY NO WARRANTY.  You can redistribute and/or modify such',
      'GPL code under the terms of GPL Version 2.0.  For more details, see the',
      'documentation or "License Notice" file accompanying the IOS-XE software,',
      'or the applicable URL provided on the flyer accompanying the IOS-XE',
      'software.',
      '',
      '',
      'ROM: IOS-XE ROMMON',
      'BOOTLDR: System Bootstrap, Version 17.6.1r[FC2], RELEASE SOFTWARE (P)',
      '',
      `${name} uptime is ${uptime}`,
      `Uptime for this control processor is ${uptime}`,
      ...returned,
      `System restarted at ${formatIosTime(this.booted)}`,
      'System image file is "flash:packages.conf"',
      `Last reload reason: ${this.lastReload ? 'Reload Command' : 'PowerOn'}`,
      '',
      '',
      '',
      'This product contains cryptographic features and is subject to United',
      'States and local country laws governing import, export, transfer and',
      'use. Delivery of Cisco cryptographic products does not imply',
      'third-party authority to import, export, distribute or use encryption.',
      'Importers, exporters, distributors and users are responsible for',
      'compliance with U.S. and local country laws. By using this product you',
      'agree to comply with applicable laws and regulations. If you are unable',
      'to comply with U.S. and local laws, return this product immediately.',
      '',
      'A summary of U.S. laws governing Cisco cryptographic products may be found at:',
      'http://www.cisco.com/wwl/export/crypto/tool/stqrg.html',
      '',
      'If you require further assistance please contact us by sending email to',
      'export@cisco.com.',
      '',
      '',
      'Technology Package License Information: ',
      '',
      '------------------------------------------------------------------------------',
      'Technology-package                                     Technology-package',
      'Current                        Type                       Next reboot  ',
      '------------------------------------------------------------------------------',
      'network-advantage      \tSmart License                 \t network-advantage   ',
      'dna-advantage          \tSubscription Smart License    \t dna-advantage                 ',
      'AIR License Level: AIR DNA Advantage',
      'Next reload AIR license Level: AIR DNA Advantage',
      '',
      '',
      'Smart Licensing Status: Smart Licensing Using Policy',
      '',
      `cisco ${model} (X86) processor with 1331521K/6147K bytes of memory.`,
      `Processor board ID ${serial}`,
      '2 Virtual Ethernet interfaces',
      `${ports + 4} Gigabit Ethernet interfaces`,
      '8 Ten Gigabit Ethernet interfaces',
      '2 TwentyFive Gigabit Ethernet interfaces',
      '2 Forty Gigabit Ethernet interfaces',
      '2048K bytes of non-volatile configuration memory.',
      '8388608K bytes of physical memory.',
      '1638400K bytes of Crash Files at crashinfo:.',
      '11264000K bytes of Flash at flash:.',
      '0K bytes of WebUI ODM Files at webui:.',
      '',
      `Base Ethernet MAC Address          : ${macOf(name, ':')}`,
      'Motherboard Assembly Number        : 73-18271-03',
      `Motherboard Serial Number          : ${serial.replace(/^FOC/, 'FOC2')}`,
      'Model Revision Number              : A0',
      'Motherboard Revision Number        : A0',
      `Model Number                       : ${model}`,
      `System Serial Number               : ${serial.replace(/^FOC/, 'FCW')}`,
      'CLEI Code Number                   : ',
      '',
      '',
      'Switch Ports Model              SW Version        SW Image              Mode   ',
      '------ ----- -----              ----------        ----------            ----   ',
      `*    1 ${String(ports + 14).padEnd(5)} ${model.padEnd(18)} ${v.padEnd(17)} ${'CAT9K_IOSXE'.padEnd(21)} INSTALL`,
      '',
      '',
      'Configuration register is 0x102',
      '',
    ]
  }

  private runningConfig(now: Date): string[] {
    const [major, minor] = this.runningVersion.split('.')
    return [
      'Building configuration...',
      '',
      'Current configuration : 4821 bytes',
      '!',
      `! Last configuration change at ${formatIosTime(this.booted)} by ${this.opts.username}`,
      `! NVRAM config last updated at ${formatIosTime(new Date(Math.min(now.getTime(), this.booted.getTime() + 60_000)))} by ${this.opts.username}`,
      '!',
      `version ${Number(major)}.${Number(minor)}`,
      'service timestamps debug datetime msec',
      'service timestamps log datetime msec',
      'service password-encryption',
      'service call-home',
      'platform punt-keepalive disable-kernel-core',
      '!',
      `hostname ${this.opts.name}`,
      '!',
      'vrf definition Mgmt-vrf',
      ' !',
      ' address-family ipv4',
      ' exit-address-family',
      '!',
      'no aaa new-model',
      'switch 1 provision ' + (this.opts.model ?? 'C9300-48P').toLowerCase(),
      '!',
      'ip domain name lab.example',
      '!',
      'login on-success log',
      '!',
      'license boot level network-advantage addon dna-advantage',
      '!',
      'boot system switch all flash:packages.conf',
      '!',
      `username ${this.opts.username} privilege 15 secret 9 $9$simulatedsimulatedsimulatedsimulated`,
      '!',
      'interface GigabitEthernet0/0',
      ' vrf forwarding Mgmt-vrf',
      ' no ip address',
      ' negotiation auto',
      '!',
      'ip ssh version 2',
      '!',
      'snmp-server community public RO',
      '!',
      'line con 0',
      ' stopbits 1',
      'line vty 0 15',
      ' login local',
      ' transport input ssh',
      '!',
      'end',
      '',
    ]
  }

  private installSummary(): string[] {
    const rows = [`IMG   C    ${buildOf(this.runningVersion)}`]
    if (this.nextVersion !== this.runningVersion) rows.push(`IMG   U    ${buildOf(this.nextVersion)}`)
    return [
      '[ Switch 1 ] Installed Package(s) Information:',
      'State (St): I - Inactive, U - Activated & Uncommitted,',
      '            C - Activated & Committed, D - Deactivated & Uncommitted',
      '--------------------------------------------------------------------------------',
      'Type  St   Filename/Version',
      '--------------------------------------------------------------------------------',
      ...rows,
      '',
      '--------------------------------------------------------------------------------',
      'Auto abort timer: inactive',
      '--------------------------------------------------------------------------------',
      '',
    ]
  }

  private showSwitch(): string[] {
    const mac = macOf(this.opts.name, '.')
    return [
      `Switch/Stack Mac Address : ${mac} - Local Mac Address`,
      'Mac persistency wait time: Indefinite',
      '                                             H/W   Current',
      'Switch#   Role    Mac Address     Priority Version  State ',
      '-------------------------------------------------------------------------------------',
      `*1       Active   ${mac}     15     V02     Ready                `,
      '',
    ]
  }

  private dirFlash(): string[] {
    const files = [...this.flash.values()].sort((a, b) => a.name.localeCompare(b.name))
    const used = files.reduce((sum, f) => sum + f.size, 0)
    return [
      'Directory of flash:/',
      '',
      ...files.map((f) => `${String(f.inode).padStart(7)}  -rw-  ${String(f.size).padStart(14)}  ${formatDirDate(f.mtime)}  ${f.name}`),
      '',
      `${FLASH_TOTAL_BYTES} bytes total (${Math.max(0, FLASH_TOTAL_BYTES - FLASH_HIDDEN_USED_BYTES - used)} bytes free)`,
    ]
  }
}

// ------------------------------------------------------------------ command parsing

type CommandId =
  | 'show_version'
  | 'show_clock'
  | 'show_running'
  | 'show_install_summary'
  | 'show_boot'
  | 'show_switch'
  | 'dir'
  | 'install'
  | 'reload'
  | 'terminal_length'
  | 'exit'
type OutputCommand = Extract<CommandId, 'show_version' | 'show_clock' | 'show_running' | 'show_install_summary' | 'show_boot' | 'show_switch' | 'dir'>
const OUTPUT_COMMANDS: ReadonlySet<CommandId> = new Set<CommandId>(['show_version', 'show_clock', 'show_running', 'show_install_summary', 'show_boot', 'show_switch', 'dir'])

/** A grammar word: a keyword (abbreviable like IOS) or an argument matched by a pattern. */
type Word = string | RegExp
const ANY = /^\S+$/
const NUMBER = /^\d+$/
const FILESYSTEM = /^(flash|bootflash):\/?$/i
const INSTALL: Word[] = ['install', 'add', 'file', ANY, 'activate', 'commit']
const GRAMMAR: Array<{id: CommandId; words: Word[]}> = [
  {id: 'show_version', words: ['show', 'version']},
  {id: 'show_clock', words: ['show', 'clock']},
  {id: 'show_running', words: ['show', 'running-config']},
  {id: 'show_install_summary', words: ['show', 'install', 'summary']},
  {id: 'show_boot', words: ['show', 'boot']},
  {id: 'show_switch', words: ['show', 'switch']},
  {id: 'dir', words: ['dir']},
  {id: 'dir', words: ['dir', FILESYSTEM]},
  {id: 'install', words: INSTALL},
  {id: 'install', words: [...INSTALL, 'prompt-level', 'none']},
  {id: 'reload', words: ['reload']},
  {id: 'terminal_length', words: ['terminal', 'length', NUMBER]},
  {id: 'exit', words: ['exit']},
]

type ParseFailure = {kind: 'invalid'; col: number} | {kind: 'incomplete'} | {kind: 'ambiguous'; text: string}
type ParseResult = {kind: 'ok'; id: CommandId; args: string[]} | {kind: 'empty'} | ParseFailure

interface Token {
  text: string
  /** Column of the token's first character in the command line. */
  col: number
}

function tokenize(line: string, offset = 0): Token[] {
  return [...line.matchAll(/\S+/g)].map((m) => ({text: m[0], col: (m.index ?? 0) + offset}))
}

/**
 * Matches a command line against {@link GRAMMAR} the way IOS does: keywords may be abbreviated to any
 * unambiguous prefix; the first word that fits nothing is reported with its column (for the `^` marker).
 */
function parseCommand(line: string): ParseResult {
  const tokens = tokenize(line)
  if (tokens.length === 0) return {kind: 'empty'}
  let alive = GRAMMAR
  for (const [i, tok] of tokens.entries()) {
    const lower = tok.text.toLowerCase()
    const keywords = new Set<string>()
    let next = alive.filter((c) => {
      const w = c.words[i]
      if (w === undefined) return false
      if (typeof w === 'string') {
        if (!w.startsWith(lower)) return false
        keywords.add(w)
        return true
      }
      return w.test(tok.text)
    })
    if (keywords.has(lower)) next = next.filter((c) => c.words[i] === lower || typeof c.words[i] !== 'string')
    else if (keywords.size > 1) return {kind: 'ambiguous', text: tokens.slice(0, i + 1).map((t) => t.text).join(' ')}
    if (next.length === 0) return {kind: 'invalid', col: tok.col}
    alive = next
  }
  const complete = alive.find((c) => c.words.length === tokens.length)
  if (!complete) return {kind: 'incomplete'}
  const args = tokens.filter((_t, i) => complete.words[i] instanceof RegExp).map((t) => t.text)
  return {kind: 'ok', id: complete.id, args}
}

/** Splits `show x | include y` at the first `|`; the filter part keeps its column. */
function splitPipe(line: string): [string, {text: string; col: number} | undefined] {
  const i = line.indexOf('|')
  if (i < 0) return [line, undefined]
  return [line.slice(0, i), {text: line.slice(i + 1), col: i + 1}]
}

type FilterResult = {kind: 'ok'; apply: (lines: string[]) => string[]} | ParseFailure

/** IOS output modifiers: `include`, `exclude`, `begin`, `count` with a regular expression. */
function parseFilter(text: string): FilterResult {
  const m = /^(\s*)(\S+)\s*(.*)$/.exec(text)
  if (!m) return {kind: 'incomplete'}
  const [, lead = '', word = '', rest = ''] = m
  const kinds = ['begin', 'count', 'exclude', 'include', 'section'].filter((k) => k.startsWith(word.toLowerCase()))
  if (kinds.length === 0) return {kind: 'invalid', col: lead.length}
  if (kinds.length > 1) return {kind: 'ambiguous', text: word}
  if (rest.trim() === '') return {kind: 'incomplete'}
  let re: RegExp
  try {
    re = new RegExp(rest.trim())
  } catch {
    const literal = rest.trim()
    re = {test: (s: string) => s.includes(literal)} as RegExp
  }
  switch (kinds[0]) {
    case 'exclude':
      return {kind: 'ok', apply: (lines) => lines.filter((l) => !re.test(l))}
    case 'begin':
      return {kind: 'ok', apply: (lines) => lines.slice(Math.max(0, lines.findIndex((l) => re.test(l))))}
    case 'count':
      return {kind: 'ok', apply: (lines) => [`Number of lines which match regexp = ${lines.filter((l) => re.test(l)).length}`]}
    default:
      return {kind: 'ok', apply: (lines) => lines.filter((l) => re.test(l))}
  }
}

// ------------------------------------------------------------------ output helpers

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

interface FlashFile {
  name: string
  size: number
  mtime: Date
  inode: number
}

function hashNumber(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0)
}

let nextInode = 475_137

function makeFile(name: string, mtime: Date): FlashFile {
  const h = hashNumber(name)
  let size: number
  if (IMAGE_RE.test(name)) size = 1_000_000_000 + (h % 250_000_000)
  else if (name.endsWith('.pkg')) size = 1_000_000 + (h % 400_000_000)
  else if (name === 'packages.conf') size = 7000 + (h % 1500)
  else size = 1000 + (h % 5_000_000)
  return {name, size, mtime, inode: nextInode++}
}

/** The IOS-XE bundle image name of a version: `17.09.05` → `cat9k_iosxe.17.09.05.SPA.bin`. */
export function imageName(version: string): string {
  return `cat9k_iosxe.${version}.SPA.bin`
}

function pkgNames(version: string): string[] {
  return PKG_KINDS.map((k) => `cat9k-${k}.${version}.SPA.pkg`)
}

/**
 * The version in a Catalyst 9000 bundle image name, or undefined when the name is not one.
 * `cat9k_iosxe.17.09.05.SPA.bin` → `17.09.05`; `cat9k_iosxe.17.09.04a.SPA.bin` → `17.09.04a`.
 */
export function parseImageVersion(image: string): string | undefined {
  return IMAGE_RE.exec(image.replace(/^(flash|bootflash):\/?/i, ''))?.[1]
}

/** `17.06.05` → `17.6.5`, `17.09.04a` → `17.9.4a` (the form of the `Cisco IOS Software` line). */
export function shortVersion(version: string): string {
  return version
    .split('.')
    .map((part) => part.replace(/^0+(?=\d)/, ''))
    .join('.')
}

function trainOf(version: string): string {
  const minor = Number(version.split('.')[1] ?? 0)
  if (minor <= 3) return 'Amsterdam'
  if (minor <= 6) return 'Bengaluru'
  if (minor <= 9) return 'Cupertino'
  if (minor <= 12) return 'Dublin'
  return 'IOSXE'
}

function buildOf(version: string): string {
  return `${version}.0.${(hashNumber(version) % 9000) + 1000}`
}

function serialOf(name: string): string {
  return `FOC${String(hashNumber(`serial:${name}`) % 100_000_000).padStart(8, '0')}`
}

function macOf(name: string, style: ':' | '.'): string {
  const b = createHash('sha256').update(`mac:${name}`).digest()
  const bytes = [0x00, 0xa3, 0xd1, b[0] ?? 0, b[1] ?? 0, b[2] ?? 0].map((x) => x.toString(16).padStart(2, '0'))
  if (style === ':') return bytes.join(':')
  return `${bytes[0]}${bytes[1]}.${bytes[2]}${bytes[3]}.${bytes[4]}${bytes[5]}`
}

function showBoot(): string[] {
  return [
    '---------------------------',
    'Switch 1',
    '---------------------------',
    'Current Boot Variables:',
    'BOOT variable = flash:packages.conf;',
    '',
    'Boot Variables on next reload:',
    'BOOT variable = flash:packages.conf;',
    'Manual Boot = no',
    'Enable Break = yes',
    'Boot Mode = DEVICE',
    'iPXE Timeout = 0',
  ]
}

function installProgress(image: string, target: string, now: Date, seconds: number): string[] {
  const end = new Date(now.getTime() + seconds * 1000)
  const phase = (name: string, verb: string): string[] => [
    `--- Starting ${name} ---`,
    `Performing ${name} on all members`,
    `  [1] ${name} package(s) on switch 1`,
    `  [1] Finished ${name} on switch 1`,
    `Checking status of ${name} on [1]`,
    `${name}: Passed on [1]`,
    `Finished ${verb}`,
    '',
  ]
  return [
    `install_add_activate_commit: START ${formatUnixDate(now)}`,
    'install_add_activate_commit: Adding PACKAGE',
    'install_add_activate_commit: Checking whether new add is allowed ....',
    '',
    '--- Starting initial file syncing ---',
    `[1]: Copying flash:${image} from switch 1 to switch 1`,
    `[1]: Finished copying to switch 1`,
    `Info: Finished copying flash:${image} to the selected switch(es)`,
    'Finished initial file syncing',
    '',
    ...phase('Add', 'Add'),
    `Image added. Version: ${buildOf(target)}`,
    'install_add_activate_commit: Activating PACKAGE',
    'Following packages shall be activated:',
    ...pkgNames(target).map((p) => `/flash/${p}`),
    '',
    'This operation may require a reload of the system. Do you want to proceed? [y/n]y',
    ...phase('Activate', 'Activate'),
    ...phase('Commit', 'Commit'),
    'Send model notification for install_add_activate_commit before reload',
    '[1]: Reloading the switch',
    'Install will reload the system now!',
    `SUCCESS: install_add_activate_commit  ${formatUnixDate(end)}`,
  ]
}

// ------------------------------------------------------------------ time formats (all UTC)

const p2 = (n: number): string => String(n).padStart(2, '0')
const hms = (d: Date): string => `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`
const dayName = (d: Date): string => DAYS[d.getUTCDay()] ?? ''
const monthName = (d: Date): string => MONTHS[d.getUTCMonth()] ?? ''

/** IOS timestamp with seconds, as in `System restarted at`: `10:01:59 UTC Sat Nov 21 2026`. */
export function formatIosTime(d: Date): string {
  return `${hms(d)} UTC ${dayName(d)} ${monthName(d)} ${d.getUTCDate()} ${d.getUTCFullYear()}`
}

/** `show clock` time (without the leading `*`): `10:02:03.123 UTC Sat Nov 21 2026`. */
export function formatIosClock(d: Date): string {
  return `${hms(d)}.${String(d.getUTCMilliseconds()).padStart(3, '0')} UTC ${dayName(d)} ${monthName(d)} ${d.getUTCDate()} ${d.getUTCFullYear()}`
}

/** `date`-style timestamp of install logs: `Sat Nov 21 10:02:03 UTC 2026`. */
function formatUnixDate(d: Date): string {
  return `${dayName(d)} ${monthName(d)} ${d.getUTCDate()} ${hms(d)} UTC ${d.getUTCFullYear()}`
}

/** `dir` timestamp: `Nov 21 2026 10:02:03 +00:00`. */
function formatDirDate(d: Date): string {
  return `${monthName(d)} ${String(d.getUTCDate()).padStart(2)} ${d.getUTCFullYear()} ${hms(d)} +00:00`
}

/**
 * Uptime the way IOS prints it: years, weeks, days and hours when non-zero, minutes always,
 * singular/plural: `3 weeks, 2 days, 4 hours, 17 minutes`, `1 hour, 0 minutes`, `0 minutes`.
 * @param ms elapsed time in milliseconds (negative counts as 0)
 */
export function formatIosUptime(ms: number): string {
  let minutes = Math.max(0, Math.floor(ms / 60_000))
  const parts: string[] = []
  for (const [unit, size] of [
    ['year', 365 * 1440],
    ['week', 7 * 1440],
    ['day', 1440],
    ['hour', 60],
  ] as const) {
    const n = Math.floor(minutes / size)
    minutes -= n * size
    if (n > 0) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`)
  }
  parts.push(`${minutes} minute${minutes === 1 ? '' : 's'}`)
  return parts.join(', ')
}

// ------------------------------------------------------------------ keys

/** `ssh-keygen -lf` style fingerprint of an SSH public key blob. */
export function fingerprintOf(publicKeyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '')}`
}

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
