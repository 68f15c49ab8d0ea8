/**
 * ChainSync nodes as separate OS processes (`chainup node`), on loopback and across network namespaces,
 * and what happens when a middle node's process is killed with SIGKILL mid-round.
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'

import {SimSwitch} from '../../src/lab/sim-switch.js'
import {initCerts} from '../../src/protocol/certs.js'
import {TrapReceiver} from '../../src/lab/trap-receiver.js'
import {freePorts, ROOT, TEST_PASSWORD} from '../helpers/lab-stack.js'

const NAMES = ['sw1', 'sw2', 'sw3', 'sw4']

interface Proc {
  name: string
  child: ChildProcess
  output: string[]
  exited: Promise<number | null>
}

const procs: Proc[] = []
let sims: SimSwitch[] = []
let receiver: TrapReceiver | undefined

function start(name: string, command: string, args: string[]): Proc {
  const child = spawn(command, args, {cwd: ROOT, env: {...process.env, CI: 'true', CHAINUP_TEST_PASSWORD: TEST_PASSWORD}, stdio: ['ignore', 'pipe', 'pipe']})
  const output: string[] = []
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const proc = {name, child, output, exited}
  procs.push(proc)
  return proc
}

async function stopAll(): Promise<void> {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null && p.child.pid) {
      try {
        process.kill(p.child.pid, 'SIGTERM')
      } catch {
        /* already gone */
      }
      const t = setTimeout(() => p.child.pid && process.kill(p.child.pid, 'SIGKILL'), 3000)
      await p.exited
      clearTimeout(t)
    }
  }
  await Promise.all(sims.map((s) => s.stop()))
  sims = []
  await receiver?.stop()
  receiver = undefined
}

/** Simulated switches on `deviceHost`, an inventory where sw2..sw4 are remote nodes at `nodeHosts`. */
async function setup(opts: {deviceHost: string; nodeHosts: string[]; trapHost: string}) {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-mp-'))
  const ports = await freePorts(8)
  receiver = new TrapReceiver({host: opts.trapHost, port: 0, community: 'public'})
  await receiver.start()
  sims = NAMES.map(
    (name, i) =>
      new SimSwitch({name, host: opts.deviceHost, port: ports[i]!, username: 'netops', password: TEST_PASSWORD, version: '17.06.05', extraImages: ['cat9k_iosxe.17.09.05.SPA.bin'], bootTimeMs: 600}),
  )
  await Promise.all(sims.map((s) => s.start()))
  // Nodes in separate processes: the links are authenticated with certificates (no per-run keys across processes).
  await initCerts(join(dir, 'pki'), NAMES)
  const inventory = join(dir, 'stack.yml')
  writeFileSync(
    inventory,
    stringify({
      stack: 'mp-stack',
      playbook: join(ROOT, 'playbooks/ios-xe-install.yml'),
      target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
      ssh: {username: 'netops', password_env: 'CHAINUP_TEST_PASSWORD'},
      timeouts: {settle: 'PT0S', command: 'PT10S', boot: 'PT20S', predecessor: 'PT60S', gate: 'PT10S', connect: 'PT5S'},
      chainsync: {connect_timeout: 'PT30S', heartbeat: 'PT0.5S', reconnect_grace: 'PT2S', tls: {ca: join(dir, 'pki', 'ca.crt'), cert_dir: join(dir, 'pki')}},
      snmp: {traps: [{host: opts.trapHost, port: receiver.port, version: '2c', community: 'public'}]},
      devices: NAMES.map((name, i) => ({
        name,
        host: opts.deviceHost,
        port: sims[i]!.port,
        host_key: sims[i]!.hostKeyFingerprint,
        node: `${opts.nodeHosts[i]}:${ports[4 + i]}`,
        remote: i > 0,
      })),
    }),
  )
  return {dir, inventory}
}

function nodeArgs(inventory: string, device: string, dir: string): string[] {
  return [join(ROOT, 'bin/run.js'), 'node', '--inventory', inventory, '--device', device, '--state-dir', join(dir, `state-${device}`)]
}

function installs(): string[] {
  return sims.flatMap((s) => s.events).filter((e) => e.type === 'install_started').sort((a, b) => a.at - b.at).map((e) => e.device)
}

async function upgrade(inventory: string, dir: string) {
  const p = start('upgrade', process.execPath, [join(ROOT, 'bin/run.js'), 'upgrade', inventory, '--json', '--state-dir', join(dir, 'state-upgrade')])
  const code = await p.exited
  const stdout = p.output.join('')
  const json = stdout.slice(stdout.indexOf('\n{') + 1, stdout.lastIndexOf('}') + 1)
  return {code, p, result: code === null ? undefined : tryParse(json), log: stdout}
}

function tryParse(text: string): any {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function diagnostics(): string {
  return procs.map((p) => `--- ${p.name}\n${p.output.join('').slice(-4000)}`).join('\n')
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/commands/node.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) first')
})
afterEach(stopAll)

