/**
 * The upgrade of the lab tests, against OpenSSH's real sshd instead of chainup's simulated switch: one sshd per
 * device on 127.0.0.1 with its own host key, pubkey login, and `ForceCommand node test/fixtures/sshd/ios-shim.mjs`
 * answering IOS-XE-like output. chainup's known_hosts check runs for real (no `hostKeys` override).
 *
 * A reload is the test's own supervisor: the shim writes `reload-requested` after `install add ... activate commit`
 * and waits; the supervisor sees it, SIGTERMs that device's sshd and every process below it (so the client's
 * connection really drops), stays down for a "boot time", writes the new version and restart time into the state
 * file and starts a fresh sshd on the same port.
 *
 * Needs root (sshd, PermitRootLogin) and /usr/sbin/sshd (Debian: apt-get install openssh-server); skipped otherwise.
 * A failing test prints the chainup run log, every sshd's `-e` output and the shim's commands;
 * SSHD_TEST_VERBOSE=1 prints them for passing tests too.
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir, userInfo} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {stringify} from 'yaml'
import {afterAll, afterEach, describe, expect, it, onTestFailed, onTestFinished} from 'vitest'

import {loadStack} from '../../src/config/load.js'
import {RunEvents} from '../../src/model/events.js'
import type {ChainExecutionResult} from '../../src/model/result.js'
import {resolveSecrets} from '../../src/run/secrets.js'
import {runUpgrade} from '../../src/run/upgrade.js'
import {freePorts, ROOT} from '../helpers/lab-stack.js'

const SSHD = '/usr/sbin/sshd'
const SSH_KEYGEN = ['/usr/bin/ssh-keygen', '/bin/ssh-keygen'].find((p) => existsSync(p))
const SHIM = join(ROOT, 'test/fixtures/sshd/ios-shim.mjs')
const PLAYBOOK = join(ROOT, 'playbooks/ios-xe-install.yml')
const FROM = '17.06.05'
const TARGET = '17.09.05'
const IMAGE = `cat9k_iosxe.${TARGET}.SPA.bin`
/** How long a reloaded device stays down. */
const BOOT_MS = 1000

const skipReason = !existsSync(SSHD)
  ? `sshd test skipped: ${SSHD} not installed (apt-get install openssh-server)`
  : process.getuid?.() !== 0
    ? 'sshd test skipped: needs root (sshd with PermitRootLogin and its privilege separation)'
    : !SSH_KEYGEN
      ? 'sshd test skipped: ssh-keygen not installed (apt-get install openssh-client)'
      : undefined
if (skipReason) console.warn(skipReason)

// ------------------------------------------------------------------ processes

/** Parent pid of every live process (zombies left out). */
function processTable(): Map<number, number> {
  const table = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // "pid (comm) S ppid ...": comm may contain spaces and parentheses.
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (state !== 'Z') table.set(Number(entry), Number(ppid))
    } catch {
      // gone meanwhile
    }
  }
  return table
}

/** `root` and every live process below it (sshd's per-connection processes call setsid(): no process group helps). */
function processTree(root: number): number[] {
  const table = processTable()
  if (!table.has(root)) return []
  const tree = [root]
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of table) if (ppid === tree[i]) tree.push(pid)
  }
  return tree
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

/** SIGTERMs the processes, SIGKILLs what is left after 2 s; resolves when all are gone. */
async function terminate(pids: number[]): Promise<void> {
  for (const pid of pids) signal(pid, 'SIGTERM')
  const deadline = Date.now() + 2000
  while (pids.some(alive) && Date.now() < deadline) await sleep(20)
  for (const pid of pids.filter(alive)) signal(pid, 'SIGKILL')
  while (pids.some(alive)) await sleep(20)
}

/** Live processes whose command line mentions `text` (the development check `pgrep -f DIR`, without pgrep). */
function processesMentioning(text: string): string[] {
  const found: string[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()
      if (cmdline.includes(text)) found.push(`${entry} ${cmdline}`)
    } catch {
      // gone meanwhile
    }
  }
  return found
}

