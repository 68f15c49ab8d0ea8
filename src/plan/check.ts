/**
 * `chainup plan --check` (and `upgrade --dry-run`): connects to every device at once (host keys verified as in a run)
 * and asks each what a run would ask during readiness. It sends only the playbook's `facts` command, its `readiness`
 * steps and, with `on_failure: rollback`, its `rollback_readiness` steps: read-only by definition (docs/playbook.md).
 * Never an upgrade step, a compensating action or a gate's device command, whatever they hold. Nothing is journaled.
 */
import {expandTemplate, type TemplateVars} from '../config/template.js'
import type {DeviceEntry, Inventory, Playbook, PlaybookStep} from '../config/types.js'
import {checkOutput} from '../device/checks.js'
import {parseFacts} from '../device/facts.js'
import {hostKeyFor, type HostKeySource} from '../device/known-hosts.js'
import {ConnectError, connectDevice, type Credentials, type DeviceConnection, type Dialer} from '../device/ssh-session.js'
import {errorMessage} from '../util/text.js'
import {previousOf} from './build.js'
import type {CheckedStep, DeviceCheck} from './types.js'

/** What {@link checkDevices} needs to reach the devices. */
export interface CheckOptions {
  credentials: Credentials
  /** Host keys to verify against instead of the inventory's (the lab's simulators). */
  hostKeys?: ReadonlyMap<string, HostKeySource>
  /** Opens SSH sessions. @default connectDevice (ssh2, host key verified) */
  dial?: Dialer
}

/** `IOS/NX-OS dir`: "1621966848 bytes total (1041379328 bytes free)". */
const FREE_BYTES = /(\d+) bytes free/

/** A check that learned nothing. */
const UNCHECKED: DeviceCheck = {reachable: false, host_key: null, version: null, needs_upgrade: null, image_present: null, free_bytes: null, rollback_ready: null, error: null, readiness: []}

/** At most this many devices are checked at once (an inventory may hold 1000). */
export const CHECK_CONCURRENCY = 64

/**
 * Checks every device in parallel, at most {@link CHECK_CONCURRENCY} at once; never throws for a device's problem (it
 * is in that device's `error`).
 * @returns each device's check by name, in chain order
 */
export async function checkDevices(inventory: Inventory, playbook: Playbook, opts: CheckOptions): Promise<Map<string, DeviceCheck>> {
  const results: DeviceCheck[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < inventory.devices.length) {
      const i = next++
      results[i] = await checkDevice(inventory, playbook, inventory.devices[i]!, opts).catch((error: unknown) => ({...UNCHECKED, error: errorMessage(error), readiness: []}))
    }
  }
  await Promise.all(Array.from({length: Math.min(CHECK_CONCURRENCY, inventory.devices.length)}, worker))
  return new Map(inventory.devices.map((d, i) => [d.name, results[i]!]))
}

/** One device's check: connect, facts, readiness steps, rollback readiness; stops at the first command that fails to run. */
export async function checkDevice(inventory: Inventory, playbook: Playbook, device: DeviceEntry, opts: CheckOptions): Promise<DeviceCheck> {
  const check: DeviceCheck = {...UNCHECKED, readiness: []}
  const vars: TemplateVars = {stack: inventory.stack, target: inventory.target, device: {name: device.name, host: device.host}}
  const t = inventory.timeouts
  let session: DeviceConnection
  try {
    session = await (opts.dial ?? connectDevice)({
      device: device.name,
      host: device.host,
      port: device.port,
      credentials: opts.credentials,
      hostKey: opts.hostKeys?.get(device.name) ?? hostKeyFor(inventory, device.name),
      timeoutMs: t.connect,
      maxOutputBytes: inventory.ssh.max_output_bytes,
    })
  } catch (error) {
    const kind = error instanceof ConnectError ? error.kind : 'unreachable'
    check.reachable = kind === 'host_key' || kind === 'auth'
    if (kind === 'host_key') check.host_key = /: unknown host key /.test(errorMessage(error)) ? 'unknown' : 'mismatch'
    else if (kind === 'auth') check.host_key = 'ok'
    check.error = errorMessage(error)
    return check
  }
  check.reachable = true
  check.host_key = 'ok'
  try {
    // facts: the version, as readiness reads it
    const factsCommand = expandTemplate(playbook.facts.command, vars, 'text')
    const re = (p: string | undefined) => (p === undefined ? undefined : expandTemplate(p, vars, 'regex'))
    const facts = {command: factsCommand, version: re(playbook.facts.version)!, ...(playbook.facts.uptime ? {uptime: re(playbook.facts.uptime)!} : {}), ...(playbook.facts.restarted_at ? {restarted_at: re(playbook.facts.restarted_at)!} : {})}
    try {
      const result = await session.exec(factsCommand, t.command)
      check.version = parseFacts(result.output, facts, device.name).version
      check.readiness.push({name: 'facts', command: factsCommand, ok: true, problem: null})
    } catch (error) {
      check.readiness.push({name: 'facts', command: factsCommand, ok: false, problem: errorMessage(error)})
      check.error = `facts: ${errorMessage(error)}`
      return check
    }
    check.needs_upgrade = !(playbook.skip_if_on_target && check.version === inventory.target.version)
    const known: TemplateVars = {...vars, previous: previousOf(inventory, check.version)}
    const patterns = {errorPatterns: playbook.error_patterns.map((p) => expandTemplate(p, known, 'regex')), expand: (p: string) => expandTemplate(p, known, 'regex')}
    const run = async (step: PlaybookStep): Promise<CheckedStep> => {
      const command = expandTemplate(step.command, known, 'text')
      try {
        const result = await session.exec(command, step.timeout ?? t.command)
        if (check.free_bytes === null) {
          const free = FREE_BYTES.exec(result.output)?.[1]
          if (free !== undefined) check.free_bytes = Number(free)
        }
        const problem = result.dropped ? `connection dropped during "${command}"` : (checkOutput(step, result.output, result.exitCode, patterns) ?? null)
        return {name: step.name, command, ok: problem === null, problem}
      } catch (error) {
        return {name: step.name, command, ok: false, problem: errorMessage(error)}
      }
    }
    const image: boolean[] = []
    for (const step of playbook.readiness) {
      const r = await run(step)
      check.readiness.push(r)
      if (step.expect?.replace(/\s+/g, '').includes('{{target.image}}')) image.push(r.ok)
    }
    if (image.length > 0) check.image_present = image.every(Boolean)
    if (inventory.on_failure === 'rollback') {
      const rollback: boolean[] = []
      for (const step of playbook.rollback_readiness) {
        const r = await run(step)
        check.readiness.push(r)
        rollback.push(r.ok)
      }
      check.rollback_ready = rollback.every(Boolean)
    }
    const failed = check.readiness.find((r) => !r.ok)
    if (failed) check.error = `${failed.name}: ${failed.problem}`
    return check
  } finally {
    session.close()
  }
}

/** A device passed `--check`: reachable, host key ok, version read, every readiness command passed. */
export function checkPassed(check: DeviceCheck): boolean {
  return check.reachable && check.host_key === 'ok' && check.version !== null && check.error === null
}
