/**
 * Interoperability with Debian's Net-SNMP snmptrapd, chainup's MIB loaded (issue #10 "SNMP notifications"):
 * snmptrapd prints every notification and varbind by its CHAINUP-MIB name, for v2c and v3 (USM authPriv), traps and
 * informs. Skipped, with a message, where snmptrapd is not installed.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {NOTIFICATION_OBJECTS} from '../../../src/notify/oids.js'
import {type ChainTrap, SnmpNotifier, TRAP_KINDS, type TrapKind, type TrapTarget, type V3TrapTarget} from '../../../src/notify/snmp.js'
import {SNMPTRAPD, Snmptrapd} from './snmptrapd.js'

const ENGINE_ID = '0x8000B98380C0FFEE0001'
const AUTH_PW = 'auth-pass-4711'
const PRIV_PW = 'priv-pass-0815'

const daemons: Snmptrapd[] = []
const notifiers: SnmpNotifier[] = []
afterEach(async () => {
  for (const n of notifiers.splice(0)) n.close()
  await Promise.all(daemons.splice(0).map((d) => d.stop()))
})

async function daemon(lines: string[]): Promise<Snmptrapd> {
  const d = await Snmptrapd.start(lines)
  daemons.push(d)
  return d
}

async function send(targets: TrapTarget[], trap: ChainTrap) {
  const notifier = new SnmpNotifier(targets)
  notifiers.push(notifier)
  return notifier.send(trap)
}

/** The log line (varbinds, tab-separated) of the notification whose chainupRunId is `runId`. */
function lineOf(log: string, runId: string): string | undefined {
  return log.split('\n').find((l) => l.includes(`CHAINUP-MIB::chainupRunId = STRING: ${runId}\t`) || l.endsWith(`CHAINUP-MIB::chainupRunId = STRING: ${runId}`))
}

/** One trap of each kind with every field it may carry. */
function sample(kind: TrapKind, runId: string): ChainTrap {
  return {
    kind,
    runId,
    stack: 'access-stack-1',
    reporter: 'sw2',
    reason: `${kind}: sw2 did something – noted ✓`,
    predecessor: 'sw1',
    waitedSeconds: 61,
    gateType: 'on_error',
    gateName: 'ask the NOC',
    runStatus: kind === 'run_completed' ? 'completed' : 'failed',
    durationSeconds: 1234,
    devices: ['sw2', 'sw1'],
    rollbackResult: 'rolled_back',
  }
}

