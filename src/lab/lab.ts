/**
 * The built-in lab (`chainup upgrade INVENTORY --lab`): one simulated Catalyst 9000 per inventory device on
 * the host/port the inventory names (loopback only), and an SNMP trap receiver per loopback trap target.
 * The run itself is the real one: real SSH, real ChainSync over TCP, real UDP traps.
 */
import {randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {isIP} from 'node:net'

import {parse as parseYaml} from 'yaml'

import type {Inventory} from '../config/types.js'
import type {HostKeySource} from '../device/known-hosts.js'
import {InputError} from '../errors.js'
import {dialectFor} from './dialects/index.js'
import {SimSwitch} from './sim-switch.js'
import {describeTrap, TrapReceiver} from './trap-receiver.js'

export interface Lab {
  switches: SimSwitch[]
  receivers: TrapReceiver[]
  /** The simulators' real host keys, to verify against instead of the inventory's. */
  hostKeys: Map<string, HostKeySource>
  /** Environment overrides for secrets the lab made up (a generated password when password_env is unset). */
  env: Record<string, string>
  /** What the switches simulate, for messages: `Catalyst 9000` (IOS-XE), `eos`, `junos`, `nxos`, `sonic`. */
  simulates: string
  stop(): Promise<void>
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

export interface LabOptions {
  /** Called with one readable line per trap the lab's receivers get. */
  onTrap?: (line: string) => void
  /** Start a trap receiver for each loopback trap target. @default true */
  trapReceivers?: boolean
  /** Environment to read secrets from. @default process.env */
  env?: NodeJS.ProcessEnv
  /** The platform to simulate (dialects/index.ts). @default the `platform:` of the inventory's playbook; IOS-XE without one */
  platform?: string
}

/** `{dialect}` for a platform other than IOS-XE (a fresh one per device), else nothing. */
function withDialect(platform: string | undefined): {dialect?: NonNullable<ReturnType<typeof dialectFor>>} {
  const dialect = dialectFor(platform)
  return dialect ? {dialect} : {}
}

/** The `platform:` of a playbook file, or undefined (unreadable files are the loader's business: IOS-XE then). */
function playbookPlatform(file: string): string | undefined {
  try {
    const doc = parseYaml(readFileSync(file, 'utf8')) as unknown
    const platform = doc !== null && typeof doc === 'object' ? (doc as Record<string, unknown>)['platform'] : undefined
    return typeof platform === 'string' ? platform : undefined
  } catch {
    return undefined
  }
}

/**
 * Starts the lab for an inventory.
 * @throws InputError when a device is not on loopback (the lab never binds other addresses); the listen error when a port is taken
 */
export async function startLab(inventory: Inventory, options: LabOptions = {}): Promise<Lab> {
  const env = options.env ?? process.env
  const onTrap = options.onTrap ?? (() => undefined)
  const problems = inventory.devices.filter((d) => !isLoopback(d.host)).map((d) => `${inventory.file} devices: ${d.name} is on ${d.host}; --lab only simulates devices on loopback (127.0.0.1)`)
  if (problems.length > 0) throw new InputError(`${inventory.file}: not a lab inventory`, {code: 'LAB_NOT_LOOPBACK', problems})

  const labEnv: Record<string, string> = {}
  let password: string | undefined
  let publicKey: string | undefined
  const {ssh} = inventory
  if (ssh.password_env) {
    password = env[ssh.password_env]
    if (!password) {
      password = randomBytes(12).toString('base64url')
      labEnv[ssh.password_env] = password
    }
  } else if (ssh.password_file) {
    password = readFileSync(ssh.password_file, 'utf8').split(/\r?\n/)[0] ?? ''
  } else if (ssh.private_key) {
    const {utils} = (await import('ssh2')).default
    const passphrase = ssh.passphrase_env ? env[ssh.passphrase_env] : undefined
    const parsed = utils.parseKey(readFileSync(ssh.private_key), passphrase)
    if (parsed instanceof Error) throw new InputError(`${inventory.file} ssh.private_key: ${parsed.message}`, {code: 'LAB_KEY'})
    const key = Array.isArray(parsed) ? parsed[0] : parsed
    publicKey = `${key.type} ${key.getPublicSSH().toString('base64')}`
  }

  const platform = options.platform ?? playbookPlatform(inventory.playbook)
  const switches: SimSwitch[] = []
  const receivers: TrapReceiver[] = []
  const stop = async () => {
    await Promise.allSettled([...switches.map((s) => s.stop()), ...receivers.map((r) => r.stop())])
  }
  try {
    for (const device of inventory.devices) {
      const faults = device.lab?.faults ?? []
      const sim = new SimSwitch({
        name: device.name,
        host: device.host === 'localhost' ? '127.0.0.1' : device.host,
        port: device.port,
        username: ssh.username,
        ...(password === undefined ? {} : {password}),
        ...(publicKey === undefined ? {} : {publicKey}),
        version: device.lab?.version ?? inventory.lab.version,
        // With target.image_file the run stages the image itself (docs/staging.md): the switches start without it.
        extraImages: faults.includes('missing_image') || inventory.target.image_file !== undefined ? [] : [inventory.target.image],
        bootTimeMs: device.lab?.boot_time ?? inventory.lab.boot_time,
        faults,
        // The playbook's platform: its CLI, prompts and outputs (docs/lab.md "Dialects"); IOS-XE without one.
        ...withDialect(platform),
      })
      switches.push(sim)
      await sim.start()
    }
    for (const target of options.trapReceivers === false ? [] : inventory.snmp.traps) {
      // The lab's receiver decodes v1/v2c only (docs/snmp.md): a loopback v3 receiver must be a real one (snmptrapd).
      if (!isLoopback(target.host) || target.version === 3) continue
      const community = target.community ?? (target.community_env ? env[target.community_env] : undefined)
      const receiver = new TrapReceiver({host: target.host, port: target.port, ...(community === undefined ? {} : {community})})
      receiver.on('trap', (t) => onTrap(describeTrap(t)))
      receivers.push(receiver)
      await receiver.start()
    }
  } catch (error) {
    await stop()
    throw error
  }
  const hostKeys = new Map<string, HostKeySource>(switches.map((s, i) => [inventory.devices[i]!.name, {kind: 'fingerprint', fingerprint: s.hostKeyFingerprint}]))
  return {switches, receivers, hostKeys, env: labEnv, simulates: dialectFor(platform)?.platform ?? 'Catalyst 9000', stop}
}
