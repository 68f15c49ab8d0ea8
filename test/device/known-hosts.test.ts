import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {fingerprintOf, hostKeyCheck, lookupKnownHosts} from '../../src/device/known-hosts.js'

const dir = mkdtempSync(join(tmpdir(), 'chainup-kh-'))
function keygen(name: string): {line: string; blob: Buffer; fingerprint: string} {
  const file = join(dir, name)
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file])
  const line = readFileSync(`${file}.pub`, 'utf8').trim()
  const blob = Buffer.from(line.split(' ')[1]!, 'base64')
  const fingerprint = execFileSync('ssh-keygen', ['-lf', `${file}.pub`], {encoding: 'utf8'}).split(' ')[1]!
  return {line, blob, fingerprint}
}
const hasKeygen = (() => {
  try {
    execFileSync('ssh-keygen', ['-?'], {stdio: 'ignore'})
    return true
  } catch (e) {
    return (e as {status?: number}).status !== undefined && (e as {status?: number}).status !== 127
  }
})()

describe.skipIf(!hasKeygen)('host key verification (OpenSSH known_hosts and ssh-keygen -lf fingerprints)', () => {
  const a = keygen('a')
  const b = keygen('b')

  it('computes the fingerprint exactly as ssh-keygen -lf prints it', () => {
    expect(fingerprintOf(a.blob)).toBe(a.fingerprint)
  })

  it('accepts the listed key for host and [host]:port, refuses a changed one and an unknown host', () => {
    const file = join(dir, 'known_hosts')
    writeFileSync(file, `# comment\n10.0.0.11 ${a.line}\n[127.0.0.1]:2222,[::1]:2222 ${b.line}\n`)
    expect(hostKeyCheck({kind: 'known_hosts', file}, '10.0.0.11', 22).verify(a.blob)).toBeUndefined()
    expect(hostKeyCheck({kind: 'known_hosts', file}, '127.0.0.1', 2222).verify(b.blob)).toBeUndefined()
    expect(hostKeyCheck({kind: 'known_hosts', file}, '10.0.0.11', 22).verify(b.blob)).toMatch(/^host key changed: 10\.0\.0\.11 offered SHA256:/)
    expect(hostKeyCheck({kind: 'known_hosts', file}, '127.0.0.1', 22).verify(b.blob)).toMatch(/^unknown host key SHA256:.* 127\.0\.0\.1 is not in /)
    expect(hostKeyCheck({kind: 'known_hosts', file}, '10.0.0.11', 22).algorithms).toEqual(['ssh-ed25519'])
  })

  it('understands hashed entries written by ssh-keygen -H, and @revoked', () => {
    const file = join(dir, 'hashed')
    writeFileSync(file, `[sw1.example.net]:830 ${a.line}\n@revoked * ${b.line}\n`)
    execFileSync('ssh-keygen', ['-q', '-H', '-f', file], {stdio: 'ignore'})
    expect(readFileSync(file, 'utf8')).toMatch(/^\|1\|/)
    expect(lookupKnownHosts(file, 'sw1.example.net', 830).keys).toHaveLength(1)
    expect(hostKeyCheck({kind: 'known_hosts', file}, 'sw1.example.net', 830).verify(a.blob)).toBeUndefined()
    expect(hostKeyCheck({kind: 'known_hosts', file}, 'sw1.example.net', 830).verify(b.blob)).toMatch(/@revoked/)
  })

  it('checks a SHA256: fingerprint', () => {
    expect(hostKeyCheck({kind: 'fingerprint', fingerprint: a.fingerprint}, 'x', 22).verify(a.blob)).toBeUndefined()
    expect(hostKeyCheck({kind: 'fingerprint', fingerprint: a.fingerprint}, 'x', 22).verify(b.blob)).toBe(
      `host key changed: expected ${a.fingerprint}, the device offered ${b.fingerprint}`,
    )
  })
})