describe.skipIf(!SNMPTRAPD)('snmptrapd with CHAINUP-MIB loaded', () => {
  it('v2c: prints every notification and each of its varbinds by name (traps)', async () => {
    const d = await daemon(['authCommunity log public'])
    const target: TrapTarget = {host: '127.0.0.1', port: d.port, community: 'public'}
    const kinds = Object.keys(TRAP_KINDS) as TrapKind[]
    for (const kind of kinds) expect(await send([target], sample(kind, `run-${kind}`))).toEqual([{target: `127.0.0.1:${d.port}`, ok: true}])
    await d.waitFor((log) => kinds.every((k) => lineOf(log, `run-${k}`) !== undefined), 5000)
    for (const kind of kinds) {
      const line = lineOf(d.log, `run-${kind}`)!
      const name = TRAP_KINDS[kind]
      expect(line).toContain(`= OID: CHAINUP-MIB::${name}\t`)
      // The objects in the OBJECTS clause's order, each printed by its name.
      const printed = [...line.matchAll(/CHAINUP-MIB::(chainup\w+) = /g)].map((m) => m[1])
      expect(printed.slice(0, NOTIFICATION_OBJECTS[name].length)).toEqual(NOTIFICATION_OBJECTS[name])
    }
    const halted = lineOf(d.log, 'run-chain_halted')!
    expect(halted).toContain('CHAINUP-MIB::chainupReason = STRING: chain_halted: sw2 did something – noted ✓')
    expect(halted).toContain('CHAINUP-MIB::chainupPredecessor = STRING: sw1') // optional, after the listed objects
    expect(lineOf(d.log, 'run-gate_vetoed')).toContain('CHAINUP-MIB::chainupGateType = INTEGER: onError(3)')
    expect(lineOf(d.log, 'run-run_failed')).toContain('CHAINUP-MIB::chainupRunStatus = INTEGER: failed(2)')
    expect(lineOf(d.log, 'run-rollback_finished')).toContain('CHAINUP-MIB::chainupRollbackResult = INTEGER: rolledBack(1)')
    expect(lineOf(d.log, 'run-predecessor_timeout')).toContain('CHAINUP-MIB::chainupWaitedSeconds = Gauge32: 61 seconds')
  })

  it('v2c: an inform is acknowledged (ok) and printed; one to a port nobody serves fails after its retries', async () => {
    const d = await daemon(['authCommunity log public'])
    const results = await send(
      [
        {host: '127.0.0.1', port: d.port, community: 'public', inform: true},
        {host: '127.0.0.1', port: d.port + 1 === 65536 ? 1 : d.port + 1, community: 'public', inform: true, timeoutMs: 200, retries: 1},
      ],
      sample('chain_halted', 'run-v2c-inform'),
    )
    expect(results[0]).toEqual({target: `127.0.0.1:${d.port}`, ok: true})
    expect(results[1]).toMatchObject({ok: false, error: 'inform not acknowledged: 2 attempts, 200 ms each (Request timed out)'})
    await d.waitFor((log) => lineOf(log, 'run-v2c-inform')?.includes('OID: CHAINUP-MIB::chainupChainHalted') === true, 3000)
  })

  describe('v3 (USM authPriv)', () => {
    const v3 = (port: number, over: Partial<V3TrapTarget> = {}): V3TrapTarget => ({
      host: '127.0.0.1',
      port,
      version: 3,
      user: 'chainup',
      authProtocol: 'SHA-256',
      authPassword: AUTH_PW,
      privProtocol: 'AES',
      privPassword: PRIV_PW,
      ...over,
    })

    it('a trap with chainup\'s engine ID is printed by name; v2c, a wrong engine ID or a wrong key are not', async () => {
      // No community: only v3 gets through.
      const d = await daemon([`createUser -e ${ENGINE_ID} chainup SHA-256 ${AUTH_PW} AES ${PRIV_PW}`, 'authUser log chainup priv'])
      expect(await send([{host: '127.0.0.1', port: d.port, community: 'public'}], sample('run_failed', 'run-as-v2c'))).toMatchObject([{ok: true}])
      // Traps are not acknowledged: a trap the receiver drops still counts as sent (docs/snmp.md).
      expect(await send([v3(d.port, {engineId: '0x8000B98380C0FFEE0002'})], sample('run_failed', 'run-wrong-engine'))).toMatchObject([{ok: true}])
      expect(await send([v3(d.port, {engineId: ENGINE_ID, privPassword: 'not-the-priv-key'})], sample('run_failed', 'run-wrong-key'))).toMatchObject([{ok: true}])
      expect(await send([v3(d.port, {engineId: ENGINE_ID})], sample('chain_halted', 'run-v3-trap'))).toEqual([{target: `127.0.0.1:${d.port}`, ok: true}])
      const log = await d.waitFor((out) => lineOf(out, 'run-v3-trap') !== undefined, 5000)
      const line = lineOf(log, 'run-v3-trap')!
      expect(line).toContain('OID: CHAINUP-MIB::chainupChainHalted')
      expect(line).toContain('CHAINUP-MIB::chainupStack = STRING: access-stack-1')
      expect(line).toContain('CHAINUP-MIB::chainupReporter = STRING: sw2')
      expect(line).toContain('CHAINUP-MIB::chainupReason = STRING: chain_halted: sw2 did something – noted ✓')
      for (const dropped of ['run-as-v2c', 'run-wrong-engine', 'run-wrong-key']) expect(lineOf(log, dropped)).toBeUndefined()
    })

    it('informs discover snmptrapd\'s engine ID, with every auth and priv protocol both support', async () => {
      const combos = (['SHA', 'SHA-224', 'SHA-256', 'SHA-384', 'SHA-512'] as const).flatMap((auth) => (['AES', 'AES-256'] as const).map((priv) => ({auth, priv, user: `u-${auth}-${priv}`.toLowerCase()})))
      const d = await daemon(combos.flatMap(({auth, priv, user}) => [`createUser ${user} ${auth} ${AUTH_PW} ${priv} ${PRIV_PW}`, `authUser log ${user} priv`]))
      const targets = combos.map(({auth, priv, user}) => v3(d.port, {user, authProtocol: auth, privProtocol: priv, inform: true, timeoutMs: 2000, retries: 1}))
      const results = await send([...targets, {...targets[0]!, authPassword: 'wrong-auth-pass'}], sample('rollback_started', 'run-v3-inform'))
      expect(results.slice(0, combos.length)).toEqual(combos.map(() => ({target: `127.0.0.1:${d.port}`, ok: true})))
      expect(results[combos.length]).toMatchObject({ok: false, error: expect.stringMatching(/Wrong Digest/i)})
      const log = await d.waitFor((out) => out.split('\n').filter((l) => lineOf(l, 'run-v3-inform') !== undefined).length >= combos.length, 5000)
      expect(lineOf(log, 'run-v3-inform')).toContain('OID: CHAINUP-MIB::chainupRollbackStarted')
      expect(lineOf(log, 'run-v3-inform')).toContain('CHAINUP-MIB::chainupDevices = STRING: sw2,sw1')
    })
  })
})
