/**
 * An in-memory Catalyst 9000 for fast device-layer tests (no SSH, no sockets): it answers `show version`,
 * `dir flash:` and the install-mode reload like the lab simulator, goes down on a reload and boots after `bootMs` of
 * its {@link FakeClock}'s time. Every command it receives and every dial is logged with the clock's time.
 */
import {fingerprintOf} from '../../src/device/known-hosts.js'
import type {DeviceReport} from '../../src/device/report.js'
import {ConnectError, type ConnectOptions, type DeviceConnection} from '../../src/device/ssh-session.js'
import type {ExecResult} from '../../src/model/device-session.js'
import type {FakeClock} from './fake-clock.js'

export interface FakeSwitchOptions {
  name: string
  version: string
  /** Images on flash:. */
  images: string[]
  /** How long a reload keeps it down, ms of fake time. */
  bootMs: number
  /** The install command prints its output but the switch never reloads. */
  neverReloads?: boolean
  /** After its reload it presents another host key (a reimaged device): every dial is refused as host_key. */
  newHostKeyAfterReload?: boolean
  /** The install command prints this (exit status 0) and nothing happens: an install refused with a `FAILED:` line. */
  installFails?: string
  /** `show version` has no "System restarted at" line (only the uptime tells a boot). */
  noRestartLine?: boolean
  /** How long ago (fake ms) it booted when the test starts. @default one week and two minutes */
  uptimeMs?: number
  /** After a reload it comes up, answers for this long (fake ms), then reloads once more by itself (a two-reload install). */
  secondReloadAfterMs?: number
  /** Right after the install command it offers {@link NEW_HOST_KEY} without ever going down (someone else answers). */
  hostKeyChangesWithoutReload?: boolean
}

/** The host key a reimaged fake switch offers (SSH wire format: string "ssh-ed25519", string of 32 key bytes). */
export const NEW_HOST_KEY = (() => {
  const type = Buffer.from('ssh-ed25519')
  const key = Buffer.alloc(32, 7)
  const len = (n: number) => Buffer.from([0, 0, 0, n])
  return Buffer.concat([len(type.length), type, len(key.length), key])
})()

export class FakeSwitch {
  version: string
  restartedAt = '10:11:12 UTC Mon Mar 4 2024'
  /** Epoch ms (fake) until which it is down; undefined when up. */
  downUntil: number | undefined
  reloads = 0
  readonly commands: Array<{at: number; command: string}> = []
  readonly dials: number[] = []
  /** Fake epoch ms of its last boot. */
  bootedAt: number
  private secondReloadDone = false

  constructor(
    private readonly clock: FakeClock,
    readonly opts: FakeSwitchOptions,
  ) {
    this.version = opts.version
    this.bootedAt = clock.now() - (opts.uptimeMs ?? 604_920_000)
  }

