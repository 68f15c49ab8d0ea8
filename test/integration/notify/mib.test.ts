/**
 * mibs/CHAINUP-MIB.txt and src/notify/oids.ts cannot drift: Net-SNMP's snmptranslate (Debian package `snmp`) parses
 * the MIB without a warning, and every notification, object, OBJECTS clause and enumeration it reads matches the
 * code. Skipped, with a message, where snmptranslate is not installed.
 */
import {spawnSync} from 'node:child_process'
import {describe, expect, it} from 'vitest'

import {CHAINUP_OID, ChainupNotification, ChainupObject, ENUMS, NOTIFICATION_OBJECTS} from '../../../src/notify/oids.js'
import {MIB_DIRS, SNMPTRANSLATE} from './snmptrapd.js'

function translate(...args: string[]): {stdout: string; stderr: string} {
  const r = spawnSync(SNMPTRANSLATE!, ['-M', MIB_DIRS.join(':'), '-m', 'CHAINUP-MIB', '-Pw', ...args], {encoding: 'utf8', env: {...process.env, MIBS: '', MIBDIRS: ''}})
  if (r.status !== 0) throw new Error(`snmptranslate ${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  return {stdout: r.stdout, stderr: r.stderr}
}

describe.skipIf(!SNMPTRANSLATE)('CHAINUP-MIB (snmptranslate)', () => {
  it('parses without errors or warnings', () => {
    const {stdout, stderr} = translate('-IR', '-On', 'chainupChainHalted')
    expect(stdout.trim()).toBe(`.${ChainupNotification.chainupChainHalted}`)
    // With -Pw, the only lines are Net-SNMP's notes on the SMI's own macro definitions (net-snmp's SNMPv2-SMI copy).
    expect(stderr.split('\n').filter((l) => l !== '' && !/^[A-Z-]+ MACRO \(lines \d+\.\.\d+ parsed and ignored\)\.$/.test(l))).toEqual([])
  })

  it('gives every notification and object the OID oids.ts gives it', () => {
    const names = ['chainupMIB', ...Object.keys(ChainupNotification), ...Object.keys(ChainupObject)]
    const {stdout} = translate('-IR', '-On', ...names)
    const expected = [CHAINUP_OID, ...Object.values(ChainupNotification), ...Object.values(ChainupObject)].map((oid) => `.${oid}`)
    expect(stdout.split('\n').filter((l) => l !== '')).toEqual(expected)
  })

  it('defines no notification or object under chainupNotifications / chainupObjects that oids.ts lacks', () => {
    const nodes = [...translate('-Tz').stdout.matchAll(/^"(\w+)"\s+"([\d.]+)"$/gm)].map((m) => [m[1]!, m[2]!] as const)
    const under = (branch: number) => nodes.filter(([, oid]) => oid.startsWith(`${CHAINUP_OID}.${branch}.`)).map(([name, oid]) => [name, oid])
    expect(Object.fromEntries(under(0))).toEqual(ChainupNotification)
    expect(Object.fromEntries(under(1))).toEqual(ChainupObject)
  })

  it('lists the objects of each notification in the order the code sends them', () => {
    for (const [name, objects] of Object.entries(NOTIFICATION_OBJECTS)) {
      const clause = /OBJECTS\s*\{([^}]*)\}/.exec(translate('-Td', '-IR', name).stdout)?.[1]
      expect(clause?.split(',').map((s) => s.trim()), name).toEqual(objects)
    }
  })

  it('enumerates the INTEGER objects as the code encodes them', () => {
    for (const [name, values] of Object.entries(ENUMS)) {
      const syntax = /SYNTAX\s+INTEGER\s*\{([^}]*)\}/.exec(translate('-Td', '-IR', name).stdout)?.[1]
      const parsed = Object.fromEntries([...(syntax ?? '').matchAll(/(\w+)\((\d+)\)/g)].map((m) => [m[1], Number(m[2])]))
      expect(parsed, name).toEqual(values)
    }
  })
})