function keygen(file: string, comment: string): string {
  execFileSync(SSH_KEYGEN!, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file], {stdio: ['ignore', 'ignore', 'pipe']})
  return readFileSync(`${file}.pub`, 'utf8').trim()
}

// ------------------------------------------------------------------ one device = one sshd + shim state

interface DeviceState {
  hostname: string
  version: string
  /** ISO time, seconds precision, UTC. */
  restartedAt: string
  reloads: number
  flash: string[]
}

interface ReloadEvent {
  device: string
  /** When the supervisor took the device down / when its new sshd listened, epoch ms. */
  down: number
  up: number
  /** Processes that were running below sshd when it was taken down (the open session and its shim among them). */
  killed: number
  version: string
}

const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z')

class SshdDevice {
  readonly dir: string
  readonly stateDir: string
  readonly hostKeyPub: string
  /** sshd -e output of every sshd this device ran, prefixed with the device and pid. */
  readonly log: string[] = []
  /** Every sshd pid this device started (the restarted ones too). */
  readonly pids: number[] = []
  private sshd: ChildProcess | undefined
  private poller: NodeJS.Timeout | undefined
  private reloading: Promise<void> | undefined
  private stopped = false
  /** Aborts a reload's "boot" when the device is stopped. */
  private readonly stopping = new AbortController()

  constructor(
    readonly name: string,
    readonly port: number,
    root: string,
    private readonly reloads: ReloadEvent[],
  ) {
    this.dir = join(root, name)
    this.stateDir = join(this.dir, 'state')
    mkdirSync(this.stateDir, {recursive: true})
    this.hostKeyPub = keygen(join(this.dir, 'ssh_host_ed25519_key'), `${name}-host`)
    const booted = new Date(Date.now() - ((23 * 24 + 4) * 60 + 17) * 60_000)
    this.writeState({
      hostname: name,
      version: FROM,
      restartedAt: isoSeconds(booted),
      reloads: 0,
      flash: ['packages.conf', `cat9k_iosxe.${FROM}.SPA.bin`, IMAGE],
    })
    const q = (s: string) => `'${s}'`
    writeFileSync(
      join(this.dir, 'sshd_config'),
      [
        'ListenAddress 127.0.0.1',
        `Port ${port}`,
        `HostKey ${join(this.dir, 'ssh_host_ed25519_key')}`,
        `PidFile ${join(this.dir, 'sshd.pid')}`,
        'UsePAM no',
        'StrictModes no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        `AuthorizedKeysFile ${join(root, 'authorized_keys')}`,
        'PermitRootLogin yes',
        `AllowUsers ${userInfo().username}`,
        'PermitTTY no',
        'X11Forwarding no',
        'AllowTcpForwarding no',
        'AllowAgentForwarding no',
        'UseDNS no',
        'PrintMotd no',
        'LoginGraceTime 10',
        'LogLevel VERBOSE',
        `ForceCommand ${q(process.execPath)} ${q(SHIM)} ${q(this.stateDir)}`,
        '',
      ].join('\n'),
    )
  }

  get state(): DeviceState {
    return JSON.parse(readFileSync(join(this.stateDir, 'state.json'), 'utf8')) as DeviceState
  }

  private writeState(state: DeviceState): void {
    writeFileSync(join(this.stateDir, 'state.json'), JSON.stringify(state, null, 2) + '\n')
  }

  get markerFile(): string {
    return join(this.stateDir, 'reload-requested')
  }

