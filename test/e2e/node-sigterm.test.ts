/**
 * Issue #13: `chainup node --persistent` under systemd is stopped with SIGTERM; it used to die by the signal (exit 143,
 * a failed unit). A stop with no round in progress (also before the neighbours connected) exits 0; a stop during a
 * round is chainup's cancel: the device's task in progress finishes, then the round ends cancelled, exit 130.
 * Real `chainup node` processes (bin/run.js) on loopback over TLS with certificates, signalled by pid.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'

import {SimSwitch} from '../../src/lab/sim-switch.js'
import {initCerts} from '../../src/protocol/certs.js'
import {until} from '../helpers/fake-clock.js'
import {freePorts, ROOT, TEST_PASSWORD} from '../helpers/lab-stack.js'

interface Proc {
  name: string
  child: ChildProcess
  output: string[]
  exited: Promise<number | null>
}

const procs: Proc[] = []
const dirs: string[] = []
let sims: SimSwitch[] = []

function start(name: string, args: string[]): Proc {
  const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {cwd: ROOT, env: {...process.env, CI: 'true', CHAINUP_TEST_PASSWORD: TEST_PASSWORD}, stdio: ['ignore', 'pipe', 'pipe']})
  const output: string[] = []
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const proc = {name, child, output, exited}
  procs.push(proc)
  return proc
}

const text = (p: Proc) => p.output.join('')
const diagnostics = () => procs.map((p) => `--- ${p.name}\n${text(p).slice(-4000)}`).join('\n')

/** Whether a process with this pid still exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/commands/node.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) first')
})
afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGKILL')
      await p.exited
    }
  }
  await Promise.all(sims.map((s) => s.stop()))
  sims = []
})
afterAll(() => {
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

/**
 * A chain of simulated switches `names` with certificates in ./pki and every device's node on a loopback port;
 * `remote` devices run as `chainup node`, the others in `chainup upgrade`.
 */
async function setup(names: string[], remote: (i: number) => boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-node-sigterm-'))
  dirs.push(dir)
  const ports = await freePorts(2 * names.length)
  sims = names.map(
    (name, i) =>
      new SimSwitch({name, host: '127.0.0.1', port: ports[i]!, username: 'netops', password: TEST_PASSWORD, version: '17.06.05', extraImages: ['cat9k_iosxe.17.09.05.SPA.bin'], bootTimeMs: 1500}),
  )
  await Promise.all(sims.map((s) => s.start()))
  await initCerts(join(dir, 'pki'), names)
  const inventory = join(dir, 'stack.yml')
  writeFileSync(
    inventory,
    stringify({
      stack: 'sigterm-stack',
      playbook: join(ROOT, 'playbooks/ios-xe-install.yml'),
      target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
      ssh: {username: 'netops', password_env: 'CHAINUP_TEST_PASSWORD'},
      timeouts: {settle: 'PT0S', command: 'PT10S', boot: 'PT20S', predecessor: 'PT60S', gate: 'PT10S', connect: 'PT5S'},
      chainsync: {connect_timeout: 'PT30S', heartbeat: 'PT0.5S', reconnect_grace: 'PT2S', tls: {ca: './pki/ca.crt', cert_dir: './pki'}},
      devices: names.map((name, i) => ({name, host: '127.0.0.1', port: sims[i]!.port, host_key: sims[i]!.hostKeyFingerprint, node: `127.0.0.1:${ports[names.length + i]}`, remote: remote(i)})),
    }),
  )
  const nodePort = (i: number) => ports[names.length + i]!
  const node = (name: string, ...extra: string[]) => start(name, ['node', '--persistent', '--inventory', inventory, '--device', name, '--state-dir', join(dir, `state-${name}`), ...extra])
  return {dir, inventory, nodePort, node}
}