describe('ChainSync nodes in separate processes', () => {
  it('upgrades a 4-device chain run by 4 OS processes on loopback', async () => {
    const {dir, inventory} = await setup({deviceHost: '127.0.0.1', nodeHosts: ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1'], trapHost: '127.0.0.1'})
    const nodes = NAMES.slice(1).map((name) => start(name, process.execPath, nodeArgs(inventory, name, dir)))
    const {code, result} = await upgrade(inventory, dir)
    expect(code, diagnostics()).toBe(0)
    // Each `chainup node` exits by itself once its round is over (draft §6.4), with the round's exit code.
    expect(await Promise.all(nodes.map((n) => n.exited)), diagnostics()).toEqual([0, 0, 0])
    expect(result.status).toBe('completed')
    expect(result.devices.map((d: {status: string}) => d.status)).toEqual(['upgraded', 'remote', 'remote', 'remote'])
    expect(installs()).toEqual(NAMES)
    const downUp = sims.flatMap((s) => s.events).filter((e) => e.type === 'down' || e.type === 'up').sort((a, b) => a.at - b.at).map((e) => `${e.device}:${e.type}`)
    expect(downUp).toEqual(NAMES.flatMap((n) => [`${n}:down`, `${n}:up`]))
    // Each remote node wrote its own device's part of the result.
    for (const name of NAMES.slice(1)) {
      const own = JSON.parse(readFileSync(join(dir, `state-${name}`, 'runs', `${result.execution_id}.${name}.json`), 'utf8'))
      expect(own.devices.find((d: {name: string}) => d.name === name)).toMatchObject({status: 'upgraded', version_before: '17.06.05', version_after: '17.09.05'})
    }
  })

  it('SIGKILL of a middle node mid-round: its neighbours detect it, a trap is sent, no further device is touched', async () => {
    const {dir, inventory} = await setup({deviceHost: '127.0.0.1', nodeHosts: ['127.0.0.1', '127.0.0.1', '127.0.0.1', '127.0.0.1'], trapHost: '127.0.0.1'})
    const nodes = NAMES.slice(1).map((name) => start(name, process.execPath, nodeArgs(inventory, name, dir)))
    const sw3 = nodes[1]!
    // Kill sw3's node the moment sw2 goes down for its reload.
    sims[1]!.on('event', (e) => {
      if (e.type === 'down' && sw3.child.pid) process.kill(sw3.child.pid, 'SIGKILL')
    })
    const trap = receiver!.waitFor((t) => t.trapOid === '1.3.6.1.4.1.32473.1.0.2', 30_000)
    const {code, result} = await upgrade(inventory, dir)
    expect(code, diagnostics()).toBe(1)
    expect(result.status).toBe('failed')
    const t = await trap
    expect(['sw2', 'sw4']).toContain(t.varbinds['1.3.6.1.4.1.32473.1.1.4'])
    expect(String(t.varbinds['1.3.6.1.4.1.32473.1.1.5'])).toMatch(/connection to (successor|predecessor) sw3 lost for more than 2\.0s/)
    expect(installs()).toEqual(['sw1', 'sw2'])
    expect(await sw3.exited).toBe(null)
    // The surviving nodes exit by themselves with the failed round's exit code.
    expect(await Promise.all([nodes[0]!.exited, nodes[2]!.exited]), diagnostics()).toEqual([1, 1])
  })
})

const NETNS_SUBNET = '10.231.0.0/24'
const isRoot = process.getuid?.() === 0
const hasIp = (() => {
  try {
    execFileSync('ip', ['-V'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
})()
if (!isRoot || !hasIp) console.warn(`netns test skipped: ${!isRoot ? 'needs root (ip netns)' : 'iproute2 (ip) not installed'}`)

describe.skipIf(!isRoot || !hasIp)('ChainSync nodes across network namespaces (root only)', () => {
  const namespaces = ['cu-ns2', 'cu-ns3', 'cu-ns4']
  const ip = (...args: string[]) => execFileSync('ip', args, {stdio: 'pipe'})
  const cleanup = () => {
    for (const ns of namespaces) {
      try {
        ip('netns', 'del', ns)
      } catch {
        /* not there */
      }
    }
    for (const cmd of [['link', 'del', 'cu-br0'], ['route', 'del', 'unreachable', NETNS_SUBNET, 'metric', '4000']]) {
      try {
        ip(...cmd)
      } catch {
        /* not there */
      }
    }
  }
  beforeAll(() => {
    cleanup()
    // A downed veth must never send packets out of the default route.
    ip('route', 'add', 'unreachable', NETNS_SUBNET, 'metric', '4000')
    ip('link', 'add', 'cu-br0', 'type', 'bridge')
    ip('addr', 'add', '10.231.0.1/24', 'dev', 'cu-br0')
    ip('link', 'set', 'cu-br0', 'up')
    namespaces.forEach((ns, i) => {
      ip('netns', 'add', ns)
      ip('link', 'add', `cu-veth${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
      ip('link', 'set', `cu-veth${i}`, 'master', 'cu-br0')
      ip('link', 'set', `cu-veth${i}`, 'up')
      ip('-n', ns, 'addr', 'add', `10.231.0.${12 + i}/24`, 'dev', 'eth0')
      ip('-n', ns, 'link', 'set', 'eth0', 'up')
      ip('-n', ns, 'link', 'set', 'lo', 'up')
    })
  })
  afterAll(cleanup)

  it('upgrades the chain with sw2..sw4 nodes each in its own network namespace', async () => {
    const {dir, inventory} = await setup({deviceHost: '10.231.0.1', nodeHosts: ['10.231.0.1', '10.231.0.12', '10.231.0.13', '10.231.0.14'], trapHost: '10.231.0.1'})
    NAMES.slice(1).forEach((name, i) => start(name, 'ip', ['netns', 'exec', namespaces[i]!, process.execPath, ...nodeArgs(inventory, name, dir)]))
    const {code, result} = await upgrade(inventory, dir)
    expect(code, diagnostics()).toBe(0)
    expect(result.status).toBe('completed')
    expect(installs()).toEqual(NAMES)
    // The sw3 node really lived in its namespace: it logged its own namespace address.
    expect(procs.find((p) => p.name === 'sw3')!.output.join('')).toMatch(/node listening on 10\.231\.0\.13:/)
  })
})