  /** The commands the shim ran, in order. */
  commands(): string[] {
    const file = join(this.stateDir, 'commands.jsonl')
    if (!existsSync(file)) return []
    return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => (JSON.parse(l) as {command: string}).command)
  }

  /** Starts sshd and the reload supervisor. */
  async start(): Promise<void> {
    await this.startSshd()
    this.poller = setInterval(() => {
      if (this.reloading || this.stopped || !existsSync(this.markerFile)) return
      this.reloading = this.reload().finally(() => (this.reloading = undefined))
    }, 50)
  }

  private startSshd(): Promise<void> {
    const child = spawn(SSHD, ['-D', '-e', '-f', join(this.dir, 'sshd_config')], {stdio: ['ignore', 'ignore', 'pipe']})
    this.sshd = child
    if (child.pid !== undefined) this.pids.push(child.pid)
    const tag = `[${this.name} sshd ${child.pid}]`
    let pending = ''
    return new Promise<void>((resolve, reject) => {
      let listening = false
      const timer = setTimeout(() => {
        if (!listening) reject(new Error(`${tag} did not listen on 127.0.0.1:${this.port} within 5 s:\n${this.log.join('\n')}`))
      }, 5000)
      child.stderr!.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8')
        const lines = pending.split('\n')
        pending = lines.pop()!
        for (const line of lines) {
          this.log.push(`${new Date().toISOString()} ${tag} ${line}`)
          if (!listening && line.includes(`Server listening on 127.0.0.1 port ${this.port}`)) {
            listening = true
            clearTimeout(timer)
            resolve()
          }
        }
      })
      child.once('error', (error) => {
        clearTimeout(timer)
        reject(error)
      })
      child.once('exit', (code, sig) => {
        this.log.push(`${new Date().toISOString()} ${tag} exited (${sig ?? code})`)
        if (!listening) {
          clearTimeout(timer)
          reject(new Error(`${tag} exited before listening (${sig ?? code}):\n${this.log.join('\n')}`))
        }
      })
    })
  }

  /** Takes sshd and every session below it down; resolves once all of them are gone. */
  private async stopSshd(): Promise<number> {
    const child = this.sshd
    this.sshd = undefined
    if (!child || child.pid === undefined) return 0
    const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()))
    const tree = processTree(child.pid)
    await terminate(tree)
    await exited
    return tree.length - 1
  }

  /** The simulated reload: down, "boot", new version and restart time, up again on the same port. */
  private async reload(): Promise<void> {
    const request = JSON.parse(readFileSync(this.markerFile, 'utf8')) as {version: string}
    const down = Date.now()
    const killed = await this.stopSshd()
    rmSync(this.markerFile)
    await sleep(BOOT_MS, undefined, {signal: this.stopping.signal}).catch(() => undefined)
    if (this.stopped) return
    const state = this.state
    this.writeState({...state, version: request.version, restartedAt: isoSeconds(new Date()), reloads: state.reloads + 1})
    await this.startSshd()
    this.reloads.push({device: this.name, down, up: Date.now(), killed, version: request.version})
  }

  /** Stops the supervisor and every sshd (and session) this device started. */
  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.poller)
    this.stopping.abort()
    await this.reloading?.catch(() => undefined)
    await this.stopSshd()
    // Belt and braces: any sshd of ours that is somehow still there (e.g. a start that timed out).
    await terminate(this.pids.flatMap((pid) => processTree(pid)))
  }
}

// ------------------------------------------------------------------ the stack

interface SshdStack {
  dir: string
  devices: SshdDevice[]
  reloads: ReloadEvent[]
  events: RunEvents
  run(): Promise<ChainExecutionResult>
  stop(): Promise<void>
}

let stacks: SshdStack[] = []
const tmpDirs: string[] = []

/**
 * Starts one sshd per device and writes the inventory. `knownHosts` may replace a device's known_hosts line
 * (e.g. with a different key).
 */
