/**
 * A small private CA for ChainSync over TLS (docs/chainsync-security.md "Certificates"): one CA, one
 * certificate per node with CN = DNS SAN = the node name, ECDSA P-256 keys by default.
 * Built on @peculiar/x509 (loaded on first use, so commands that never make certificates do not pay for it).
 */
import {X509Certificate} from 'node:crypto'
import {chmod, lstat, mkdir, unlink, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {InputError} from '../errors.js'

/** Node names a certificate can carry: the inventory's device-name pattern (src/config/common.ts NAME_PATTERN). */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** Key algorithms {@link initCerts} can issue. Both work with Node's TLS 1.3 here; P-256 is the widely interoperable one. */
export const CertKeyType = {
  /** ECDSA on P-256, signatures with SHA-256 (the default). */
  ecdsaP256: 'ecdsa-p256',
  /** Ed25519 (needs OpenSSL ≥ 1.1.1 on every peer). */
  ed25519: 'ed25519',
} as const
export type CertKeyType = (typeof CertKeyType)[keyof typeof CertKeyType]

export interface InitCertsOptions {
  /** Validity of the CA and of every node certificate, days from now. @default 365 */
  days?: number
  /** Replace existing files (a new CA: every node then needs its new certificate). @default false */
  force?: boolean
  /** Key algorithm of the CA and the nodes. @default 'ecdsa-p256' */
  keyType?: CertKeyType
}

/** PEM texts written by {@link initCerts}. */
export interface CertBundle {
  /** The CA certificate (`ca.crt`), to give every node as its trust anchor. */
  ca: string
  /** Per node name: its certificate (`<name>.crt`) and PKCS#8 private key (`<name>.key`). */
  nodes: Record<string, {cert: string; key: string}>
}

/** Clock skew tolerated between the machine that issues and the nodes that verify, ms. */
const BACKDATE_MS = 5 * 60_000

/**
 * Creates a CA and one certificate per node in `dir`: `ca.crt`, `ca.key`, `<name>.crt`, `<name>.key`.
 * Keys are written with mode 0600 (created so, never widened), the directory is made 0700.
 * Node certificates: CN = DNS SAN = the node name, EKU serverAuth + clientAuth (a node is both listener and dialer).
 * The CA: basicConstraints CA:true (critical, pathLen 0), keyUsage keyCertSign + cRLSign.
 * @throws InputError `CERTS_INVALID_NAME` for a name outside the device-name pattern, a duplicate, or `ca`;
 *   `CERTS_EXIST` when any of the files exists and `force` is not set (nothing is written then).
 */
export async function initCerts(dir: string, nodeNames: string[], opts: InitCertsOptions = {}): Promise<CertBundle> {
  const days = opts.days ?? 365
  if (!Number.isInteger(days) || days < 1) throw new InputError(`certificate validity must be a whole number of days ≥ 1, got ${days}`, {code: 'CERTS_INVALID_DAYS'})
  checkNames(nodeNames)
  const files = ['ca.crt', 'ca.key', ...nodeNames.flatMap((n) => [`${n}.crt`, `${n}.key`])]

  await mkdir(dir, {recursive: true, mode: 0o700})
  await chmod(dir, 0o700)
  const existing: string[] = []
  for (const f of files) if (await exists(join(dir, f))) existing.push(f)
  if (existing.length > 0 && !opts.force) {
    throw new InputError(`${dir} already holds ${existing.join(', ')}: refusing to overwrite ${existing.includes('ca.key') || existing.includes('ca.crt') ? 'the existing CA' : 'existing certificates'}`, {
      code: 'CERTS_EXIST',
      hint: 'use another directory, or force to replace them (every node then needs its new certificate and the new ca.crt)',
    })
  }

  const x509 = await loadX509()
  // WebCrypto of Node (globalThis.crypto), which is also @peculiar/x509's default provider.
  const subtle = globalThis.crypto.subtle
  const {keyAlg, signingAlgorithm} = algorithms(opts.keyType ?? CertKeyType.ecdsaP256)
  const notBefore = new Date(Date.now() - BACKDATE_MS)
  const notAfter = new Date(Date.now() + days * 86_400_000)

  const caKeys = (await subtle.generateKey(keyAlg, true, ['sign', 'verify'])) as CryptoKeyPair
  const caCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: [{CN: ['chainup ChainSync CA']}],
      keys: caKeys,
      signingAlgorithm,
      notBefore,
      notAfter,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
      ],
    },
  )
  const bundle: CertBundle = {ca: pemText(caCert.toString('pem')), nodes: {}}
  const out: Array<[file: string, text: string, mode: number]> = [
    ['ca.crt', bundle.ca, 0o644],
    ['ca.key', await pkcs8Pem(caKeys.privateKey), 0o600],
  ]
  for (const name of nodeNames) {
    const keys = (await subtle.generateKey(keyAlg, true, ['sign', 'verify'])) as CryptoKeyPair
    const cert = await x509.X509CertificateGenerator.create(
      {
        subject: [{CN: [name]}],
        issuer: caCert.subject,
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        signingAlgorithm,
        notBefore,
        notAfter,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
          new x509.SubjectAlternativeNameExtension([{type: 'dns', value: name}]),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
          await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
        ],
      },
    )
    const entry = {cert: pemText(cert.toString('pem')), key: await pkcs8Pem(keys.privateKey)}
    bundle.nodes[name] = entry
    out.push([`${name}.crt`, entry.cert, 0o644], [`${name}.key`, entry.key, 0o600])
  }

  for (const [file, text, mode] of out) {
    const path = join(dir, file)
    if (opts.force) await unlink(path).catch(() => undefined)
    // 'wx': created here with its mode from the first byte; never follows a planted file or link.
    await writeFile(path, text, {mode, flag: 'wx'})
  }
  return bundle
}

