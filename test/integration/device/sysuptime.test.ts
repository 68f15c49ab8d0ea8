/**
 * sysUpTime as boot evidence (issue #10 "Proof of return" (c): the platform's boot field, else the uptime, else SNMP
 * sysUpTime when SNMP is configured for the device). A real net-snmp agent on 127.0.0.1 answers sysUpTime.0; the
 * inventory's `snmp.uptime` is loaded and its community resolved like every secret; a device worker whose playbook
 * facts give neither a restart time nor an uptime takes the agent's value, with SNMP's own precision.
 */
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import snmp from 'net-snmp'
import {afterEach, describe, expect, it} from 'vitest'

import {loadStack} from '../../../src/config/load.js'
import {rebootedSince} from '../../../src/device/facts.js'
import {Credentials} from '../../../src/device/ssh-session.js'
import {readSysUpTime, SNMP_UPTIME_PRECISION_MS} from '../../../src/device/sysuptime.js'
import {DeviceWorker} from '../../../src/device/worker.js'
import {resolveSecrets, secretValues} from '../../../src/run/secrets.js'
import {FakeClock} from '../../helpers/fake-clock.js'
import {recordingReport} from '../../helpers/fake-device.js'
import {freePorts} from '../../helpers/lab-stack.js'

const COMMUNITY = 'noc-read-42'
const agents: Array<{close: () => void}> = []
afterEach(() => {
  for (const a of agents.splice(0)) a.close()
})

/** A real SNMP agent on 127.0.0.1:port whose sysUpTime.0 is `ticks()` (hundredths of a second). */
async function agent(port: number, ticks: () => number): Promise<void> {
  const a = snmp.createAgent({port, address: '127.0.0.1', disableAuthorization: false}, () => undefined)
  a.getAuthorizer().addCommunity(COMMUNITY)
  const mib = a.getMib()
  mib.registerProvider({
    name: 'sysUpTime',
    type: snmp.MibProviderType.Scalar,
    oid: '1.3.6.1.2.1.1.3',
    scalarType: snmp.ObjectType.TimeTicks,
    maxAccess: snmp.MaxAccess['read-only'],
    handler: (request: {instanceNode: {value: unknown}; done: () => void}) => {
      request.instanceNode.value = ticks()
      request.done()
    },
  } as never)
  mib.setScalarValue('sysUpTime', 0)
  agents.push(a)
  await new Promise((r) => setTimeout(r, 50))
}

describe('sysUpTime over SNMPv2c', () => {
  it('reads sysUpTime.0 in seconds; a wrong community or no agent is undefined within the timeout', async () => {
    const [port, nothing] = await freePorts(2)
    await agent(port!, () => 123_456)
    expect(await readSysUpTime('127.0.0.1', port!, COMMUNITY, 2000)).toBe(1234.56)
    expect(await readSysUpTime('127.0.0.1', port!, 'wrong-community', 500)).toBeUndefined()
    const started = Date.now()
    expect(await readSysUpTime('127.0.0.1', nothing!, COMMUNITY, 300)).toBeUndefined()
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('the inventory configures it; the community comes from the environment, is hidden from gates and redacted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainup-uptime-'))
    writeFileSync(join(dir, 'kh'), '')
    const file = join(dir, 'stack.yml')
    writeFileSync(
      file,
      `stack: s1\nplaybook: ${resolve('playbooks/ios-xe-install.yml')}\ntarget: {version: "17.09.05", image: cat9k.bin}\nssh: {username: u, password_env: PW_UPTIME_TEST, known_hosts: ./kh}\nsnmp: {uptime: {community_env: UPTIME_COMMUNITY}}\ndevices:\n  - {name: sw1, host: 10.0.0.1, snmp_port: 1161}\n`,
    )
    const {inventory} = await loadStack(file)
    expect(inventory.snmp.uptime).toEqual({community_env: 'UPTIME_COMMUNITY', port: 161, timeout: 2000})
    expect(inventory.devices[0]!.snmp_port).toBe(1161)
    const secrets = resolveSecrets(inventory, {PW_UPTIME_TEST: 'pa55word', UPTIME_COMMUNITY: COMMUNITY})
    expect(secrets.uptimeCommunity).toBe(COMMUNITY)
    expect(secrets.hiddenEnv).toContain('UPTIME_COMMUNITY')
    expect(secretValues(secrets)).toContain(COMMUNITY)
    expect(() => resolveSecrets(inventory, {PW_UPTIME_TEST: 'pa55word'})).toThrow(/missing/)
  })

  it('a worker whose facts give neither restart time nor uptime takes sysUpTime from the agent, marked snmp; facts that have one are left alone', async () => {
    const {inventory, playbook} = await loadStack(resolve('inventories/lab.yml'))
    const [port] = await freePorts(1)
    await agent(port!, () => 4200)
    const worker = (facts: typeof playbook.facts, sysUpTime?: () => Promise<number | undefined>) =>
      new DeviceWorker({
        runId: 'r',
        inventory,
        playbook: {...playbook, facts},
        device: inventory.devices[0]!,
        credentials: new Credentials('netops', {password: 'x'}),
        hostKey: {kind: 'fingerprint', fingerprint: 'SHA256:x'},
        report: recordingReport(),
        hiddenEnv: [],
        signal: new AbortController().signal,
        clock: new FakeClock(),
        ...(sysUpTime ? {sysUpTime} : {}),
      })
    const bare = {command: 'show version', version: 'Version (?<version>\\S+)', uptime_precision: 60_000}
    const reader = () => readSysUpTime('127.0.0.1', port!, COMMUNITY, 2000)
    const facts = {version: '17.06.05', uptimeSeconds: undefined, restartedAt: undefined}
    expect(await worker(bare, reader).steps.withSnmpUptime(facts)).toEqual({...facts, uptimeSeconds: 42, uptimeSource: 'snmp'})
    expect(await worker(bare).steps.withSnmpUptime(facts)).toEqual(facts)
    const withUptime = {...facts, uptimeSeconds: 600}
    expect(await worker(bare, reader).steps.withSnmpUptime(withUptime)).toEqual(withUptime)
    // With SNMP's precision a device whose agent restarted 42 s ago is newer than a reload sent 41.5 s ago only within 1 s.
    const before = {...facts, uptimeSeconds: 90_000, uptimeSource: 'snmp' as const}
    expect(rebootedSince(before, {...facts, uptimeSeconds: 42, uptimeSource: 'snmp'}, 41_500, false, SNMP_UPTIME_PRECISION_MS)).toBe(true)
    expect(rebootedSince(before, {...facts, uptimeSeconds: 42, uptimeSource: 'snmp'}, 40_000, false, SNMP_UPTIME_PRECISION_MS)).toBe(false)
  })
})