async function sshdStack(names: string[], opts: {knownHosts?: Record<string, string>} = {}): Promise<SshdStack> {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-sshd-'))
  tmpDirs.push(dir)
  // sshd's privilege separation directory (the package creates it at boot via tmpfiles, not in a container).
  mkdirSync('/run/sshd', {recursive: true, mode: 0o755})
  const reloads: ReloadEvent[] = []
  const ports = await freePorts(names.length)
  const clientPub = keygen(join(dir, 'client_ed25519'), 'chainup-test-client')
  writeFileSync(join(dir, 'authorized_keys'), clientPub + '\n')
  const devices = names.map((name, i) => new SshdDevice(name, ports[i]!, dir, reloads))
  const runLog: string[] = []
  const stack: SshdStack = {
    dir,
    devices,
    reloads,
    events: new RunEvents(),
    async run() {
      const {inventory, playbook} = await loadStack(join(dir, 'stack.yml'))
      return runUpgrade({inventory, playbook, secrets: resolveSecrets(inventory, {}), events: stack.events, stateDir: join(dir, 'chainup-state')})
    },
    async stop() {
      await Promise.all(devices.map((d) => d.stop()))
    },
  }
  stacks.push(stack)
  ;(process.env.SSHD_TEST_VERBOSE ? onTestFinished : onTestFailed)(() => {
    console.error(`--- chainup run log (${dir})\n${runLog.join('\n')}`)
    for (const d of devices) console.error(`--- ${d.name} sshd -e output\n${d.log.join('\n')}\n--- ${d.name} shim commands: ${JSON.stringify(d.commands())}`)
    console.error(`--- reloads ${JSON.stringify(reloads)}`)
  })
  stack.events.on('log', (e) => runLog.push(`${new Date().toISOString()} ${e.level} ${e.device ?? '-'} ${e.message}`))
  stack.events.on('stepFinished', (s) => runLog.push(`${new Date().toISOString()} step ${s.device} "${s.action}" ${s.status}${s.error ? `: ${s.error}` : ''}`))
  stack.events.on('devicePhase', (p) => runLog.push(`${new Date().toISOString()} phase ${p.device} ${p.phase}: ${p.detail}`))

  await Promise.all(devices.map((d) => d.start()))
  // The real known_hosts file: chainup verifies every host key against it.
  writeFileSync(
    join(dir, 'known_hosts'),
    devices.map((d) => `[127.0.0.1]:${d.port} ${opts.knownHosts?.[d.name] ?? d.hostKeyPub.split(' ').slice(0, 2).join(' ')}`).join('\n') + '\n',
  )
  writeFileSync(
    join(dir, 'stack.yml'),
    stringify({
      stack: 'sshd-stack',
      playbook: PLAYBOOK,
      target: {version: TARGET, image: IMAGE},
      ssh: {username: userInfo().username, private_key: './client_ed25519', known_hosts: './known_hosts'},
      timeouts: {settle: 'PT0S', command: 'PT10S', boot: 'PT20S', predecessor: 'PT60S', gate: 'PT10S', connect: 'PT5S'},
      devices: devices.map((d) => ({name: d.name, host: '127.0.0.1', port: d.port})),
    }),
  )
  return stack
}

afterEach(async () => {
  await Promise.all(stacks.map((s) => s.stop()))
  stacks = []
})

afterAll(() => {
  const leftovers = tmpDirs.flatMap((d) => processesMentioning(d))
  for (const d of tmpDirs.splice(0)) rmSync(d, {recursive: true, force: true})
  expect(leftovers, 'processes left behind by the sshd test').toEqual([])
})

// ------------------------------------------------------------------ tests