  /** IOS's uptime text, whole minutes: "1 week, 2 days, 3 hours, 4 minutes". */
  private uptimeText(): string {
    let minutes = Math.floor((this.clock.now() - this.bootedAt) / 60_000)
    const parts: string[] = []
    for (const [unit, size] of [['week', 10_080], ['day', 1440], ['hour', 60]] as const) {
      const n = Math.floor(minutes / size)
      minutes -= n * size
      if (n > 0) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`)
    }
    parts.push(`${minutes} minute${minutes === 1 ? '' : 's'}`)
    return parts.join(', ')
  }

  /** TCP probes (fake ms), for the boot wait's `probe` option. */
  readonly probes: number[] = []

  /** A TCP probe for DeviceWorker's `probe` option: the port is closed while the switch is down. */
  readonly probe = async (): Promise<boolean> => {
    const now = this.clock.now()
    this.probes.push(now)
    return !(this.downUntil !== undefined && now < this.downUntil)
  }

  /** A dialer for DeviceWorker's `dial` option. */
  readonly dial = async (opts: ConnectOptions): Promise<DeviceConnection> => {
    const now = this.clock.now()
    this.dials.push(now)
    if (this.downUntil !== undefined && now < this.downUntil) throw new ConnectError(`${this.opts.name}: connect ECONNREFUSED`, 'unreachable')
    if (this.downUntil !== undefined) this.bootedAt = this.downUntil
    this.downUntil = undefined
    if (this.opts.secondReloadAfterMs !== undefined && this.reloads > 0 && !this.secondReloadDone && now >= this.bootedAt + this.opts.secondReloadAfterMs) {
      this.secondReloadDone = true
      this.downUntil = now + this.opts.bootMs
      this.restartedAt = `boot ${this.reloads}b at ${new Date(this.downUntil).toISOString()}`
      throw new ConnectError(`${this.opts.name}: connect ECONNREFUSED`, 'unreachable')
    }
    const newKey = (this.reloads > 0 && this.opts.newHostKeyAfterReload) || (this.opts.hostKeyChangesWithoutReload && this.commands.some((c) => c.command.startsWith('install add')))
    const pinned = opts.hostKey.kind === 'fingerprint' && opts.hostKey.fingerprint === fingerprintOf(NEW_HOST_KEY)
    if (newKey && !pinned) throw new ConnectError(`${this.opts.name}: host key changed`, 'host_key', undefined, NEW_HOST_KEY)
    let closed = false
    return {
      get isClosed() {
        return closed
      },
      close: () => void (closed = true),
      exec: async (command: string): Promise<ExecResult> => {
        this.commands.push({at: this.clock.now(), command})
        return this.answer(command)
      },
    }
  }

  private answer(command: string): ExecResult {
    const ok = (output: string): ExecResult => ({output, exitCode: 0, dropped: false})
    if (command === 'show version') {
      const restarted = this.opts.noRestartLine ? '' : `System restarted at ${this.restartedAt}\n`
      return ok(`Cisco IOS XE Software, Version ${this.version}\n${this.opts.name} uptime is ${this.uptimeText()}\n${restarted}`)
    }
    if (command === 'dir flash:') return ok(this.opts.images.map((i) => `  1  -rw-  123456789  ${i}`).join('\n') + '\n')
    const install = /^install add file flash:(\S+) activate commit prompt-level none$/.exec(command)
    if (install) {
      if (this.opts.installFails !== undefined) return ok(this.opts.installFails)
      if (this.opts.neverReloads) return ok('install_add_activate_commit: Activating PACKAGE\n')
      const image = install[1]!
      if (!this.opts.images.includes(image)) return ok(`%Error opening flash:${image} (No such file or directory)\n`)
      this.version = /\d+\.\d+\.\d+/.exec(image)?.[0] ?? this.version
      this.reloads++
      this.downUntil = this.clock.now() + this.opts.bootMs
      this.restartedAt = `boot ${this.reloads} at ${new Date(this.downUntil).toISOString()}`
      return {output: 'install_add_activate_commit: Reloading\n', exitCode: undefined, dropped: true}
    }
    return ok('% Invalid input detected at \'^\' marker.\n')
  }
}

/** A {@link DeviceReport} that keeps everything it is told, in order. */
export function recordingReport(): DeviceReport & {entries: Array<{kind: string; [key: string]: unknown}>} {
  let order = 0
  const entries: Array<{kind: string; [key: string]: unknown}> = []
  return {
    entries,
    nextOrder: () => ++order,
    stepStarted: (s) => void entries.push({kind: 'stepStarted', ...s}),
    stepFinished: (s) => void entries.push({kind: 'stepFinished', ...s}),
    gateEvaluated: (g) => void entries.push({kind: 'gate', ...g}),
    phase: (phase, detail) => void entries.push({kind: 'phase', phase, detail}),
    factsRead: (versionBefore) => void entries.push({kind: 'facts', versionBefore}),
    log: (level, message) => void entries.push({kind: 'log', level, message}),
    hostKeyRepinned: (change) => void entries.push({kind: 'hostKeyRepinned', ...change}),
  }
}
