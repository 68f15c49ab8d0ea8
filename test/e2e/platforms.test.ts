/**
 * The vendor playbooks (playbooks/eos.yml, junos.yml, nxos.yml, sonic.yml) against the lab's dialects over real SSH
 * and real ChainSync: a 2-device stack upgrades strictly one device after another, and each platform's failure
 * marker fails its step with nothing after it touched.
 */
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {parseTranscript} from '../../src/device/transcript.js'
import type {LabFault} from '../../src/config/types.js'
import {labStack, simEvents, TEST_PASSWORD, type StackFixture} from '../helpers/lab-stack.js'

let fixture: StackFixture | undefined
afterEach(async () => {
  await fixture?.stop()
  fixture = undefined
})

interface Platform {
  playbook: string
  from: string
  target: {version: string; image: string}
  /** A fault that makes the upgrade fail on sw1, and the failure the result names. */
  failure: {fault: LabFault; reason: RegExp}
}

const PLATFORMS: Record<string, Platform> = {
  eos: {playbook: 'eos.yml', from: '4.28.3M', target: {version: '4.30.1F', image: 'EOS-4.30.1F.swi'}, failure: {fault: 'old_version', reason: /sw1: step "verify version" failed: output does not match/}},
  junos: {
    playbook: 'junos.yml',
    from: '21.2R3-S4.8',
    target: {version: '21.4R3-S5.4', image: 'jinstall-ex-4300-21.4R3-S5.4-signed.tgz'},
    failure: {fault: 'install_busy', reason: /step "install package" failed: device reported an error: error: another package installation is in progress/},
  },
  nxos: {
    playbook: 'nxos.yml',
    from: '9.3.8',
    target: {version: '9.3.10', image: 'nxos.9.3.10.bin'},
    failure: {fault: 'install_busy', reason: /step "install all" failed: device reported an error: Another install procedure may be in progress/},
  },
  sonic: {
    playbook: 'sonic.yml',
    from: '202205.1',
    target: {version: '202305.1', image: 'sonic-broadcom-202305.1.bin'},
    failure: {fault: 'install_busy', reason: /step "install image" failed: device reported an error: Error: another sonic-installer process is running/},
  },
}

describe.each(Object.entries(PLATFORMS))('%s playbook against the lab dialect (real SSH, real ChainSync)', (platform, p) => {
  it('upgrades a 2-device stack strictly one device after another, both on the target version', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2'}], playbook: p.playbook, target: p.target, labVersion: p.from})
    const result = await fixture.run()
    expect(result.reason).toBeNull()
    expect(result.status).toBe('completed')
    expect(result.devices.map((d) => [d.name, d.status, d.version_before, d.version_after])).toEqual([
      ['sw1', 'upgraded', p.from, p.target.version],
      ['sw2', 'upgraded', p.from, p.target.version],
    ])
    for (const sim of fixture.lab.switches) {
      expect(sim.version).toBe(p.target.version)
      expect(sim.reloads).toBe(1)
    }
    const downUp = simEvents(fixture).filter((e) => e.type === 'down' || e.type === 'up').map((e) => `${e.device}:${e.type}`)
    expect(downUp).toEqual(['sw1:down', 'sw1:up', 'sw2:down', 'sw2:up'])
    // sw2 was not touched by an upgrade command before sw1 was back.
    const events = simEvents(fixture)
    const sw1Up = events.find((e) => e.device === 'sw1' && e.type === 'up')!.at
    expect(events.filter((e) => e.device === 'sw2' && e.type === 'install_started').every((e) => e.at >= sw1Up)).toBe(true)
    expect(result.gates.filter((g) => g.type === 'after').map((g) => [g.device, g.decision])).toEqual([
      ['sw1', 'allow'],
      ['sw2', 'allow'],
    ])
  })

  it(`fails the step on the platform's failure marker (${p.failure.fault} on sw1) and leaves sw2 untouched`, async () => {
    fixture = await labStack({devices: [{name: 'sw1', faults: [p.failure.fault]}, {name: 'sw2'}], playbook: p.playbook, target: p.target, labVersion: p.from})
    const result = await fixture.run()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(p.failure.reason)
    expect(fixture.lab.switches[1]!.version).toBe(p.from)
    expect(simEvents(fixture).filter((e) => e.device === 'sw2' && (e.type === 'install_started' || e.type === 'down'))).toEqual([])
  })
})

describe('nxos through the interactive session', () => {
  it("answers install all's (y/n) prompt in the PTY shell, pager off first; the transcript holds it, redacted", async () => {
    const p = PLATFORMS.nxos!
    const dir = join((await import('node:os')).tmpdir(), `chainup-transcripts-${process.pid}-${Date.now()}`)
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2'}], playbook: p.playbook, target: p.target, labVersion: p.from, transcriptDir: dir})
    const result = await fixture.run()
    expect(result.status).toBe('completed')
    // Commands came as shell lines: the pager command first on every connection, then the playbook's commands.
    const sw1 = simEvents(fixture).filter((e) => e.device === 'sw1' && e.type === 'exec').map((e) => e.detail)
    expect(sw1[0]).toBe('terminal length 0')
    expect(sw1).toContain('install all nxos bootflash:nxos.9.3.10.bin')
    const install = result.steps.find((s) => s.action === 'install all' && s.device === 'sw1')!
    expect(install.status).toBe('completed')
    expect(install.output).toContain('Do you want to continue with the installation (y/n)?  [n] y')
    expect(install.output).not.toMatch(/\x1b|\r/)
    // The transcript: DIR/<run>/<device>.log, every session, the answer sent, no secret.
    const runDir = join(dir, result.execution_id)
    expect(readdirSync(runDir).sort()).toEqual(['sw1.log', 'sw2.log'])
    const text = readFileSync(join(runDir, 'sw1.log'), 'utf8')
    expect(text).not.toContain(TEST_PASSWORD)
    const events = parseTranscript(text)
    expect(events.filter((e) => e.kind === 'shell').length).toBeGreaterThanOrEqual(2)
    expect(events.some((e) => e.kind === '>' && e.data === 'y\r')).toBe(true)
    expect(events.some((e) => e.kind === 'close' && e.data === 'dropped')).toBe(true)
    expect(existsSync(join(runDir, 'sw2.log'))).toBe(true)
  })
})