describe.skipIf(skipReason !== undefined)('chainup upgrade against OpenSSH sshd with an IOS-XE shim (real known_hosts, real reload drop)', () => {
  it('upgrades sw1 then sw2; each reload drops the session and the device comes back on the target version', async () => {
    const stack = await sshdStack(['sw1', 'sw2'])
    const result = await stack.run()

    expect(result.reason).toBeNull()
    expect(result.status).toBe('completed')
    expect(result.devices.map((d) => [d.name, d.status, d.version_before, d.version_after])).toEqual([
      ['sw1', 'upgraded', FROM, TARGET],
      ['sw2', 'upgraded', FROM, TARGET],
    ])
    for (const d of stack.devices) {
      expect(d.state).toMatchObject({version: TARGET, reloads: 1})
      expect(existsSync(d.markerFile)).toBe(false)
      expect(d.commands().filter((c) => c.startsWith('install add'))).toEqual([`install add file flash:${IMAGE} activate commit prompt-level none`])
    }
    // Reload order: sw1 went down and was back before sw2 went down.
    expect(stack.reloads.map((r) => [r.device, r.version])).toEqual([
      ['sw1', TARGET],
      ['sw2', TARGET],
    ])
    const [sw1, sw2] = stack.reloads
    expect(sw1!.down).toBeLessThan(sw1!.up)
    expect(sw1!.up).toBeLessThanOrEqual(sw2!.down)
    // The install session was still open when the device went down (sshd's session processes and the shim).
    expect(sw1!.killed).toBeGreaterThan(0)
    expect(sw2!.killed).toBeGreaterThan(0)

    const install = result.steps.filter((s) => s.action === 'install image')
    expect(install.map((s) => [s.device, s.status])).toEqual([
      ['sw1', 'completed'],
      ['sw2', 'completed'],
    ])
    for (const [i, s] of install.entries()) {
      expect(s.output).toMatch(/Install will reload the system now!/)
      // The command never finished by itself: its exec ended when the reload dropped the connection.
      expect(Date.parse(s.started_at) + s.duration_ms).toBeGreaterThanOrEqual(stack.reloads[i]!.down)
    }
    const waits = result.steps.filter((s) => s.action === 'wait for reload')
    expect(waits.map((s) => [s.device, s.status])).toEqual([
      ['sw1', 'completed'],
      ['sw2', 'completed'],
    ])
    for (const s of waits) expect(s.output).toMatch(new RegExp(`back after .*version ${TARGET.replace(/\./g, '\\.')}`))
    // Each device's readiness ran before the first install anywhere (the READY barrier).
    const firstInstall = Math.min(...result.steps.filter((s) => s.action === 'install image').map((s) => Date.parse(s.started_at)))
    for (const name of ['sw1', 'sw2']) {
      const flash = result.steps.find((s) => s.device === name && s.action === 'image on flash')
      expect(flash, `${name} checked flash`).toMatchObject({status: 'completed'})
      expect(Date.parse(flash!.started_at)).toBeLessThanOrEqual(firstInstall)
    }
    // pubkey login, not anything else.
    expect(stack.devices[0]!.log.some((l) => /Accepted publickey for \S+ from 127\.0\.0\.1/.test(l))).toBe(true)
  })

  it('a known_hosts entry with the wrong key for sw2: the run fails before any reload ("host key changed")', async () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'chainup-sshd-impostor-'))
    tmpDirs.push(keyDir)
    const impostor = keygen(join(keyDir, 'impostor_ed25519'), 'impostor')
    const stack = await sshdStack(['sw1', 'sw2'], {knownHosts: {sw2: impostor.split(' ').slice(0, 2).join(' ')}})
    const result = await stack.run()

    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/^sw2 is not ready: host key changed: \[127\.0\.0\.1\]:\d+ offered SHA256:[A-Za-z0-9+/]{43}, .*known_hosts lists SHA256:[A-Za-z0-9+/]{43}$/)
    expect(stack.reloads).toEqual([])
    for (const d of stack.devices) {
      expect(existsSync(d.markerFile)).toBe(false)
      expect(d.state).toMatchObject({version: FROM, reloads: 0})
      expect(d.commands().filter((c) => c.startsWith('install'))).toEqual([])
    }
    // sw2 never ran a command and never authenticated: the key is checked before logging in.
    expect(stack.devices[1]!.commands()).toEqual([])
    expect(stack.devices[1]!.log.filter((l) => /Accepted publickey/.test(l))).toEqual([])
    expect(result.devices.map((d) => [d.name, d.status])).toEqual([
      ['sw1', 'not_started'],
      ['sw2', 'not_started'],
    ])
  })
})
