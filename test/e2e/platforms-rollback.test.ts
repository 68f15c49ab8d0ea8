/**
 * The vendor playbooks' compensating actions against the lab dialects: with `on_failure: rollback`, a device that
 * comes back on its old version (fault old_version) halts the chain and the backward wave puts the device upgraded
 * before it back on its previous version with the playbook's `compensate` steps (EOS boot config + reload, Junos
 * software rollback, NX-OS install all with its answer, SONiC set-default + reboot).
 */
import {afterEach, describe, expect, it} from 'vitest'

import {labStack, type StackFixture} from '../helpers/lab-stack.js'

let fixture: StackFixture | undefined
afterEach(async () => {
  await fixture?.stop()
  fixture = undefined
})

const CASES = [
  {platform: 'eos', from: '4.28.3M', target: {version: '4.30.1F', image: 'EOS-4.30.1F.swi'}, undo: 'reload into the previous image'},
  {platform: 'junos', from: '21.2R3-S4.8', target: {version: '21.4R3-S5.4', image: 'jinstall-ex-4300-21.4R3-S5.4-signed.tgz'}, undo: 'roll back to the previous installation'},
  {platform: 'nxos', from: '9.3.8', target: {version: '9.3.10', image: 'nxos.9.3.10.bin'}, undo: 'reinstall the previous image'},
  {platform: 'sonic', from: '202205.1', target: {version: '202305.1', image: 'sonic-broadcom-202305.1.bin'}, undo: 'reboot into the previous image'},
]

describe.each(CASES)('$platform rollback', ({platform, from, target, undo}) => {
  it('rolls the upgraded device back to its previous version with the playbook\'s compensating steps', async () => {
    fixture = await labStack({
      devices: [{name: 'sw1'}, {name: 'sw2', faults: ['old_version']}],
      playbook: `${platform}.yml`,
      target,
      labVersion: from,
      extra: {on_failure: 'rollback'},
    })
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.devices.map((d) => [d.name, d.status])).toEqual([
      ['sw1', 'rolled_back'],
      ['sw2', 'rolled_back'],
    ])
    expect(fixture.lab.switches.map((s) => s.version)).toEqual([from, from])
    expect(fixture.lab.switches[0]!.reloads).toBe(2)
    const sw1Rollback = result.steps.filter((s) => s.device === 'sw1' && s.phase === 'rollback')
    expect(sw1Rollback.map((s) => [s.action, s.status])).toContainEqual([undo, 'completed'])
    expect(sw1Rollback.every((s) => s.status === 'completed')).toBe(true)
  })
})
