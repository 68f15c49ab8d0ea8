/**
 * Issue #10 "SNMP notifications" end to end: whole lab upgrades (simulated switches, real SSH, real ChainSync) whose
 * inventory names a v2c inform receiver (the lab's TrapReceiver, which acknowledges informs) and, where Debian's
 * snmptrapd is installed, a v3 trap receiver and a v3 inform receiver in snmptrapd with CHAINUP-MIB loaded.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {TrapReceiver} from '../../src/lab/trap-receiver.js'
import {ChainupNotification, ChainupObject, ENUMS, oidName} from '../../src/notify/oids.js'
import {labStack, type StackFixture} from '../helpers/lab-stack.js'
import {SNMPTRAPD, Snmptrapd} from '../integration/notify/snmptrapd.js'

const ENGINE_ID = '0x8000B98380C0FFEE0042'
const V3_ENV = {CHAINUP_E2E_SNMP_AUTH: 'e2e-auth-pass', CHAINUP_E2E_SNMP_PRIV: 'e2e-priv-pass'}

let fixture: StackFixture | undefined
const receivers: TrapReceiver[] = []
const daemons: Snmptrapd[] = []
afterEach(async () => {
  await fixture?.stop()
  fixture = undefined
  await Promise.all(receivers.splice(0).map((r) => r.stop()))
  await Promise.all(daemons.splice(0).map((d) => d.stop()))
  for (const name of Object.keys(V3_ENV)) delete process.env[name]
})

async function informReceiver(): Promise<TrapReceiver> {
  const r = new TrapReceiver({port: 0, community: 'noc-e2e'})
  receivers.push(r)
  await r.start()
  return r
}

/** snmptrapd with a v3 trap user (chainup's engine ID) and a v3 inform user, when installed. */
async function snmptrapd(): Promise<{daemon: Snmptrapd; traps: unknown[]} | undefined> {
  if (!SNMPTRAPD) return undefined
  const {CHAINUP_E2E_SNMP_AUTH: auth, CHAINUP_E2E_SNMP_PRIV: priv} = V3_ENV
  const daemon = await Snmptrapd.start([
    `createUser -e ${ENGINE_ID} e2e SHA-256 ${auth} AES ${priv}`,
    `createUser e2e-inform SHA-512 ${auth} AES-256 ${priv}`,
    'authUser log e2e priv',
    'authUser log e2e-inform priv',
  ])
  daemons.push(daemon)
  Object.assign(process.env, V3_ENV)
  const v3 = {host: '127.0.0.1', port: daemon.port, version: 3}
  return {
    daemon,
    traps: [
      {...v3, user: 'e2e', engine_id: ENGINE_ID, auth: {protocol: 'sha-256', password_env: 'CHAINUP_E2E_SNMP_AUTH'}, priv: {protocol: 'aes', password_env: 'CHAINUP_E2E_SNMP_PRIV'}},
      {...v3, user: 'e2e-inform', inform: true, auth: {protocol: 'SHA-512', password_env: 'CHAINUP_E2E_SNMP_AUTH'}, priv: {protocol: 'AES-256', password_env: 'CHAINUP_E2E_SNMP_PRIV'}},
    ],
  }
}

describe('SNMP notifications of a whole run', () => {
  it('a device that does not return, the rollback that fails on it, the halt and the failed run reach every receiver', async () => {
    if (!SNMPTRAPD) console.warn('snmptrapd is not installed: this run sends to the lab receiver only')
    const lab = await informReceiver()
    const trapd = await snmptrapd()
    fixture = await labStack({
      devices: [{name: 'sw1'}, {name: 'sw2', faults: ['never_returns']}],
      timeouts: {boot: 'PT2S', connect: 'PT1S'},
      extra: {on_failure: 'rollback', snmp: {traps: [{host: '127.0.0.1', port: lab.port, community: 'noc-e2e', inform: true}, ...(trapd?.traps ?? [])]}},
    })
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.devices.map((d) => d.status)).toEqual(['upgraded', 'rollback_failed'])

    // Every notification sent during the run is in the result, each receiver's answer with it: all acknowledged or sent.
    const kinds = result.traps.map((t) => `${t.kind}:${t.reporter ?? 'run'}`)
    expect(kinds).toEqual(['device_did_not_return:sw2', 'chain_halted:sw2', 'rollback_started:run', 'rollback_finished:sw2', 'chain_halted:sw2'])
    expect(result.reason).not.toMatch(/journal/)
    for (const t of result.traps) expect(t.receivers.map((r) => r.ok), t.kind).toEqual(t.receivers.map(() => true))
    expect(result.traps[0]?.receivers).toHaveLength(trapd ? 3 : 1)

    // The run's end arrives after the result.
    const end = await lab.waitFor((t) => t.trapOid === ChainupNotification.chainupRunFailed, 10_000)
    expect(end.varbinds[ChainupObject.chainupRunId]).toBe(result.execution_id)
    expect(end.varbinds[ChainupObject.chainupRunStatus]).toBe(ENUMS.chainupRunStatus.failed)
    const seen = lab.traps.map((t) => oidName(t.trapOid))
    expect(seen).toEqual(expect.arrayContaining(['chainupDeviceDidNotReturn', 'chainupRollbackStarted', 'chainupRollbackFinished', 'chainupChainHalted', 'chainupRunFailed']))
    const started = lab.traps.find((t) => t.trapOid === ChainupNotification.chainupRollbackStarted)!
    expect(started.varbinds[ChainupObject.chainupDevices]).toBe('sw2,sw1')

    if (trapd) {
      const names = ['chainupDeviceDidNotReturn', 'chainupRollbackStarted', 'chainupRollbackFinished', 'chainupChainHalted', 'chainupRunFailed']
      // Each one twice: once as a v3 trap, once as a v3 inform.
      const log = await trapd.daemon.waitFor((out) => names.every((n) => out.split(`OID: CHAINUP-MIB::${n}\t`).length - 1 >= 2), 10_000)
      expect(log).toContain(`CHAINUP-MIB::chainupRunId = STRING: ${result.execution_id}`)
      expect(log).toContain('CHAINUP-MIB::chainupRollbackResult = INTEGER: rollbackFailed(2)')
      expect(log).toContain('CHAINUP-MIB::chainupRunStatus = INTEGER: failed(2)')
      expect(log).not.toContain(V3_ENV.CHAINUP_E2E_SNMP_AUTH)
    }
  })

  it('a completed run ends with chainupRunCompleted', async () => {
    const lab = await informReceiver()
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2'}], extra: {snmp: {traps: [{host: '127.0.0.1', port: lab.port, community: 'noc-e2e', inform: true}]}}})
    const result = await fixture.run()
    expect(result.status).toBe('completed')
    expect(result.traps).toEqual([])
    const t = await lab.waitFor((x) => x.trapOid === ChainupNotification.chainupRunCompleted, 10_000)
    expect(t.varbinds).toMatchObject({
      [ChainupObject.chainupRunId]: result.execution_id,
      [ChainupObject.chainupStack]: 'test-stack',
      [ChainupObject.chainupReporter]: 'run',
      [ChainupObject.chainupReason]: 'completed: 2 of 2 devices upgraded',
      [ChainupObject.chainupRunStatus]: ENUMS.chainupRunStatus.completed,
    })
    expect(lab.traps.map((x) => oidName(x.trapOid))).toEqual(['chainupRunCompleted'])
  })
})
