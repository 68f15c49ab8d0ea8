/**
 * `chainup validate FILE`: checks an inventory (and the playbook it names) or a playbook on its own.
 * Detection: a YAML mapping with a `devices` key is an inventory, anything else a playbook.
 */
import {readFile} from 'node:fs/promises'

import {parse} from 'yaml'

import {loadPlaybook, loadStack} from '../config/load.js'
import type {Inventory} from '../config/types.js'

/** `devices:` as a key at the start of a line (a top-level key of a block mapping), plain or quoted. */
const TOP_LEVEL_DEVICES = /^(?:devices|"devices"|'devices')[ \t]*:/m

/**
 * @returns one summary line per file checked
 * @throws InputError (exit 2) listing every problem as `file:line:col path: message`
 */
export async function validateCommand(file: string): Promise<string[]> {
  let kind: 'inventory' | 'playbook' = 'playbook'
  try {
    const text = await readFile(file, 'utf8')
    // A block mapping's top-level `devices:` decides without a second YAML parse (the loader parses it anyway; a
    // cold parse of a 100-device file costs ~50 ms of start-up, issue #12); anything unusual is parsed to be sure.
    if (TOP_LEVEL_DEVICES.test(text)) kind = 'inventory'
    else if (text.includes('devices')) {
      const doc: unknown = parse(text)
      if (doc && typeof doc === 'object' && 'devices' in doc) kind = 'inventory'
    }
  } catch {
    // Unreadable or not YAML: let the inventory loader report it with its position.
    kind = 'inventory'
  }
  if (kind === 'playbook') {
    const playbook = await loadPlaybook(file)
    return [`${file}: valid playbook "${playbook.name}" (${playbook.readiness.length} readiness steps, ${playbook.upgrade.length} upgrade steps, ${gateCount(playbook.gates)} gates)`]
  }
  const {inventory, playbook} = await loadStack(file)
  return [
    `${file}: valid inventory for stack ${inventory.stack}: ${inventory.devices.map((d) => d.name).join(' -> ')} to ${inventory.target.version}`,
    `${file}: ChainSync links: ${linkSecurity(inventory)}`,
    ...insecureSettings(inventory).map((line) => `${file}: warning: ${line}`),
    `${playbook.file}: valid playbook "${playbook.name}"`,
  ]
}

/** How the run's ChainSync links will be secured (run/transport.ts), in one phrase. */
function linkSecurity(inventory: Inventory): string {
  const cs = inventory.chainsync
  if (cs.insecure_plain_tcp) return 'plain TCP, NOT authenticated (chainsync.insecure_plain_tcp)'
  if (cs.tls?.psk_file) return `TLS 1.3 with pre-shared keys from ${cs.tls.psk_file}`
  if (cs.tls) return `TLS 1.3 with mutual certificate authentication (CA ${cs.tls.ca})`
  return 'TLS 1.3 with random per-run pre-shared keys (every node in this process)'
}

/** Settings this inventory accepts that weaken chainup's defaults, each with what it means (docs/security.md). */
export function insecureSettings(inventory: Inventory): string[] {
  const out: string[] = []
  if (inventory.chainsync.insecure_plain_tcp) {
    out.push('chainsync.insecure_plain_tcp: true: anyone who can reach a node port can send READY/START/ABORT and make a device reload out of order or report a forged veto; use only with draft-only peers on a network you trust')
  }
  if (!inventory.chainsync.extensions) {
    out.push('chainsync.extensions: false: without heartbeats and EXECUTING a dead predecessor is noticed only by TCP keepalive and the predecessor timeout is measured from WATCH, not from its start')
  }
  return out
}

function gateCount(g: {before: unknown[]; after: unknown[]; on_error: unknown[]; final: unknown[]}): number {
  return g.before.length + g.after.length + g.on_error.length + g.final.length
}
