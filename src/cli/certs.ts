/**
 * `chainup certs init DIR --inventory FILE`: a CA and one certificate per device of the inventory, for
 * `chainsync.tls` (docs/chainsync-security.md).
 */
import {loadInventory} from '../config/load.js'
import {fingerprint256, initCerts} from '../protocol/certs.js'

/**
 * @returns lines to print: the files written and each certificate's SHA-256 fingerprint (for `chainsync.tls.pins`)
 * @throws InputError for a bad inventory, or when the files exist and `force` is not set
 */
export async function certsInitCommand(opts: {dir: string; inventoryPath: string; days?: number; force?: boolean}): Promise<string[]> {
  const inventory = await loadInventory(opts.inventoryPath)
  const names = inventory.devices.map((d) => d.name)
  const bundle = await initCerts(opts.dir, names, {...(opts.days === undefined ? {} : {days: opts.days}), ...(opts.force === undefined ? {} : {force: opts.force})})
  return [
    `wrote ${opts.dir}/ca.crt, ca.key and a certificate + key for ${names.join(', ')}`,
    'SHA-256 fingerprints (for chainsync.tls.pins):',
    ...names.map((n) => `  ${n}: "${fingerprint256(bundle.nodes[n]!.cert)}"`),
    `Set in the inventory: chainsync: { tls: { ca: ${opts.dir}/ca.crt, cert_dir: ${opts.dir} } }, and keep ca.key offline.`,
  ]
}
