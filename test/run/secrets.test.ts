/**
 * resolveSecrets: secrets too short to be redacted are refused at load time (exit 2, naming the variable or file,
 * never the value); secret files that group or others may access give an OpenSSH-style warning. Also saveResult's
 * directory modes: only directories it creates are made 0700 (a --state-dir the user chose keeps its mode).
 */
import {chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadInventory} from '../../src/config/index.js'
import type {Inventory} from '../../src/config/types.js'
import {ExitCode, InputError} from '../../src/errors.js'
import type {ChainExecutionResult} from '../../src/model/result.js'
import {saveResult} from '../../src/run/result-file.js'
import {resolveSecrets, secretValues} from '../../src/run/secrets.js'

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-secrets-'))
  writeFileSync(join(dir, 'pb.yml'), 'name: only has to exist\n')
  writeFileSync(join(dir, 'kh'), '')
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

let n = 0
/** An inventory whose `ssh:` (and optional extra top-level YAML) is given. */
async function inventory(ssh: string, extra = ''): Promise<Inventory> {
  const file = join(dir, `inv${++n}.yml`)
  writeFileSync(
    file,
    `stack: s1\nplaybook: ./pb.yml\ntarget: {version: "17.09.05", image: cat9k.bin}\nssh: ${ssh}\ndevices:\n  - {name: sw1, host: 10.0.0.1, host_key: "SHA256:${'A'.repeat(43)}"}\n${extra}`,
  )
  return loadInventory(file)
}

function secretFile(name: string, content: string, mode: number): string {
  const file = join(dir, name)
  writeFileSync(file, content)
  chmodSync(file, mode)
  return file
}

function refusal(fn: () => unknown): InputError {
  try {
    fn()
  } catch (error) {
    if (error instanceof InputError) return error
    throw error
  }
  throw new Error('expected an InputError')
}

describe('secrets shorter than 4 characters are refused at load time', () => {
  it('a password from an environment variable: exit 2, the variable named, the value never', async () => {
    const inv = await inventory('{username: u, password_env: CHAINUP_T_PW}')
    const e = refusal(() => resolveSecrets(inv, {CHAINUP_T_PW: 'x9!'}))
    expect(e.exitCode).toBe(ExitCode.badInput)
    expect(e.code).toBe('SECRET_TOO_SHORT')
    expect(e.problems).toEqual([expect.stringMatching(/ssh\.password_env: environment variable CHAINUP_T_PW holds a secret shorter than 4 characters/)])
    expect(JSON.stringify([e.message, e.problems, e.hint])).not.toContain('x9!')
    // 4 characters are enough to redact
    expect(secretValues(resolveSecrets(inv, {CHAINUP_T_PW: 'x9!z'}))).toEqual(['x9!z'])
  })

  it('a password file, a key passphrase and SNMP communities (inline and from the environment)', async () => {
    const pw = secretFile('short-pw', 'ab\nsecond line ignored\n', 0o600)
    const fromFile = await inventory(`{username: u, password_file: ${pw}}`)
    expect(refusal(() => resolveSecrets(fromFile, {})).problems).toEqual([expect.stringMatching(new RegExp(`ssh\\.password_file: the first line of ${pw} holds a secret shorter than 4`))])

    const key = secretFile('key', 'not parsed here', 0o600)
    const withKey = await inventory(`{username: u, private_key: ${key}, passphrase_env: CHAINUP_T_PP}`)
    expect(refusal(() => resolveSecrets(withKey, {CHAINUP_T_PP: 'p'})).problems).toEqual([expect.stringMatching(/ssh\.passphrase_env: environment variable CHAINUP_T_PP holds a secret shorter/)])

    const traps = await inventory(
      '{username: u, password_env: CHAINUP_T_PW}',
      'snmp:\n  traps:\n    - {host: 127.0.0.1, version: 2c, community: abc}\n    - {host: 127.0.0.1, version: 2c, community_env: CHAINUP_T_COMM}\n',
    )
    const e = refusal(() => resolveSecrets(traps, {CHAINUP_T_PW: 'long-enough', CHAINUP_T_COMM: 'xy'}))
    expect(e.message).toMatch(/2 secrets are shorter than 4 characters/)
    expect(e.problems).toEqual([
      expect.stringMatching(/snmp\.traps\[0\]\.community: the inventory holds a secret shorter than 4/),
      expect.stringMatching(/snmp\.traps\[1\]\.community_env: environment variable CHAINUP_T_COMM holds a secret shorter than 4/),
    ])
    expect(JSON.stringify(e.problems)).not.toMatch(/"abc"|xy/)
  })

  it('a missing secret is still reported as missing, together with any short one', async () => {
    const inv = await inventory('{username: u, password_env: CHAINUP_T_PW}', 'snmp:\n  traps:\n    - {host: 127.0.0.1, version: 2c, community: ab}\n')
    const e = refusal(() => resolveSecrets(inv, {}))
    expect(e.code).toBe('SECRET_MISSING')
    expect(e.problems).toEqual([expect.stringMatching(/CHAINUP_T_PW is not set/), expect.stringMatching(/snmp\.traps\[0\]\.community: .* shorter than 4/)])
  })
})

