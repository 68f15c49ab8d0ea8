/** notify/oids.ts and the varbinds of a chainup trap (docs/traps.md): pure, no sockets. */
import {describe, expect, it} from 'vitest'

import {ChainupNotification, ChainupObject, StandardObject, oidName} from '../../src/notify/oids.js'
import {type ChainTrap, chainTrapVarbinds, trapOid} from '../../src/notify/snmp.js'
import {timeoutTrap} from '../helpers/traps.js'

describe('oids', () => {
  it('puts notifications under .0 and objects under .1 of 1.3.6.1.4.1.32473.1', () => {
    expect(ChainupNotification.chainupPredecessorTimeout).toBe('1.3.6.1.4.1.32473.1.0.1')
    expect(ChainupNotification.chainupChainHalted).toBe('1.3.6.1.4.1.32473.1.0.2')
    expect(Object.values(ChainupObject)).toEqual([1, 2, 3, 4, 5, 6].map((n) => `1.3.6.1.4.1.32473.1.1.${n}`))
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

  it('leaves out what a halted chain does not have and clamps the gauge', () => {
    const halted = chainTrapVarbinds({kind: 'chain_halted', runId: 'r', stack: 's', reporter: 'sw3', reason: 'boom'})
    expect(halted.map((v) => oidName(v.oid))).toEqual(['chainupRunId', 'chainupStack', 'chainupReporter', 'chainupReason'])
    expect(chainTrapVarbinds({...timeoutTrap, waitedSeconds: -5}).at(-1)?.value).toBe(0)
    expect(chainTrapVarbinds({...timeoutTrap, waitedSeconds: 2 ** 40}).at(-1)?.value).toBe(0xffffffff)
  })
})

