/**
 * Test fixture: a stack of simulated switches on free loopback ports, an inventory and a playbook written to
 * a temp dir, and a real UDP trap receiver owned by the test.
 */
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {parse, stringify} from 'yaml'

import {loadStack} from '../../src/config/load.js'
import type {Inventory, LabFault, Playbook} from '../../src/config/types.js'
import {startLab, type Lab} from '../../src/lab/lab.js'
import {TrapReceiver} from '../../src/lab/trap-receiver.js'
import type {ChainSyncTransport} from '../../src/protocol/transport.js'
import {RunEvents} from '../../src/model/events.js'
import type {ChainExecutionResult} from '../../src/model/result.js'
import {resolveSecrets} from '../../src/run/secrets.js'
import {runUpgrade} from '../../src/run/upgrade.js'

export const ROOT = resolve(import.meta.dirname, '../..')
export const TEST_PASSWORD = 'Te5t-secret-pa55word'

/** Free TCP ports on 127.0.0.1 (bound then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({length: n}, () => new Promise<net.Server>((res) => {
      const s = net.createServer()
      s.listen(0, '127.0.0.1', () => res(s))
    })),
  )
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

export interface DeviceSpec {
  name: string
  faults?: LabFault[]
  version?: string
  boot_time?: string
}

export interface StackSpec {
  devices: DeviceSpec[]
  timeouts?: Record<string, string>
  /** Replaces the shipped playbook's gates (YAML objects). */
  gates?: Partial<Record<'before' | 'after' | 'on_error' | 'final', unknown[]>>
  bootTime?: string
  /** Extra top-level inventory fields (e.g. chainsync). */
  extra?: Record<string, unknown>
  /** The shipped playbook to use, a file name in playbooks/ (its `platform` picks the lab's dialect). @default 'ios-xe-install.yml' */
  playbook?: string
  /** The inventory's target. @default 17.09.05, cat9k_iosxe.17.09.05.SPA.bin */
  target?: {version: string; image: string}
  /** The version every simulated device starts on. @default '17.06.05' */
  labVersion?: string
  /** `--transcript DIR` for the run. */
  transcriptDir?: string
}

export interface StackFixture {
  dir: string
  inventoryPath: string
  inventory: Inventory
  playbook: Playbook
  lab: Lab
  receiver: TrapReceiver
  events: RunEvents
  stop(): Promise<void>
  run(overrides?: {hostKeys?: Lab['hostKeys']; transportFor?: (device: string) => ChainSyncTransport | undefined; stateDir?: string; busyTimeoutMs?: number}): Promise<ChainExecutionResult>
}

/** Writes inventory + playbook for the spec, starts the simulators and a trap receiver. Call `stop()` in afterEach. */
export async function labStack(spec: StackSpec): Promise<StackFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-test-'))
  const ports = await freePorts(spec.devices.length)
  const receiver = new TrapReceiver({host: '127.0.0.1', port: 0, community: 'public'})
  await receiver.start()

  const shipped = parse(readFileSync(join(ROOT, 'playbooks', spec.playbook ?? 'ios-xe-install.yml'), 'utf8')) as Record<string, unknown>
  const playbookPath = join(dir, 'playbook.yml')
  writeFileSync(playbookPath, stringify({...shipped, gates: {...(shipped.gates as object), ...spec.gates}}))
  writeFileSync(join(dir, 'known_hosts'), '# lab keys are checked by fingerprint\n')
  const inventoryPath = join(dir, 'stack.yml')
  writeFileSync(
    inventoryPath,
    stringify({
      stack: 'test-stack',
      playbook: './playbook.yml',
      target: spec.target ?? {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
      ssh: {username: 'netops', password_env: 'CHAINUP_TEST_PASSWORD', known_hosts: './known_hosts'},
      timeouts: {settle: 'PT0S', command: 'PT10S', boot: 'PT10S', predecessor: 'PT30S', gate: 'PT10S', connect: 'PT5S', ...spec.timeouts},
      snmp: {traps: [{host: '127.0.0.1', port: receiver.port, version: '2c', community: 'public'}]},
      lab: {version: spec.labVersion ?? '17.06.05', boot_time: spec.bootTime ?? 'PT0.3S'},
      ...spec.extra,
      devices: spec.devices.map((d, i) => ({
        name: d.name,
        host: '127.0.0.1',
        port: ports[i],
        ...(d.faults || d.version || d.boot_time ? {lab: {...(d.faults ? {faults: d.faults} : {}), ...(d.version ? {version: d.version} : {}), ...(d.boot_time ? {boot_time: d.boot_time} : {})}} : {}),
      })),
    }),
  )
  const {inventory, playbook} = await loadStack(inventoryPath)
  const env = {...process.env, CHAINUP_TEST_PASSWORD: TEST_PASSWORD}
  const lab = await startLab(inventory, {trapReceivers: false, env})
  const events = new RunEvents()
  return {
    dir,
    inventoryPath,
    inventory,
    playbook,
    lab,
    receiver,
    events,
    async stop() {
      await lab.stop()
      await receiver.stop()
    },
    run(overrides = {}) {
      return runUpgrade({
        inventory,
        playbook,
        secrets: resolveSecrets(inventory, env),
        hostKeys: overrides.hostKeys ?? lab.hostKeys,
        ...(overrides.transportFor ? {transportFor: overrides.transportFor} : {}),
        events,
        stateDir: overrides.stateDir ?? join(dir, 'state'),
        ...(overrides.busyTimeoutMs === undefined ? {} : {busyTimeoutMs: overrides.busyTimeoutMs}),
        ...(spec.transcriptDir === undefined ? {} : {transcriptDir: spec.transcriptDir}),
      })
    },
  }
}

/** Every simulator event of the stack, in time order. */
export function simEvents(fixture: StackFixture) {
  return fixture.lab.switches.flatMap((s) => s.events).sort((a, b) => a.at - b.at)
}

/** Devices that received an install command. */
export function installed(fixture: StackFixture): string[] {
  return simEvents(fixture).filter((e) => e.type === 'install_started').map((e) => e.device)
}