describe('secret files readable by group or others give a warning (as OpenSSH does)', () => {
  it.skipIf(process.platform === 'win32')('private key, password file and PSK file: a warning each with the mode; none for 0600', async () => {
    const key = secretFile('id_open', 'key material', 0o644)
    const keyInv = await inventory(`{username: u, private_key: ${key}}`)
    const r = resolveSecrets(keyInv, {})
    expect(r.warnings).toEqual([`warning: ${keyInv.file} ssh.private_key: private key ${key} is accessible by group or others (mode 0644); run: chmod 600 ${key}`])

    const pw = secretFile('pw_group', 'long-password\n', 0o640)
    const psk = secretFile('psk_other', 'sw1 00112233445566778899aabbccddeeff\n', 0o604)
    const both = await inventory(`{username: u, password_file: ${pw}}`, `chainsync: {tls: {psk_file: ${psk}}}\n`)
    const w = resolveSecrets(both, {}).warnings
    expect(w).toHaveLength(2)
    expect(w[0]).toMatch(new RegExp(`ssh\\.password_file: password file ${pw} is accessible by group or others \\(mode 0640\\)`))
    expect(w[1]).toMatch(new RegExp(`chainsync\\.tls\\.psk_file: PSK file ${psk} is accessible by group or others \\(mode 0604\\)`))
    expect(w.join('\n')).not.toContain('long-password')

    chmodSync(key, 0o600)
    chmodSync(pw, 0o400)
    chmodSync(psk, 0o600)
    expect(resolveSecrets(keyInv, {}).warnings).toEqual([])
    expect(resolveSecrets(both, {}).warnings).toEqual([])
  })

  it('secrets from the environment give no warning', async () => {
    expect(resolveSecrets(await inventory('{username: u, password_env: CHAINUP_T_PW}'), {CHAINUP_T_PW: 'long-enough'}).warnings).toEqual([])
  })
})

describe('saveResult and the state directory', () => {
  const result = {execution_id: 'run-1'} as ChainExecutionResult
  const mode = (p: string) => statSync(p).mode & 0o777

  it('leaves the mode of a --state-dir it did not create alone (it used to chmod it 0700)', () => {
    const stateDir = join(dir, 'shared-state')
    mkdirSync(stateDir)
    chmodSync(stateDir, 0o750)
    const file = saveResult(stateDir, result)
    expect(mode(stateDir)).toBe(0o750)
    expect(mode(join(stateDir, 'runs'))).toBe(0o700)
    expect(mode(file)).toBe(0o600)
    // an existing runs/ keeps its mode too
    chmodSync(join(stateDir, 'runs'), 0o750)
    saveResult(stateDir, {execution_id: 'run-2'} as ChainExecutionResult)
    expect(mode(join(stateDir, 'runs'))).toBe(0o750)
  })

  it('makes every directory it creates 0700, whatever the umask', () => {
    const stateDir = join(dir, 'new', 'deeper', 'state')
    const old = process.umask(0)
    try {
      saveResult(stateDir, result)
    } finally {
      process.umask(old)
    }
    for (const d of [join(dir, 'new'), join(dir, 'new', 'deeper'), stateDir, join(stateDir, 'runs')]) expect(mode(d), d).toBe(0o700)
  })
})