describe('chainup node --persistent stopped by a signal', () => {
  it('SIGTERM with no round in progress: exit 0 and the process is gone (and SIGINT likewise)', async () => {
    const {node} = await setup(['sw1', 'sw2'], () => true)
    const sw1 = node('sw1')
    const sw2 = node('sw2')
    await until(() => /neighbours connected/.test(text(sw1)) && /neighbours connected/.test(text(sw2)), 'both nodes to listen with their neighbour connected', 30_000)

    process.kill(sw2.child.pid!, 'SIGTERM')
    expect(await sw2.exited, diagnostics()).toBe(0)
    expect(alive(sw2.child.pid!)).toBe(false)
    expect(sw2.child.signalCode).toBe(null)
    expect(text(sw2)).toMatch(/ sw2 SIGTERM: stopping: no round in progress\n/)
    expect(text(sw2)).toMatch(/ sw2 node stopped \(exit 0\)\n/)

    // Its neighbour lost its link; a stop is still a clean one.
    process.kill(sw1.child.pid!, 'SIGINT')
    expect(await sw1.exited, diagnostics()).toBe(0)
    expect(alive(sw1.child.pid!)).toBe(false)
    expect(text(sw1)).toMatch(/ sw1 node stopped \(exit 0\)\n/)
  })

  it('SIGTERM while it still waits for its neighbours: exit 0 at once, not after chainsync.connect_timeout', async () => {
    const {node, nodePort} = await setup(['sw1', 'sw2'], () => true)
    const sw2 = node('sw2')
    for (const giveUp = Date.now() + 30_000; !(await listening(nodePort(1))); ) {
      if (Date.now() > giveUp) throw new Error(`sw2 did not listen within 30 s\n${diagnostics()}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const sent = Date.now()
    process.kill(sw2.child.pid!, 'SIGTERM')
    expect(await sw2.exited, diagnostics()).toBe(0)
    expect(Date.now() - sent).toBeLessThan(10_000)
    expect(alive(sw2.child.pid!)).toBe(false)
    expect(text(sw2)).toMatch(/ sw2 SIGTERM: stopping before the neighbours connected: no round joined \(exit 0\)\n/)
  })

  it("SIGTERM during the device's task: the task finishes, the round ends cancelled, exit 130, no further device starts", async () => {
    const names = ['sw1', 'sw2', 'sw3']
    const {dir, inventory, node} = await setup(names, (i) => i > 0)
    const sw2 = node('sw2')
    const sw3 = node('sw3')
    // Stop sw2's node the moment its device starts installing (its task runs).
    sims[1]!.on('event', (e) => {
      if (e.type === 'install_started' && alive(sw2.child.pid!)) process.kill(sw2.child.pid!, 'SIGTERM')
    })
    const upgrade = start('upgrade', ['upgrade', inventory, '--json', '--state-dir', join(dir, 'state-upgrade')])
    expect(await sw2.exited, diagnostics()).toBe(130)
    expect(alive(sw2.child.pid!)).toBe(false)
    expect(text(sw2)).toMatch(/SIGTERM: round \S+: the device's task in progress finishes, then the round is cancelled/)
    // The device was not left half-upgraded: it came back on the target version before the node stopped.
    const events = sims[1]!.events.map((e) => e.type)
    expect(events).toContain('down')
    expect(events).toContain('up')
    const runId = /joining round (\S+)/.exec(text(sw2))![1]!
    const own = JSON.parse(readFileSync(join(dir, 'state-sw2', 'runs', `${runId}.sw2.json`), 'utf8'))
    expect(own.status).toBe('cancelled')
    expect(own.devices.find((d: {name: string}) => d.name === 'sw2')).toMatchObject({status: 'upgraded', version_after: '17.09.05'})
    // The chain stopped there: sw3 never installed, the orchestrator reports the halt.
    expect(await upgrade.exited, diagnostics()).toBe(1)
    expect(sims[2]!.events.some((e) => e.type === 'install_started')).toBe(false)
    // sw3 stays up (persistent) after the halted round; a SIGTERM now is a clean stop.
    await until(() => /round \S+ (failed|cancelled)/.test(text(sw3)), "sw3's round to end", 30_000)
    process.kill(sw3.child.pid!, 'SIGTERM')
    expect(await sw3.exited, diagnostics()).toBe(0)
  })

  it("SIGTERM to a waiting node while a device chainup upgrade runs itself installs: that device's task finishes too (run/chain.ts)", async () => {
    const {dir, inventory, node} = await setup(['sw1', 'sw2'], (i) => i > 0)
    const sw2 = node('sw2')
    // sw1 runs in the chainup upgrade process; stop sw2's node (waiting for its turn) the moment sw1 starts installing.
    sims[0]!.on('event', (e) => {
      if (e.type === 'install_started' && alive(sw2.child.pid!)) process.kill(sw2.child.pid!, 'SIGTERM')
    })
    const upgrade = start('upgrade', ['upgrade', inventory, '--json', '--state-dir', join(dir, 'state-upgrade')])
    expect(await sw2.exited, diagnostics()).toBe(130)
    expect(await upgrade.exited, diagnostics()).toBe(1)
    expect(text(upgrade)).toMatch(/ sw1 warn: node sw2 stopped \(SIGTERM\): the task in progress finishes first\n/)
    expect(text(upgrade)).not.toMatch(/cancelled in \d+\S* - /)
    const events = sims[0]!.events.map((e) => e.type)
    expect(events.indexOf('down'), diagnostics()).toBeGreaterThan(events.indexOf('install_started'))
    expect(events.indexOf('up')).toBeGreaterThan(events.indexOf('down'))
    expect(sims[0]!.version).toBe('17.09.05')
    const result = JSON.parse(readFileSync(/result saved to (\S+\.json)/.exec(text(upgrade))![1]!, 'utf8'))
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/node sw2 stopped \(SIGTERM\)/)
    expect(result.devices.find((d: {name: string}) => d.name === 'sw1')).toMatchObject({status: 'upgraded', version_after: '17.09.05'})
    expect(sims[1]!.events.some((e) => e.type === 'install_started')).toBe(false)
  })

  it('SIGTERM to a node whose device is not working while its successor installs: the successor finishes its upgrade, then the round halts', async () => {
    const names = ['sw1', 'sw2', 'sw3', 'sw4']
    const {dir, inventory, node} = await setup(names, (i) => i > 0)
    const sw2 = node('sw2')
    const sw3 = node('sw3')
    const sw4 = node('sw4')
    // sw2 is done (its COMPLETE went on to sw3): stop its node the moment sw3 starts installing.
    sims[2]!.on('event', (e) => {
      if (e.type === 'install_started' && alive(sw2.child.pid!)) process.kill(sw2.child.pid!, 'SIGTERM')
    })
    const upgrade = start('upgrade', ['upgrade', inventory, '--json', '--state-dir', join(dir, 'state-upgrade')])
    expect(await sw2.exited, diagnostics()).toBe(130)
    expect(text(sw2)).toMatch(/SIGTERM: round \S+: cancelling it now \(the device's task is not running\)/)
    // A node round knows the chain from the inventory: the middle node names its successor, and its target.
    expect(text(sw2)).toMatch(/ sw2 ChainSync COMPLETE: its turn is over; sw3 goes next\n/)
    expect(text(sw2)).not.toMatch(/it was the last device/)
    expect(text(sw2)).toMatch(/ sw2 ready \(running 17\.06\.05, target 17\.09\.05\)\n/)
    expect(text(sw3)).toMatch(/ sw3 ChainSync WATCH: waiting for sw2 to complete\n/)

    // sw3's task was not cut off: it finished its install, reload wait and after gates, and then its round ended.
    await until(() => /round \S+ (failed|cancelled|completed)/.test(text(sw3)), "sw3's round to end", 60_000)
    const runId = /joining round (\S+)/.exec(text(sw3))![1]!
    expect(text(sw3)).toMatch(/ sw3 warn: node sw2 stopped \(SIGTERM\): the task in progress finishes first\n/)
    expect(text(sw3)).not.toMatch(/cancelled in \d+\S* - /)
    expect(text(sw3)).toMatch(/ sw3 upgraded 17\.06\.05 -> 17\.09\.05\n/)
    const events = sims[2]!.events.map((e) => e.type)
    expect(events, diagnostics()).toContain('install_started')
    expect(events.indexOf('up')).toBeGreaterThan(events.indexOf('down'))
    expect(events.indexOf('down')).toBeGreaterThan(events.indexOf('install_started'))
    expect(sims[2]!.version).toBe('17.09.05')
    expect(sims[2]!.isUp).toBe(true)
    const own = JSON.parse(readFileSync(join(dir, 'state-sw3', 'runs', `${runId}.sw3.json`), 'utf8'))
    expect(own.status).not.toBe('completed')
    expect(own.reason).toMatch(/node sw2 stopped \(SIGTERM\)/)
    expect(own.devices.find((d: {name: string}) => d.name === 'sw3')).toMatchObject({status: 'upgraded', version_after: '17.09.05'})

    // The chain stopped there: no COMPLETE went on to sw4, which never installed; the orchestrator reports the halt.
    expect(await upgrade.exited, diagnostics()).toBe(1)
    await until(() => /round \S+ (failed|cancelled)/.test(text(sw4)), "sw4's round to end", 30_000)
    expect(sims[3]!.events.some((e) => e.type === 'install_started')).toBe(false)
    expect(text(sw4)).not.toMatch(/ChainSync START/)
    for (const p of [sw3, sw4]) {
      process.kill(p.child.pid!, 'SIGTERM')
      expect(await p.exited, diagnostics()).toBe(0)
    }
  })
})
