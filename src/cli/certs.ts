/**
 * `chainup certs init DIR --inventory FILE`: a CA and one certificate per device of the inventory, for
 * `chainsync.tls` (docs/chainsync-security.md).
 *
 * It needs only the inventory's device names, so the inventory may already name the files it is about to write
 * (`chainsync.tls: {ca: ./pki/ca.crt, cert_dir: ./pki}`, as docs/inventory.md says to write it first): those are the
 * only paths allowed not to exist yet; every other rule of the inventory still applies.
 */
import {dirname, isAbsolute, join, relative, resolve, sep} from 'node:path'

import {loadInventory} from '../config/load.js'
import type {Inventory} from '../config/types.js'
import {fingerprint256, initCerts} from '../protocol/certs.js'
import {shellWord} from '../util/shell.js'

/** What `certs init` did, for the command to print. */
export interface CertsInitOutput {
  /** Lines for stdout: the inventory fields used, the files written, each certificate's SHA-256 fingerprint. */
  lines: string[]
  /** `warning: …` lines for stderr: the inventory's `chainsync.tls` names other files than the ones written. */
  warnings: string[]
}

/**
 * @returns the lines to print (see {@link CertsInitOutput})
 * @throws InputError for a bad inventory (exit 2; the `chainsync.tls` files may be missing), or when the files exist
 *   and `force` is not set
 */
export async function certsInitCommand(opts: {dir: string; inventoryPath: string; days?: number; force?: boolean}): Promise<CertsInitOutput> {
  const inventory = await loadInventory(opts.inventoryPath, {tlsFilesMayBeMissing: true})
  const names = inventory.devices.map((d) => d.name)
  const bundle = await initCerts(opts.dir, names, {...(opts.days === undefined ? {} : {days: opts.days}), ...(opts.force === undefined ? {} : {force: opts.force})})
  const {lines: tlsLines, warnings} = tlsFields(inventory, opts.dir, opts.inventoryPath)
  return {
    lines: [
      `inventory ${opts.inventoryPath}: stack "${inventory.stack}", devices[].name: ${names.join(', ')}`,
      `wrote ${opts.dir}/ca.crt, ca.key and a certificate + key for ${names.join(', ')}`,
      'SHA-256 fingerprints (for chainsync.tls.pins):',
      ...names.map((n) => `  ${n}: "${fingerprint256(bundle.nodes[n]!.cert)}"`),
      ...tlsLines,
    ],
    warnings,
  }
}

/** What the inventory's `chainsync.tls` says about DIR: it names the files just written, other files, or none. */
function tlsFields(inventory: Inventory, dir: string, inventoryPath: string): CertsInitOutput {
  const tls = inventory.chainsync.tls
  const wrote = {ca: resolve(dir, 'ca.crt'), cert_dir: resolve(dir)}
  const set = `chainsync: { tls: { ca: ${shown(wrote.ca, inventory)}, cert_dir: ${shown(wrote.cert_dir, inventory)} } }`
  const keepOffline = `keep ${join(dir, 'ca.key')} offline once every node has its certificate.`
  if (tls === undefined) return {lines: [`${inventoryPath} has no chainsync.tls: set ${set} in it, and ${keepOffline}`], warnings: []}
  if (tls.psk_file !== undefined) {
    return {lines: [], warnings: [`warning: ${inventoryPath} chainsync.tls.psk_file is set: its nodes use pre-shared keys, not these certificates (for certificates replace psk_file with ca + cert_dir: ${set})`]}
  }
  const named = {ca: tls.ca, cert_dir: tls.cert_dir}
  const fields = `chainsync.tls.ca ${named.ca === undefined ? '(not set)' : shown(named.ca, inventory)}, cert_dir ${named.cert_dir === undefined ? '(not set)' : shown(named.cert_dir, inventory)}`
  if (named.ca === wrote.ca && named.cert_dir === wrote.cert_dir) return {lines: [`${inventoryPath} ${fields}: the files written now; ${keepOffline}`], warnings: []}
  // The inventory's layout is certs init's own (ca.crt inside cert_dir): DIR was simply another directory.
  const rerun = named.cert_dir !== undefined && named.ca === join(named.cert_dir, 'ca.crt') ? `, or write them where it points: chainup certs init ${shellWord(relative(process.cwd(), named.cert_dir) || '.')} --inventory ${shellWord(inventoryPath)}` : ''
  return {lines: [], warnings: [`warning: ${inventoryPath} ${fields}: not the files written now, so its nodes will not use them; set ${set}${rerun}`]}
}

/** `path` as the inventory would write it: relative to the inventory's directory (`./pki`, `../pki`). */
function shown(path: string, inventory: Inventory): string {
  const rel = relative(dirname(inventory.file), path)
  if (rel === '') return '.'
  if (isAbsolute(rel)) return path
  return rel.split(sep)[0] === '..' ? rel : `.${sep}${rel}`
}
