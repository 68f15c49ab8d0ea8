/**
 * The ChainSync transport of each node this process runs (docs/security.md, docs/chainsync-security.md):
 * - no `chainsync.tls` and every node in this process (embedded, the default): TLS 1.3 with a fresh random PSK per
 *   node for this run only; each node's transport holds its own key and its successor's (the link keys are derived
 *   per link), and the keys never leave the process;
 * - `chainsync.tls`: TLS 1.3 with mutual authentication from the configured certificates (`cert_dir`, as
 *   `chainup certs init` writes them) or PSK file;
 * - `chainsync.insecure_plain_tcp: true`: plain TCP, nothing authenticated (interop with draft-only peers only).
 * Nodes in other processes cannot share per-run keys: the loader refuses a chain with remote devices without
 * `chainsync.tls` or the explicit opt-in.
 */
import {randomBytes} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Inventory} from '../config/types.js'
import {InputError} from '../errors.js'
import type {ChainSyncTransport} from '../protocol/transport.js'

/** How this process's ChainSync links are secured. */
export type LinkSecurity = 'tls-psk-per-run' | 'tls-cert' | 'tls-psk-file' | 'insecure-plain-tcp'

export interface RunTransports {
  security: LinkSecurity
  /** The transport of a local device's node; undefined only for insecure plain TCP. */
  transportFor(device: string): ChainSyncTransport | undefined
  /** Problems worth a warning (printed and journaled by the caller). */
  warnings: string[]
}

/** Bytes of each per-run PSK (256 bits). */
const PER_RUN_KEY_BYTES = 32

/**
 * Builds the transports of the given local devices.
 * @param local the devices whose nodes run in this process
 * @throws InputError (exit 2) when a certificate, key or PSK entry is missing, or when nodes in other processes
 *   would need per-run keys (no `chainsync.tls` and no opt-in)
 */
export async function runTransports(inventory: Inventory, local: readonly string[]): Promise<RunTransports> {
  const cs = inventory.chainsync
  if (cs.insecure_plain_tcp) {
    return {
      security: 'insecure-plain-tcp',
      transportFor: () => undefined,
      warnings: ['chainsync.insecure_plain_tcp: ChainSync links are plain TCP and not authenticated: anyone who can reach a node port can steer this run (docs/security.md)'],
    }
  }
  const {tlsTransport} = await import('../protocol/tls.js')
  const names = inventory.devices.map((d) => d.name)
  const successorOf = (name: string) => names[names.indexOf(name) + 1]
  if (!cs.tls) {
    if (local.length !== names.length) {
      throw new InputError(`${inventory.file} chainsync: nodes in other processes need authenticated links from configuration: set chainsync.tls, or chainsync.insecure_plain_tcp: true`, {
        code: 'CHAINSYNC_UNAUTHENTICATED',
        hint: 'see docs/chainsync-security.md for certificates (chainup certs init) or a PSK file',
      })
    }
    // One random key per node for this run only; a node's transport gets its own key and its successor's.
    const keys = new Map(names.map((n) => [n, randomBytes(PER_RUN_KEY_BYTES)]))
    const transports = new Map(
      names.map((n) => {
        const succ = successorOf(n)
        return [n, tlsTransport({self: n, psk: {keys: {[n]: keys.get(n)!, ...(succ ? {[succ]: keys.get(succ)!} : {})}}})]
      }),
    )
    return {security: 'tls-psk-per-run', transportFor: (d) => transports.get(d), warnings: []}
  }
  const tls = cs.tls
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
  const warnings: string[] = []
  const transports = new Map<string, ChainSyncTransport>()
  if (tls.psk_file) {
    const all = parsePskFile(read(tls.psk_file, 'psk_file'), tls.psk_file)
    // A process needs its nodes' keys and their successors'; any other key lets this host impersonate that node.
    const needed = new Set(local.flatMap((n) => [n, successorOf(n)].filter((x): x is string => x !== undefined)))
    const extra = [...all.keys()].filter((k) => !needed.has(k))
    if (extra.length > 0) {
      warnings.push(`${tls.psk_file} holds the keys of ${extra.join(', ')}, which this process does not need: give each host a file with only its own nodes' and their successors' keys (docs/chainsync-security.md)`)
    }
    for (const n of local) {
      if (!all.has(n)) throw new InputError(`${tls.psk_file}: no key for ${n}`, {code: 'TLS_PSK'})
      const succ = successorOf(n)
      const keys: Record<string, Buffer> = {[n]: all.get(n)!}
      if (succ && all.has(succ)) keys[succ] = all.get(succ)!
      transports.set(n, tlsTransport({self: n, psk: {keys}}))
    }
    return {security: 'tls-psk-file', transportFor: (d) => transports.get(d), warnings}
  }
  for (const n of local) {
    transports.set(
      n,
      tlsTransport({
        self: n,
        ca: read(tls.ca!, 'ca'),
        cert: read(join(tls.cert_dir!, `${n}.crt`), 'cert_dir'),
        key: read(join(tls.cert_dir!, `${n}.key`), 'cert_dir'),
        ...(tls.pins ? {pins: tls.pins} : {}),
      }),
    )
  }
  return {security: 'tls-cert', transportFor: (d) => transports.get(d), warnings}
}

/** `name: hexkey` lines (at least 16 bytes of key); `#` comments and blank lines ignored. @throws InputError */
function parsePskFile(content: Buffer, file: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>()
  for (const raw of content.toString('utf8').split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*:\s*([0-9a-fA-F]{32,})$/.exec(line)
    if (!m) throw new InputError(`${file}: expected "name: hexkey" lines (at least 16 bytes of key)`, {code: 'TLS_PSK'})
    keys.set(m[1]!, Buffer.from(m[2]!, 'hex'))
  }
  return keys
}
