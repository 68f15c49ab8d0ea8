import {X509Certificate} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {InputError} from '../../src/errors.js'
import {fingerprint256, initCerts} from '../../src/protocol/certs.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-certs-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

const mode = (path: string) => statSync(path).mode & 0o777

describe('initCerts', () => {
  it('writes a CA and one certificate per node: CN = DNS SAN = name, keys 0600, directory 0700', async () => {
    const certs = join(dir, 'certs')
    const bundle = await initCerts(certs, ['sw1', 'sw2', 'sw_3.lab'])
    expect(mode(certs)).toBe(0o700)
    for (const f of ['ca.key', 'sw1.key', 'sw2.key', 'sw_3.lab.key']) expect(mode(join(certs, f))).toBe(0o600)
    expect(readFileSync(join(certs, 'ca.crt'), 'utf8')).toBe(bundle.ca)
    expect(readFileSync(join(certs, 'sw2.key'), 'utf8')).toBe(bundle.nodes.sw2!.key)

    const ca = new X509Certificate(bundle.ca)
    expect(ca.ca).toBe(true)
    expect(ca.checkIssued(ca)).toBe(true)
    expect(ca.publicKey.asymmetricKeyType).toBe('ec')
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
    for (const name of ['sw1', 'sw2', 'sw_3.lab']) {
      const cert = new X509Certificate(bundle.nodes[name]!.cert)
      expect(cert.subject).toBe(`CN=${name}`)
      expect(cert.subjectAltName).toBe(`DNS:${name}`)
      expect(cert.ca).toBe(false)
      expect(cert.checkIssued(ca)).toBe(true)
      expect(cert.verify(ca.publicKey)).toBe(true)
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'])
      const days = (Date.parse(cert.validTo) - Date.now()) / 86_400_000
      expect(days).toBeGreaterThan(364)
      expect(days).toBeLessThan(366)
    }
    expect(fingerprint256(bundle.nodes.sw1!.cert)).toBe(new X509Certificate(bundle.nodes.sw1!.cert).fingerprint256)
  })

  it('refuses to overwrite an existing CA (writing nothing) unless forced', async () => {
    const first = await initCerts(dir, ['sw1'])
    const error = await initCerts(dir, ['sw1', 'sw2']).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).code).toBe('CERTS_EXIST')
    expect((error as InputError).message).toBe(`${dir} already holds ca.crt, ca.key, sw1.crt, sw1.key: refusing to overwrite the existing CA`)
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(first.ca)
    expect(() => statSync(join(dir, 'sw2.crt'))).toThrow()

    const second = await initCerts(dir, ['sw1', 'sw2'], {force: true, days: 30})
    expect(second.ca).not.toBe(first.ca)
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(second.ca)
    expect(mode(join(dir, 'sw1.key'))).toBe(0o600)
  })

  it('refuses even a lone leftover key without force', async () => {
    writeFileSync(join(dir, 'sw2.key'), 'old')
    await expect(initCerts(dir, ['sw1', 'sw2'])).rejects.toThrow('already holds sw2.key: refusing to overwrite existing certificates')
  })

  it('rejects names that are not node names, duplicates and "ca"', async () => {
    const error = (await initCerts(dir, ['sw1', 'sw1', 'ca', 'bad/name', '-x']).catch((e: unknown) => e)) as InputError
    expect(error.code).toBe('CERTS_INVALID_NAME')
    expect(error.problems).toEqual([
      '"sw1": duplicate node name',
      '"ca": reserved for the CA files (ca.crt, ca.key)',
      '"bad/name": expected letters, digits, ".", "_" or "-", starting with a letter or digit, at most 64 characters',
      '"-x": expected letters, digits, ".", "_" or "-", starting with a letter or digit, at most 64 characters',
    ])
    await expect(initCerts(dir, ['sw1'], {days: 0})).rejects.toThrow(/whole number of days/)
  })
})
