/**
 * Image staging with the EOS, NX-OS, Junos and SONiC playbooks (issue #10: each vendor playbook with its staging section): the
 * inventory's target.image_file is copied to every simulated switch during readiness,
 * verified on the switch with the platform's own digest command (SCP to flash:, bootflash:, /var/tmp/; SFTP to a SONiC home directory), and only then does the chain upgrade.
 */
import {createHash, randomBytes} from 'node:crypto'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {labStack, simEvents, type StackFixture} from '../helpers/lab-stack.js'

let fixture: StackFixture | undefined
afterEach(async () => {
  await fixture?.stop()
  fixture = undefined
})

const PLATFORMS = {
  eos: {playbook: 'eos.yml', from: '4.28.3M', version: '4.30.1F', image: 'EOS-4.30.1F.swi', verify: 'verify /md5 flash:EOS-4.30.1F.swi'},
  nxos: {playbook: 'nxos.yml', from: '9.3.8', version: '9.3.10', image: 'nxos.9.3.10.bin', verify: 'show file bootflash:nxos.9.3.10.bin md5sum'},
  junos: {playbook: 'junos.yml', from: '21.2R3-S4.8', version: '21.4R3-S5.4', image: 'jinstall-ex-4300-21.4R3-S5.4-signed.tgz', verify: 'file checksum md5 /var/tmp/jinstall-ex-4300-21.4R3-S5.4-signed.tgz'},
  sonic: {playbook: 'sonic.yml', from: '202205.1', version: '202305.1', image: 'sonic-broadcom-202305.1.bin', verify: 'md5sum sonic-broadcom-202305.1.bin'},
} as const

describe.each(Object.entries(PLATFORMS))('%s: staging the image during readiness', (_platform, p) => {
  it('copies the image to both switches, verifies it there, then upgrades them one after another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainup-vendor-staging-'))
    const bytes = randomBytes(256 * 1024)
    writeFileSync(join(dir, p.image), bytes)
    const md5 = createHash('md5').update(bytes).digest('hex')
    fixture = await labStack({
      devices: [{name: 'sw1'}, {name: 'sw2'}],
      playbook: p.playbook,
      labVersion: p.from,
      target: {version: p.version, image: p.image, image_file: join(dir, p.image)} as never,
    })
    const result = await fixture.run()
    expect(result.reason).toBeNull()
    expect(result.status).toBe('completed')
    expect(result.devices.map((d) => [d.name, d.status, d.version_after])).toEqual([
      ['sw1', 'upgraded', p.version],
      ['sw2', 'upgraded', p.version],
    ])
    const events = simEvents(fixture)
    // Each switch received the image (the simulator keeps its digest) before any install started anywhere.
    const copied = events.filter((e) => e.type === 'copy_finished')
    expect(new Set(copied.map((e) => e.device))).toEqual(new Set(['sw1', 'sw2']))
    const firstInstall = events.find((e) => e.type === 'install_started')!
    expect(copied.every((e) => e.at < firstInstall.at)).toBe(true)
    // The platform's digest command ran on each switch and matched the local file.
    const verified = result.steps.filter((s) => s.phase === 'readiness' && s.command === p.verify && s.status === 'completed')
    expect(new Set(verified.map((s) => s.device))).toEqual(new Set(['sw1', 'sw2']))
    expect(verified.some((s) => String(s.output).includes(md5))).toBe(true)
  })
})
