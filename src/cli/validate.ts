/**
 * `chainup validate FILE`: checks an inventory (and the playbook it names) or a playbook on its own.
 * Detection: a YAML mapping with a `devices` key is an inventory, anything else a playbook.
 */
import {readFile} from 'node:fs/promises'

import {parse} from 'yaml'

import {loadPlaybook, loadStack} from '../config/load.js'

/**
 * @returns one summary line per file checked
 * @throws InputError (exit 2) listing every problem as `file:line:col path: message`
 */
export async function validateCommand(file: string): Promise<string[]> {
  let kind: 'inventory' | 'playbook' = 'playbook'
  try {
    const doc: unknown = parse(await readFile(file, 'utf8'))
    if (doc && typeof doc === 'object' && 'devices' in doc) kind = 'inventory'
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
    `${playbook.file}: valid playbook "${playbook.name}"`,
  ]
}

function gateCount(g: {before: unknown[]; after: unknown[]; on_error: unknown[]; final: unknown[]}): number {
  return g.before.length + g.after.length + g.on_error.length + g.final.length
}
