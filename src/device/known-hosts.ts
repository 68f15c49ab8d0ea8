/**
 * Host key verification against an OpenSSH known_hosts file or a `SHA256:` fingerprint
 * (the form `ssh-keygen -lf` prints). chainup never accepts an unknown or changed key.
 */
import {createHash, createHmac, randomBytes} from 'node:crypto'
import {closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'

import type {Inventory} from '../config/types.js'

/** `SHA256:` + unpadded base64 of the SHA-256 of the key blob, exactly as `ssh-keygen -lf` prints it. */
export function fingerprintOf(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')
}

export interface KnownHostKey {
  /** Key type, e.g. `ssh-ed25519`. */
  type: string
  /** The raw key blob (what the server sends). */
  blob: Buffer
}

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
function hostPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`
}

function matchesHost(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    // Hashed entry: |1|base64(salt)|base64(HMAC-SHA1(salt, name))
    const [, , salt, hash] = field.split('|')
    if (!salt || !hash) return false
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash
  }
  let matched = false
  for (const pattern of field.split(',')) {
    const negated = pattern.startsWith('!')
    const p = negated ? pattern.slice(1) : pattern
    const re = new RegExp('^' + p.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.').replace(/\[/g, '\\[').replace(/\]/g, '\\]') + '$')
    if (re.test(name)) {
      if (negated) return false
      matched = true
    }
  }
  return matched
}

/**
 * The keys a known_hosts file lists for host:port (markers `@revoked` entries are returned separately).
 * @throws Error when the file cannot be read.
 */
export function lookupKnownHosts(file: string, host: string, port: number): {keys: KnownHostKey[]; revoked: KnownHostKey[]} {
  const text = readFileSync(file, 'utf8')
  const name = hostPattern(host, port)
  const keys: KnownHostKey[] = []
  const revoked: KnownHostKey[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const fields = line.split(/\s+/)
    let marker: string | undefined
    if (fields[0]?.startsWith('@')) marker = fields.shift()
    const [hosts, type, b64] = fields
    if (!hosts || !type || !b64) continue
    if (!matchesHost(hosts, name)) continue
    const entry = {type, blob: Buffer.from(b64, 'base64')}
    if (marker === '@revoked') revoked.push(entry)
    else if (marker === undefined) keys.push(entry)
  }
  return {keys, revoked}
}

/** The key type an SSH public key blob names (its first string, RFC 4253 §6.6), e.g. `ssh-ed25519`. */
export function keyTypeOf(blob: Buffer): string {
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : 0
  return length > 0 && length <= 64 && blob.length >= 4 + length ? blob.subarray(4, 4 + length).toString('latin1') : 'unknown'
}

/**
 * Replaces the keys a known_hosts file lists for host:port with `blob` (`host_key_policy: repin-after-reload`, after
 * the device's own reload): every plain or hashed line for that host (not `@revoked` / `@cert-authority` lines) is
 * dropped, one `[host]:port type base64` line is appended. The file is replaced atomically: written to a temporary
 * file beside it (same mode), fsynced, then renamed over it, so a crash leaves either the old or the new file.
 * @returns the fingerprints of the keys it replaced
 * @throws Error when the file cannot be read or written
 */
export function repinKnownHosts(file: string, host: string, port: number, blob: Buffer): string[] {
  const text = readFileSync(file, 'utf8')
  const name = hostPattern(host, port)
  const replaced: string[] = []
  const kept: string[] = []
  for (const raw of text.split('\n')) {
    const fields = raw.trim().split(/\s+/)
    const plain = raw.trim() !== '' && !raw.trim().startsWith('#') && !fields[0]!.startsWith('@')
    if (plain && fields.length >= 3 && matchesHost(fields[0]!, name)) {
      replaced.push(fingerprintOf(Buffer.from(fields[2]!, 'base64')))
      continue
    }
    kept.push(raw)
  }
  while (kept.length > 0 && kept.at(-1) === '') kept.pop()
  kept.push(`${name} ${keyTypeOf(blob)} ${blob.toString('base64')}`, '')
  const temp = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  const fd = openSync(temp, 'wx', statSync(file).mode & 0o777)
  try {
    writeSync(fd, kept.join('\n'))
    fsyncSync(fd)
  } catch (error) {
    closeSync(fd)
    unlinkSync(temp)
    throw error
  }
  closeSync(fd)
  renameSync(temp, file)
  return replaced
}

/** Where a device's expected host key comes from. */
export type HostKeySource = {kind: 'fingerprint'; fingerprint: string} | {kind: 'known_hosts'; file: string}

/**
 * Builds the check for one device. `verify(blob)` returns undefined when the key is the expected one,
 * or the reason it is refused (unknown host, changed key, revoked key).
 * `algorithms` lists the key types to ask the server for (those known_hosts has), or undefined for any.
 */
export function hostKeyCheck(source: HostKeySource, host: string, port: number): {verify: (blob: Buffer) => string | undefined; algorithms: string[] | undefined} {
  if (source.kind === 'fingerprint') {
    return {
      algorithms: undefined,
      verify: (blob) => {
        const got = fingerprintOf(blob)
        return got === source.fingerprint ? undefined : `host key changed: expected ${source.fingerprint}, the device offered ${got}`
      },
    }
  }
  const {keys, revoked} = lookupKnownHosts(source.file, host, port)
  return {
    algorithms: keys.length > 0 ? [...new Set(keys.map((k) => k.type))] : undefined,
    verify: (blob) => {
      if (revoked.some((k) => k.blob.equals(blob))) return `host key ${fingerprintOf(blob)} is marked @revoked in ${source.file}`
      if (keys.length === 0) return `unknown host key ${fingerprintOf(blob)}: ${hostPattern(host, port)} is not in ${source.file}`
      if (keys.some((k) => k.blob.equals(blob))) return undefined
      return `host key changed: ${hostPattern(host, port)} offered ${fingerprintOf(blob)}, ${source.file} lists ${keys.map((k) => fingerprintOf(k.blob)).join(', ')}`
    },
  }
}

/**
 * The host key source the inventory gives a device: its own `host_key` fingerprint, else `ssh.known_hosts`.
 * @throws Error when it has neither (the inventory loader refuses such an inventory, so this is a bug)
 */
export function hostKeyFor(inventory: Inventory, device: string): HostKeySource {
  const entry = inventory.devices.find((d) => d.name === device)
  if (entry?.host_key) return {kind: 'fingerprint', fingerprint: entry.host_key}
  if (inventory.ssh.known_hosts) return {kind: 'known_hosts', file: inventory.ssh.known_hosts}
  throw new Error(`${device}: no host key source (the inventory loader should have refused this)`)
}
