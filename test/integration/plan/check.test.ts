/**
 * --check against real simulated switches over SSH: what it reports per device, and, from each simulator's own
 * command log (its `exec` events), that only the playbook's facts and readiness commands arrived: no install, no
 * reload, no gate command, versions unchanged.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {applyChecks, buildPlan, checkDevices, renderPlan} from '../../../src/plan/index.js'
import {resolveSecrets} from '../../../src/run/secrets.js'
import {SimSwitch} from '../../../src/lab/sim-switch.js'
import {freePorts, labStack, simEvents, TEST_PASSWORD, type StackFixture} from '../../helpers/lab-stack.js'

let fixture: StackFixture | undefined
afterEach(async () => {
  await fixture?.stop()
  fixture = undefined
})

const credentials = (f: StackFixture) => resolveSecrets(f.inventory, {CHAINUP_TEST_PASSWORD: TEST_PASSWORD}).credentials

describe('plan --check against the simulator', () => {
  it('reports version, skip, image, free space and rollback feasibility; sends only facts and readiness commands', async () => {
    fixture = await labStack({
      devices: [{name: 'sw1'}, {name: 'sw2', version: '17.09.05'}, {name: 'sw3', faults: ['missing_image']}, {name: 'sw4', faults: ['no_rollback_image']}],
      extra: {on_failure: 'rollback'},
      // a device_command gate that would change the device if it were ever sent
      gates: {before: [{name: 'mark', scope: 'device', device_command: 'reload', expect: '.'}], after: [{name: 'boot', device_command: 'reload', expect: '.'}]},
    })
    const checks = await checkDevices(fixture.inventory, fixture.playbook, {credentials: credentials(fixture), hostKeys: fixture.lab.hostKeys})
    const c = Object.fromEntries(checks)
    expect(c.sw1).toMatchObject({reachable: true, host_key: 'ok', version: '17.06.05', needs_upgrade: true, image_present: true, rollback_ready: true, error: null})
    expect(c.sw1!.free_bytes).toBeGreaterThan(0)
    expect(c.sw1!.readiness.map((r) => [r.name, r.command, r.ok])).toEqual([
      ['facts', 'show version', true],
      ['show version', 'show version', true],
      ['image on flash', 'dir flash:', true],
      ['previous image on flash', 'dir flash:', true],
    ])
    expect(c.sw2).toMatchObject({reachable: true, version: '17.09.05', needs_upgrade: false, image_present: true, error: null})
    expect(c.sw3).toMatchObject({reachable: true, version: '17.06.05', needs_upgrade: true, image_present: false, rollback_ready: true})
    expect(c.sw3!.error).toMatch(/^image on flash: output does not match/)
    expect(c.sw4).toMatchObject({reachable: true, image_present: true, rollback_ready: false})
    expect(c.sw4!.error).toMatch(/^previous image on flash: /)

    // the simulators' own command logs: facts and readiness commands only, nothing state-changing
    const events = simEvents(fixture)
    const execs = events.filter((e) => e.type === 'exec')
    expect(new Set(execs.map((e) => e.detail))).toEqual(new Set(['show version', 'dir flash:']))
    for (const name of ['sw1', 'sw2', 'sw3', 'sw4']) {
      expect(execs.filter((e) => e.device === name).map((e) => e.detail)).toEqual(['show version', 'show version', 'dir flash:', 'dir flash:'])
    }
    expect(events.filter((e) => ['reload', 'down', 'up', 'install_started'].includes(e.type))).toEqual([])
    // and a second look finds every device as it was
    const again = await checkDevices(fixture.inventory, fixture.playbook, {credentials: credentials(fixture), hostKeys: fixture.lab.hostKeys})
    expect([...again.values()].map((x) => x.version)).toEqual(['17.06.05', '17.09.05', '17.06.05', '17.06.05'])
  })

  it('a wrong host key is a mismatch, a key known_hosts lacks is unknown, a stopped device is unreachable; nothing is sent to them', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2'}, {name: 'sw3'}]})
    await fixture.lab.switches[2]!.stop()
    const hostKeys = new Map(fixture.lab.hostKeys)
    hostKeys.set('sw1', {kind: 'fingerprint', fingerprint: 'SHA256:' + 'A'.repeat(43)})
    hostKeys.delete('sw2') // the inventory's known_hosts, which lists no lab key
    const checks = await checkDevices(fixture.inventory, fixture.playbook, {credentials: credentials(fixture), hostKeys})
    expect(checks.get('sw1')).toMatchObject({reachable: true, host_key: 'mismatch', version: null, needs_upgrade: null, readiness: []})
    expect(checks.get('sw1')!.error).toMatch(/host key changed: expected SHA256:A+, the device offered SHA256:/)
    expect(checks.get('sw2')).toMatchObject({reachable: true, host_key: 'unknown', version: null})
    expect(checks.get('sw2')!.error).toMatch(/unknown host key SHA256:\S+: \[127\.0\.0\.1\]:\d+ is not in /)
    expect(checks.get('sw3')).toMatchObject({reachable: false, host_key: null, version: null, needs_upgrade: null})
    expect(checks.get('sw3')!.error).toMatch(/sw3: cannot connect to 127\.0\.0\.1:\d+/)
    expect(simEvents(fixture).filter((e) => e.type === 'exec' || e.type === 'login')).toEqual([])
  })

  it('a device whose output carries escape sequences and shell syntax: its version is refused, nothing raw is printed', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}]})
    const [port] = await freePorts(1)
    const hostile = new SimSwitch({name: 'sw1', port: port!, username: 'netops', password: TEST_PASSWORD, version: '17.06.05', extraImages: [fixture.inventory.target.image], faults: ['hostile_output']})
    await hostile.start()
    try {
      const inventory = {...fixture.inventory, devices: [{...fixture.inventory.devices[0]!, port: port!}]}
      const hostKeys = new Map([['sw1', {kind: 'fingerprint' as const, fingerprint: hostile.hostKeyFingerprint}]])
      const checks = await checkDevices(inventory, fixture.playbook, {credentials: credentials(fixture), hostKeys})
      const c = checks.get('sw1')!
      expect(c).toMatchObject({reachable: true, host_key: 'ok', version: null, needs_upgrade: null})
      expect(c.error).toMatch(/^facts: sw1: show version reports version/)
      const text = await renderPlan(applyChecks(buildPlan(inventory, fixture.playbook), checks, inventory, fixture.playbook))
      expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/)
      expect(hostile.events.filter((e) => e.type === 'exec').map((e) => e.detail)).toEqual(['show version'])
    } finally {
      await hostile.stop()
    }
  })
})
