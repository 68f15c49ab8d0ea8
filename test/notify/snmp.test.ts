/** notify/oids.ts and the varbinds of chainup's notifications (docs/snmp.md): pure, no sockets. */
import {describe, expect, it} from 'vitest'

import {ChainupNotification, ChainupObject, NOTIFICATION_OBJECTS, StandardObject, chainupOids, oidName} from '../../src/notify/oids.js'
import {type ChainTrap, MAX_TEXT_BYTES, TRAP_KINDS, type TrapKind, chainTrapVarbinds, normalizeEngineId, trapOid, truncateUtf8} from '../../src/notify/snmp.js'
import {timeoutTrap} from '../helpers/traps.js'

describe('oids', () => {
  it('puts notifications under .0 and objects under .1 of 1.3.6.1.4.1.32473.1', () => {
    expect(ChainupNotification.chainupPredecessorTimeout).toBe('1.3.6.1.4.1.32473.1.0.1')
    expect(ChainupNotification.chainupChainHalted).toBe('1.3.6.1.4.1.32473.1.0.2')
    expect(Object.values(ChainupNotification)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `1.3.6.1.4.1.32473.1.0.${n}`))
    expect(Object.values(ChainupObject)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((n) => `1.3.6.1.4.1.32473.1.1.${n}`))
    // v0.1's names and OIDs stay.
    expect(ChainupObject.chainupRunId).toBe('1.3.6.1.4.1.32473.1.1.1')
    expect(ChainupObject.chainupWaitedSeconds).toBe('1.3.6.1.4.1.32473.1.1.6')
  })

  it('moves the whole subtree below another enterprise OID (snmp.enterprise_oid)', () => {
    const oids = chainupOids('1.3.6.1.4.1.99999.7')
    expect(oids.root).toBe('1.3.6.1.4.1.99999.7.1')
    expect(oids.notifications.chainupRunFailed).toBe('1.3.6.1.4.1.99999.7.1.0.6')
    expect(oids.objects.chainupRollbackResult).toBe('1.3.6.1.4.1.99999.7.1.1.12')
    expect(trapOid('gate_vetoed', '1.3.6.1.4.1.99999')).toBe('1.3.6.1.4.1.99999.1.0.4')
    expect(chainTrapVarbinds(timeoutTrap, '1.3.6.1.4.1.99999').map((v) => v.oid)).toEqual([1, 2, 3, 4, 5, 6].map((n) => `1.3.6.1.4.1.99999.1.1.${n}`))
  })

  it('names OIDs and instances', () => {
    expect(oidName('1.3.6.1.4.1.32473.1.1.6')).toBe('chainupWaitedSeconds')
    expect(oidName('1.3.6.1.4.1.32473.1.1.6.0')).toBe('chainupWaitedSeconds.0')
    expect(oidName(StandardObject.snmpTrapOID)).toBe('snmpTrapOID.0')
    expect(oidName('1.3.6.1.4.1.32473.1.1.66')).toBeUndefined()
  })
})

describe('chainTrapVarbinds', () => {
  it('orders the varbinds and rounds the waited seconds', () => {
    expect(trapOid('predecessor_timeout')).toBe(ChainupNotification.chainupPredecessorTimeout)
    expect(chainTrapVarbinds(timeoutTrap)).toEqual([
      {oid: ChainupObject.chainupRunId, type: 'OctetString', value: timeoutTrap.runId},
      {oid: ChainupObject.chainupStack, type: 'OctetString', value: 'access-stack-1'},
      {oid: ChainupObject.chainupPredecessor, type: 'OctetString', value: 'sw1'},
      {oid: ChainupObject.chainupReporter, type: 'OctetString', value: 'sw2'},
      {oid: ChainupObject.chainupReason, type: 'OctetString', value: timeoutTrap.reason},
      {oid: ChainupObject.chainupWaitedSeconds, type: 'Gauge', value: 1260},
    ])
  })

  it('sends every kind with the objects of its OBJECTS clause, in order, each notification under its own OID', () => {
    const full: Omit<ChainTrap, 'kind'> = {
      runId: 'r',
      stack: 's',
      reporter: 'sw1',
      reason: 'why',
      predecessor: 'sw0',
      waitedSeconds: 3,
      gateType: 'final',
      gateName: 'g',
      runStatus: 'cancelled',
      durationSeconds: 9.6,
      devices: ['sw2', 'sw1'],
      rollbackResult: 'rollback_failed',
    }
    for (const kind of Object.keys(TRAP_KINDS) as TrapKind[]) {
      const name = TRAP_KINDS[kind]
      expect(trapOid(kind)).toBe(ChainupNotification[name])
      const names = chainTrapVarbinds({kind, ...full}).map((v) => oidName(v.oid))
      expect(names).toEqual(kind === 'chain_halted' ? [...NOTIFICATION_OBJECTS[name], 'chainupPredecessor'] : NOTIFICATION_OBJECTS[name])
    }
    const values = (kind: TrapKind) => Object.fromEntries(chainTrapVarbinds({kind, ...full}).map((v) => [oidName(v.oid), v.value]))
    expect(values('gate_vetoed')).toMatchObject({chainupGateType: 4, chainupGateName: 'g'})
    expect(values('run_failed')).toMatchObject({chainupRunStatus: 4, chainupDurationSeconds: 10})
    expect(values('rollback_finished')).toMatchObject({chainupDevices: 'sw2,sw1', chainupRollbackResult: 2})
    expect(values('device_did_not_return')).toMatchObject({chainupReporter: 'sw1', chainupWaitedSeconds: 3})
  })

  it('refuses a trap that lacks an object its notification requires (a caller bug), naming both', () => {
    expect(() => chainTrapVarbinds({kind: 'gate_vetoed', runId: 'r', stack: 's', reporter: 'sw1', reason: 'x', gateType: 'before'})).toThrow('chainupGateVetoed needs chainupGateName')
  })

  it('cuts text to the MIB\'s 1024 octets at a character boundary', () => {
    const long = 'ü'.repeat(600) // 1200 bytes
    const reason = chainTrapVarbinds({kind: 'chain_halted', runId: 'r', stack: 's', reporter: 'sw1', reason: long}).find((v) => oidName(v.oid) === 'chainupReason')
    expect(Buffer.byteLength(String(reason?.value))).toBe(MAX_TEXT_BYTES)
    expect(truncateUtf8('a€b', 3)).toBe('a')
    expect(truncateUtf8('short', 1024)).toBe('short')
    expect(normalizeEngineId('0x8000B98380:C0FFEE0001')).toBe('8000b98380c0ffee0001')
  })

  it('leaves out what a halted chain does not have and clamps the gauge', () => {
    const halted = chainTrapVarbinds({kind: 'chain_halted', runId: 'r', stack: 's', reporter: 'sw3', reason: 'boom'})
    expect(halted.map((v) => oidName(v.oid))).toEqual(['chainupRunId', 'chainupStack', 'chainupReporter', 'chainupReason'])
    expect(chainTrapVarbinds({...timeoutTrap, waitedSeconds: -5}).at(-1)?.value).toBe(0)
    expect(chainTrapVarbinds({...timeoutTrap, waitedSeconds: 2 ** 40}).at(-1)?.value).toBe(0xffffffff)
  })
})

