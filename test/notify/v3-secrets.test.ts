/**
 * SNMPv3 receivers from the inventory to the notifier (run/secrets.ts): USM passwords come only from environment
 * variables, must have at least 8 characters (RFC 3414), are hidden from gates and redacted like communities;
 * protocol names are canonical whatever their case; informs, timeouts, retries and snmp.enterprise_oid reach the
 * resolved targets.
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadInventory} from '../../src/config/index.js'
import type {Inventory} from '../../src/config/types.js'
import {InputError} from '../../src/errors.js'
import {RunEvents} from '../../src/model/events.js'
import {resolveSecrets, secretValues} from '../../src/run/secrets.js'
import {extractBlocks} from '../docs/support/blocks.js'

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-snmpv3-'))
  writeFileSync(join(dir, 'pb.yml'), 'name: only has to exist\n')
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

let n = 0
async function inventory(snmp: string): Promise<Inventory> {
  const file = join(dir, `inv${++n}.yml`)
  writeFileSync(
    file,
    `stack: s1\nplaybook: ./pb.yml\ntarget: {version: "17.09.05", image: cat9k.bin}\nssh: {username: u, password_env: PW}\n` +
      `devices:\n  - {name: sw1, host: 10.0.0.1, host_key: "SHA256:${'A'.repeat(43)}"}\nsnmp:\n${snmp}`,
  )
  return loadInventory(file)
}

const RECEIVERS = `  enterprise_oid: "1.3.6.1.4.1.99999"
  traps:
    - {host: 192.0.2.10, community_env: COMMUNITY, inform: true, timeout: PT2S, retries: 4}
    - host: 192.0.2.11
      version: 3
      user: chainup
      engine_id: "0x8000B98380C0FFEE0001"
      auth: {protocol: sha-512, password_env: SNMP_AUTH}
      priv: {protocol: aes-256-c, password_env: SNMP_PRIV}
`
const ENV = {PW: 'ssh-password', COMMUNITY: 'noc-community', SNMP_AUTH: 'auth-pass-4711', SNMP_PRIV: 'priv-pass-0815'}

describe('SNMPv3 secrets', () => {
  it('resolves both receivers, canonical protocol names, passwords hidden from gates and redacted', async () => {
    const secrets = resolveSecrets(await inventory(RECEIVERS), ENV)
    expect(secrets.trapTargets).toEqual([
      {host: '192.0.2.10', port: 162, community: 'noc-community', inform: true, timeoutMs: 2000, retries: 4, enterpriseOid: '1.3.6.1.4.1.99999'},
      {
        host: '192.0.2.11',
        port: 162,
        version: 3,
        user: 'chainup',
        authProtocol: 'SHA-512',
        authPassword: 'auth-pass-4711',
        privProtocol: 'AES-256-C',
        privPassword: 'priv-pass-0815',
        engineId: '0x8000B98380C0FFEE0001',
        enterpriseOid: '1.3.6.1.4.1.99999',
      },
    ])
    expect(secrets.hiddenEnv).toEqual(expect.arrayContaining(['COMMUNITY', 'SNMP_AUTH', 'SNMP_PRIV']))
    expect(secretValues(secrets)).toEqual(expect.arrayContaining(['noc-community', 'auth-pass-4711', 'priv-pass-0815']))
    const events = new RunEvents()
    events.redactSecrets(secretValues(secrets))
    const seen: string[] = []
    events.on('chainHalted', (e) => seen.push(e.reason))
    events.emit('chainHalted', {device: 'sw1', reason: 'device echoed auth-pass-4711 and priv-pass-0815'})
    expect(seen).toEqual(['device echoed [redacted] and [redacted]'])
  })

  it('refuses a USM password shorter than 8 characters, naming the variable, never the value', async () => {
    const inv = await inventory(RECEIVERS)
    let error: unknown
    try {
      resolveSecrets(inv, {...ENV, SNMP_PRIV: 'short7!'})
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(InputError)
    const refusal = error as InputError
    expect(refusal.code).toBe('SECRET_TOO_SHORT')
    expect(refusal.problems.join('\n')).toContain('snmp.traps[1].priv.password_env: environment variable SNMP_PRIV holds an SNMPv3 password shorter than 8 characters')
    expect(JSON.stringify(refusal)).not.toContain('short7!')
  })

  it('a missing password variable is SECRET_MISSING, like any secret', async () => {
    const {SNMP_AUTH: _unset, ...env} = ENV
    void _unset
    let error: unknown
    try {
      resolveSecrets(await inventory(RECEIVERS), env)
    } catch (e) {
      error = e
    }
    expect((error as InputError).code).toBe('SECRET_MISSING')
    expect((error as InputError).problems).toContain(`${join(dir, `inv${n}.yml`)} snmp.traps[1].auth.password_env: environment variable SNMP_AUTH is not set`)
  })

  it('the example of docs/snmp.md loads and resolves (v2c trap and inform, v3 trap and inform)', async () => {
    const example = extractBlocks('docs/snmp.md', readFileSync('docs/snmp.md', 'utf8'))
      .find((b) => b.lang === 'yaml' && b.content.startsWith('snmp:\n'))
      ?.content.slice('snmp:\n'.length)
    expect(example).toBeDefined()
    const secrets = resolveSecrets(await inventory(example!), {PW: 'ssh-password', CHAINUP_SNMP_COMMUNITY: 'community', CHAINUP_SNMP_AUTH: 'auth-pass-1', CHAINUP_SNMP_PRIV: 'priv-pass-1'})
    expect(secrets.trapTargets.map((t) => [t.host, t.version ?? '2c', t.inform === true, t.version === 3 ? `${t.authProtocol}/${t.privProtocol}` : ''])).toEqual([
      ['192.0.2.50', '2c', false, ''],
      ['192.0.2.51', '2c', true, ''],
      ['nms.example.net', 3, false, 'SHA-256/AES'],
      ['2001:db8::162', 3, true, 'SHA-512/AES-256'],
    ])
  })
})
