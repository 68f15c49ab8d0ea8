import {mkdtempSync, readdirSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {prepareResume} from '../../src/cli/resume.js'
import {RunEvents} from '../../src/model/events.js'
import {resolveSecrets} from '../../src/run/secrets.js'
import {runUpgrade} from '../../src/run/upgrade.js'
import {initCerts} from '../../src/protocol/certs.js'
import {runTransports} from '../../src/run/transport.js'

import {ChainupObject} from '../../src/notify/oids.js'
import {installed, labStack, simEvents, TEST_PASSWORD, type StackFixture} from '../helpers/lab-stack.js'

let fixture: StackFixture | undefined
afterEach(async () => {
  await fixture?.stop()
  fixture = undefined
})

const four = () => [{name: 'sw1'}, {name: 'sw2'}, {name: 'sw3'}, {name: 'sw4'}]

describe('chainup upgrade against simulated Catalyst 9000s (real SSH, real ChainSync TCP)', () => {
  it('upgrades every device, strictly one at a time in chain order, after every device was ready', async () => {
    fixture = await labStack({devices: four()})
    const result = await fixture.run()
    expect(result.status).toBe('completed')
    expect(result.devices.map((d) => [d.name, d.status, d.version_before, d.version_after])).toEqual([
      ['sw1', 'upgraded', '17.06.05', '17.09.05'],
      ['sw2', 'upgraded', '17.06.05', '17.09.05'],
      ['sw3', 'upgraded', '17.06.05', '17.09.05'],
      ['sw4', 'upgraded', '17.06.05', '17.09.05'],
    ])
    for (const sim of fixture.lab.switches) {
      expect(sim.reloads).toBe(1)
      expect(sim.version).toBe('17.09.05')
    }
    // From the simulators' own event log: down/up strictly alternate, in chain order.
    const downUp = simEvents(fixture).filter((e) => e.type === 'down' || e.type === 'up').map((e) => `${e.device}:${e.type}`)
    expect(downUp).toEqual(['sw1:down', 'sw1:up', 'sw2:down', 'sw2:up', 'sw3:down', 'sw3:up', 'sw4:down', 'sw4:up'])
    // Readiness barrier: every device's readiness check ran before the first install.
    const events = simEvents(fixture)
    const firstInstall = events.find((e) => e.type === 'install_started')!.at
    for (const name of ['sw1', 'sw2', 'sw3', 'sw4']) {
      const flashCheck = events.find((e) => e.device === name && e.type === 'exec' && e.detail === 'dir flash:')
      expect(flashCheck, `${name} checked flash`).toBeDefined()
      expect(flashCheck!.at).toBeLessThanOrEqual(firstInstall)
    }
    // The DEC-002 record.
    expect(result.chain_id).toBe('test-stack')
    expect(result.steps.map((s) => s.order)).toEqual(result.steps.map((_, i) => i + 1))
    expect(result.steps.filter((s) => s.action === 'install image').map((s) => s.device)).toEqual(['sw1', 'sw2', 'sw3', 'sw4'])
    expect(result.gates.filter((g) => g.type === 'after').map((g) => [g.device, g.decision])).toEqual([
      ['sw1', 'allow'],
      ['sw2', 'allow'],
      ['sw3', 'allow'],
      ['sw4', 'allow'],
    ])
    const saved = readFileSync(join(fixture.dir, 'state', 'runs', `${result.execution_id}.json`), 'utf8')
    expect(JSON.parse(saved)).toEqual(JSON.parse(JSON.stringify(result)))
    expect(saved).not.toContain(TEST_PASSWORD)
    // The journal holds the run, and never the password (the raw bytes of the database and its WAL).
    const stateDir = join(fixture.dir, 'state')
    for (const file of readdirSync(stateDir).filter((f) => f.startsWith('chainup.db'))) {
      expect(readFileSync(join(stateDir, file)).includes(Buffer.from(TEST_PASSWORD)), file).toBe(false)
    }
  })

  it('reboots nothing when one device is not ready (image missing on sw3)', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2'}, {name: 'sw3', faults: ['missing_image']}, {name: 'sw4'}]})
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/sw3 is not ready: step "image on flash" failed/)
    expect(installed(fixture)).toEqual([])
    expect(fixture.lab.switches.map((s) => s.reloads)).toEqual([0, 0, 0, 0])
  })

  it('predecessor timeout: sw2 never comes back, sw3 sends a trap with the right varbinds, nothing after sw2 is touched', async () => {
    fixture = await labStack({
      devices: [{name: 'sw1'}, {name: 'sw2', faults: ['never_returns']}, {name: 'sw3'}, {name: 'sw4'}],
      // sw1 takes ~0.5 s, under the 2 s predecessor timeout; sw2 never returns, its own boot timeout (20 s) is later.
      timeouts: {predecessor: 'PT2S', boot: 'PT20S'},
    })
    const trapArrived = fixture.receiver.waitFor((t) => t.trapOid === '1.3.6.1.4.1.32473.1.0.1', 15_000)
    const result = await fixture.run()
    const trap = await trapArrived
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/predecessor sw2 did not complete/)
    expect(trap.community).toBe('public')
    expect(trap.varbinds[ChainupObject.chainupRunId]).toBe(result.execution_id)
    expect(trap.varbinds[ChainupObject.chainupStack]).toBe('test-stack')
    expect(trap.varbinds[ChainupObject.chainupPredecessor]).toBe('sw2')
    expect(trap.varbinds[ChainupObject.chainupReporter]).toBe('sw3')
    expect(String(trap.varbinds[ChainupObject.chainupReason])).toMatch(/sw2 did not complete/)
    expect(installed(fixture)).toEqual(['sw1', 'sw2'])
    expect(result.devices.map((d) => d.status)).toEqual(['upgraded', 'cancelled', 'not_started', 'not_started'])
    expect(result.traps).toHaveLength(1)
    expect(result.traps[0]!.receivers[0]!.ok).toBe(true)
    // Only one trap: the predecessor timeout, no other noise.
    expect(fixture.receiver.traps).toHaveLength(1)
  })

  it('an after-gate veto on sw2 halts the chain: vetoed, sw3 and sw4 untouched', async () => {
    fixture = await labStack({
      devices: four(),
      gates: {after: [{name: 'health', run: 'if [ "$CHAINUP_DEVICE" = sw2 ]; then echo "sw2 lost a stack member ($CHAINUP_GATE)"; exit 1; fi; echo ok'}]},
    })
    const result = await fixture.run()
    expect(result.status).toBe('vetoed')
    expect(result.gates.map((g) => [g.device, g.decision, g.reason])).toEqual([
      ['sw1', 'allow', 'ok'],
      ['sw2', 'veto', 'sw2 lost a stack member (after)'],
    ])
    expect(installed(fixture)).toEqual(['sw1', 'sw2'])
  })

  it('on_error allow: sw2 comes back on the old version, the chain continues, the run still fails', async () => {
    fixture = await labStack({
      devices: [{name: 'sw1'}, {name: 'sw2', faults: ['old_version']}, {name: 'sw3'}, {name: 'sw4'}],
      gates: {on_error: [{name: 'tolerate one', run: 'echo "one member may lag"; exit 0'}]},
    })
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.devices.map((d) => d.status)).toEqual(['upgraded', 'failed', 'upgraded', 'upgraded'])
    expect(result.gates.find((g) => g.type === 'on_error')).toMatchObject({device: 'sw2', decision: 'allow', reason: 'one member may lag'})
    const failed = result.steps.find((s) => s.status === 'failed')!
    expect(failed).toMatchObject({device: 'sw2', action: 'verify version'})
    expect(installed(fixture)).toEqual(['sw1', 'sw2', 'sw3', 'sw4'])
  })

  it('on_error veto: the run is vetoed and nothing after sw2 starts', async () => {
    fixture = await labStack({
      devices: [{name: 'sw1'}, {name: 'sw2', faults: ['old_version']}, {name: 'sw3'}, {name: 'sw4'}],
      gates: {on_error: [{name: 'stop', run: 'echo "halt: $CHAINUP_DEVICE failed"; exit 3'}]},
    })
    const result = await fixture.run()
    expect(result.status).toBe('vetoed')
    expect(result.gates.find((g) => g.type === 'on_error')).toMatchObject({device: 'sw2', decision: 'veto', reason: 'halt: sw2 failed'})
    expect(installed(fixture)).toEqual(['sw1', 'sw2'])
  })

  it('no on_error gate: a failure halts the chain (failed) and a chainupChainHalted trap is sent', async () => {
    fixture = await labStack({devices: [{name: 'sw1', faults: ['old_version']}, {name: 'sw2'}]})
    const trap = fixture.receiver.waitFor((t) => t.trapOid === '1.3.6.1.4.1.32473.1.0.2', 15_000)
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect((await trap).varbinds[ChainupObject.chainupReporter]).toBe('sw1')
    expect(installed(fixture)).toEqual(['sw1'])
  })

  it('a changed host key stops that device before anything reboots', async () => {
    fixture = await labStack({devices: four()})
    const keys = new Map(fixture.lab.hostKeys)
    keys.set('sw2', {kind: 'fingerprint', fingerprint: 'SHA256:' + 'A'.repeat(43)})
    const result = await fixture.run({hostKeys: keys})
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/sw2 is not ready: host key changed: expected SHA256:A{43}, the device offered SHA256:/)
    expect(installed(fixture)).toEqual([])
    // The device never saw a login attempt: the key is checked before authenticating.
    expect(fixture.lab.switches[1]!.events.filter((e) => e.type === 'login' || e.type === 'login_failed')).toEqual([])
  })

  it('a device that never reloads fails with "reload did not happen"', async () => {
    fixture = await labStack({devices: [{name: 'sw1', faults: ['no_reload']}, {name: 'sw2'}], timeouts: {boot: 'PT3S'}})
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.steps.find((s) => s.action === 'wait for reload')?.error).toMatch(/reload did not happen/)
    expect(installed(fixture)).toEqual(['sw1'])
  })

  it('an install refused with "FAILED:" and exit status 0 fails its step; nothing waits for a reload, sw2 is not touched (issue #10)', async () => {
    fixture = await labStack({devices: [{name: 'sw1', faults: ['install_busy']}, {name: 'sw2'}]})
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.steps.find((s) => s.action === 'install image')).toMatchObject({
      status: 'failed',
      error: 'device reported an error: FAILED: install_add_activate_commit : Another install operation is in progress',
    })
    expect(result.steps.find((s) => s.action === 'wait for reload')).toBeUndefined()
    expect(fixture.lab.switches[0]!.events.filter((e) => e.type === 'reload')).toEqual([])
    expect(fixture.lab.switches[1]!.events.filter((e) => e.type === 'install_started')).toEqual([])
  })

  it('a hung install is a failed step after its timeout', async () => {
    fixture = await labStack({devices: [{name: 'sw1', faults: ['hang_install']}, {name: 'sw2'}], timeouts: {command: 'PT2S'}})
    // The shipped playbook gives the install step its own PT30M; shorten it the way a playbook would.
    ;(fixture.playbook.upgrade[0] as {timeout?: number}).timeout = 1500
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.steps.find((s) => s.action === 'install image')).toMatchObject({status: 'failed', error: expect.stringMatching(/install add file flash:cat9k_iosxe\.17\.09\.05\.SPA\.bin activate commit prompt-level none" did not finish within 2s/)})
    expect(installed(fixture)).toEqual(['sw1'])
  })

  it('a device already on the target version is skipped but still takes part in the chain', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2', version: '17.09.05'}, {name: 'sw3'}]})
    const result = await fixture.run()
    expect(result.status).toBe('completed')
    expect(result.devices.map((d) => d.status)).toEqual(['upgraded', 'skipped', 'upgraded'])
    expect(fixture.lab.switches.map((s) => s.reloads)).toEqual([1, 0, 1])
    expect(result.steps.find((s) => s.device === 'sw2' && s.status === 'skipped')).toMatchObject({action: 'upgrade'})
  })

  it('a stack-wide before gate veto touches no device', async () => {
    fixture = await labStack({devices: four(), gates: {before: [{name: 'change window', scope: 'stack', run: 'echo "outside the change window"; exit 1'}]}})
    const result = await fixture.run()
    expect(result.status).toBe('vetoed')
    expect(result.reason).toMatch(/outside the change window/)
    expect(simEvents(fixture).filter((e) => e.type === 'login' || e.type === 'exec')).toEqual([])
  })

  it('a final gate veto makes the run vetoed after every device is done', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2'}], gates: {final: [{name: 'sign-off', run: 'echo "$CHAINUP_GATE refused"; exit 1'}]}})
    const result = await fixture.run()
    expect(result.status).toBe('vetoed')
    expect(result.gates.at(-1)).toEqual({type: 'final', name: 'sign-off', device: null, decision: 'veto', reason: 'final refused'})
    expect(fixture.lab.switches.map((s) => s.reloads)).toEqual([1, 1])
  })

  it('a gate that exceeds its timeout vetoes', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}], gates: {after: [{name: 'slow', run: 'sleep 30', timeout: 'PT0.5S'}]}})
    const result = await fixture.run()
    expect(result.status).toBe('vetoed')
    expect(result.gates[0]).toMatchObject({decision: 'veto', reason: expect.stringMatching(/timed out/)})
  })

  it('runs the chain over TLS 1.3 with mutual authentication from chainsync.tls (certs from initCerts)', async () => {
    const pki = mkdtempSync(join(tmpdir(), 'chainup-pki-'))
    await initCerts(pki, ['sw1', 'sw2', 'sw3'])
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2'}, {name: 'sw3'}], extra: {chainsync: {tls: {ca: join(pki, 'ca.crt'), cert_dir: pki}}}})
    const links = await runTransports(fixture.inventory, ['sw1', 'sw2', 'sw3'])
    expect(links.security).toBe('tls-cert')
    expect(['sw1', 'sw2', 'sw3'].map((d) => links.transportFor(d)?.kind)).toEqual(['tls', 'tls', 'tls'])
    const result = await fixture.run({transportFor: links.transportFor})
    expect(result.status).toBe('completed')
    expect(installed(fixture)).toEqual(['sw1', 'sw2', 'sw3'])
  })

  it('timeouts.run: past it the device in progress finishes, nothing new starts, the run fails with reason timeout', async () => {
    fixture = await labStack({devices: four(), timeouts: {run: 'PT1S'}, bootTime: 'PT1.5S'})
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/^timeout: the run exceeded timeouts\.run \(1\.0s\)/)
    // sw1 was in progress at the deadline: it finished; nothing after it started.
    expect(result.devices.map((d) => d.status)).toEqual(['upgraded', 'not_started', 'not_started', 'not_started'])
    expect(installed(fixture)).toEqual(['sw1'])
  })

  it('timeouts.run with on_failure: rollback: the run stops like a cancel, fails with the timeout reason, and no compensating step reaches any device (docs/decisions.md #36)', async () => {
    fixture = await labStack({devices: four(), timeouts: {run: 'PT1S'}, bootTime: 'PT1.5S', extra: {on_failure: 'rollback'}})
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/^timeout: the run exceeded timeouts\.run \(1\.0s\)$/)
    // sw1 was being upgraded when the time ran out: it finished and stays on the target; nothing was rolled back.
    expect(result.devices.map((d) => [d.name, d.status, d.version_after])).toEqual([
      ['sw1', 'upgraded', '17.09.05'],
      ['sw2', 'not_started', null],
      ['sw3', 'not_started', null],
      ['sw4', 'not_started', null],
    ])
    expect(result.steps.filter((s) => s.phase === 'rollback')).toEqual([])
    // From the simulators' own log: no compensating command (reinstalling the previous image) reached any device,
    // one install and one reload in the whole stack.
    const log = simEvents(fixture)
    expect(log.filter((e) => (e.detail ?? '').includes('cat9k_iosxe.17.06.05'))).toEqual([])
    expect(installed(fixture)).toEqual(['sw1'])
    expect(fixture.lab.switches.map((s) => [s.reloads, s.version])).toEqual([
      [1, '17.09.05'],
      [0, '17.06.05'],
      [0, '17.06.05'],
      [0, '17.06.05'],
    ])
    // What the operator can do next (docs/inventory.md `run`): a failed run is not resumed ...
    const stateDir = join(fixture.dir, 'state')
    expect(await prepareResume(stateDir, result.execution_id)).toMatchObject({already: true, result: {status: 'failed'}})
    // ... and a new run goes on where it stopped: sw1 is already on the target (skipped), sw2 is upgraded next.
    const next = await runUpgrade({
      inventory: fixture.inventory,
      playbook: fixture.playbook,
      secrets: resolveSecrets(fixture.inventory, {CHAINUP_TEST_PASSWORD: TEST_PASSWORD}),
      hostKeys: fixture.lab.hostKeys,
      events: new RunEvents(),
      stateDir,
    })
    expect(next.devices.map((d) => d.status).slice(0, 2), String(next.reason)).toEqual(['skipped', 'upgraded'])
    expect(installed(fixture)).toEqual(['sw1', 'sw2'])
  })

  it('on_failure: rollback: the failed device first, then the upgraded ones in reverse chain order, back on their old version', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2'}, {name: 'sw3', faults: ['old_version']}, {name: 'sw4'}], extra: {on_failure: 'rollback'}})
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/rolled back sw3, sw2, sw1$/)
    expect(result.devices.map((d) => [d.name, d.status])).toEqual([
      ['sw1', 'rolled_back'],
      ['sw2', 'rolled_back'],
      ['sw3', 'rolled_back'],
      ['sw4', 'not_started'],
    ])
    expect(fixture.lab.switches.map((s) => s.version)).toEqual(['17.06.05', '17.06.05', '17.06.05', '17.06.05'])
    // The backward wave, from the simulators' own log: sw3 needed nothing (it came back on the old version), then sw2, then sw1.
    expect(installed(fixture)).toEqual(['sw1', 'sw2', 'sw3', 'sw2', 'sw1'])
    const rollbackSteps = result.steps.filter((s) => s.phase === 'rollback' && s.action !== 'facts').map((s) => `${s.device}:${s.action}`)
    expect(rollbackSteps).toEqual([
      'sw3:rollback',
      'sw2:reinstall the previous image',
      'sw2:verify previous version',
      'sw1:reinstall the previous image',
      'sw1:verify previous version',
    ])
    expect(fixture.lab.switches.map((s) => s.reloads)).toEqual([2, 2, 1, 0])
  })

  it('on_failure: rollback: a device is only ready if its previous image is still on flash', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2', faults: ['no_rollback_image']}], extra: {on_failure: 'rollback'}})
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/sw2 is not ready: step "previous image on flash" failed/)
    expect(installed(fixture)).toEqual([])
  })

  it('on_failure: rollback: a failure during rollback fails the run, sends a trap and stops', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2', faults: ['never_returns']}], extra: {on_failure: 'rollback'}, timeouts: {boot: 'PT2S', connect: 'PT1S'}})
    const trap = fixture.receiver.waitFor((t) => /rollback failed/.test(String(t.varbinds[ChainupObject.chainupReason])), 20_000)
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/rollback failed on sw2/)
    expect(result.devices.map((d) => d.status)).toEqual(['upgraded', 'rollback_failed'])
    expect((await trap).varbinds[ChainupObject.chainupReporter]).toBe('sw2')
    // It stopped: sw1 was not rolled back.
    expect(installed(fixture)).toEqual(['sw1', 'sw2'])
    expect(fixture.lab.switches[0]!.version).toBe('17.09.05')
  })
})