/** The certificate's SHA-256 fingerprint exactly as Node prints `fingerprint256` (`AB:CD:…`, upper case). */
export function fingerprint256(certPem: string | Buffer): string {
  return new X509Certificate(certPem).fingerprint256
}

function checkNames(names: readonly string[]): void {
  const problems: string[] = []
  const seen = new Set<string>()
  if (names.length === 0) problems.push('no node names given')
  for (const name of names) {
    if (!NODE_NAME.test(name)) problems.push(`"${name}": expected letters, digits, ".", "_" or "-", starting with a letter or digit, at most 64 characters`)
    else if (name === 'ca') problems.push('"ca": reserved for the CA files (ca.crt, ca.key)')
    else if (seen.has(name)) problems.push(`"${name}": duplicate node name`)
    seen.add(name)
  }
  if (problems.length > 0) throw new InputError('cannot issue node certificates', {code: 'CERTS_INVALID_NAME', problems})
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch {
    return false
  }
}

function algorithms(keyType: CertKeyType): {keyAlg: EcKeyGenParams | Algorithm; signingAlgorithm: EcdsaParams | Algorithm} {
  switch (keyType) {
    case CertKeyType.ecdsaP256:
      return {keyAlg: {name: 'ECDSA', namedCurve: 'P-256'} as EcKeyGenParams, signingAlgorithm: {name: 'ECDSA', hash: 'SHA-256'} as EcdsaParams}
    case CertKeyType.ed25519:
      return {keyAlg: {name: 'Ed25519'}, signingAlgorithm: {name: 'Ed25519'}}
    default:
      throw new InputError(`unknown key type "${String(keyType)}"`, {code: 'CERTS_INVALID_KEY_TYPE', hint: `use ${Object.values(CertKeyType).join(' or ')}`})
  }
}

/** PEM with exactly one final newline. */
function pemText(pem: string): string {
  return pem.trimEnd() + '\n'
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await globalThis.crypto.subtle.exportKey('pkcs8', key))
  const body = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`
}

/** @peculiar/x509 needs a Reflect metadata polyfill (tsyringe) before it loads. */
async function loadX509(): Promise<typeof import('@peculiar/x509')> {
  await import('reflect-metadata')
  return import('@peculiar/x509')
}
