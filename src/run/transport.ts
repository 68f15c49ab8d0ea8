/**
 * The ChainSync transport an inventory asks for: plain TCP, or TLS 1.3 with mutual authentication from
 * `chainsync.tls` (certificates from `cert_dir` as `chainup certs init` writes them, or a PSK file).
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Inventory} from '../config/types.js'
import {InputError} from '../errors.js'
import type {ChainSyncTransport} from '../protocol/transport.js'

/**
 * @param self the device whose node uses the transport
 * @returns undefined for plain TCP
 * @throws InputError (exit 2) when a certificate, key or PSK entry for `self` is missing
 */
export async function chainsyncTransport(inventory: Inventory, self: string): Promise<ChainSyncTransport | undefined> {
  const tls = inventory.chainsync.tls
  if (!tls) return undefined
  const {tlsTransport} = await import('../protocol/tls.js')
  const read = (file: string, field: string) => {
    try {
      return readFileSync(file)
    } catch (error) {
      throw new InputError(`${inventory.file} chainsync.tls.${field}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
        code: 'TLS_FILE',
        hint: 'Create the CA and one certificate per device with: chainup certs init DIR --inventory FILE',
      })
    }
  }
  if (tls.psk_file) {
    const keys: Record<string, Buffer> = {}
    for (const raw of read(tls.psk_file, 'psk_file').toString('utf8').split('\n')) {
      const line = raw.trim()
      if (!line || line.startsWith('#')) continue
      const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*:\s*([0-9a-fA-F]{32,})$/.exec(line)
      if (!m) throw new InputError(`${tls.psk_file}: expected "name: hexkey" lines (at least 16 bytes of key)`, {code: 'TLS_PSK'})
      keys[m[1]!] = Buffer.from(m[2]!, 'hex')
    }
    if (!keys[self]) throw new InputError(`${tls.psk_file}: no key for ${self}`, {code: 'TLS_PSK'})
    return tlsTransport({self, psk: {keys}})
  }
  return tlsTransport({
    self,
    ca: read(tls.ca!, 'ca'),
    cert: read(join(tls.cert_dir!, `${self}.crt`), 'cert_dir'),
    key: read(join(tls.cert_dir!, `${self}.key`), 'cert_dir'),
    ...(tls.pins ? {pins: tls.pins} : {}),
  })
}
