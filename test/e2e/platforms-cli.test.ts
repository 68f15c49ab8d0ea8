/**
 * `chainup upgrade INVENTORY --lab --transcript DIR` through the built CLI: the lab simulates the playbook's platform
 * (SONiC here), the run completes, and every device's sessions are in DIR/<run id>/<device>.log without the password.
 */
import {mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {parseTranscript} from '../../src/device/transcript.js'
import {chainup} from '../helpers/cli.js'
import {freePorts, ROOT} from '../helpers/lab-stack.js'

describe('chainup upgrade --lab --transcript (SONiC example)', () => {
  it('upgrades the simulated SONiC switches and writes one redacted transcript per device', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainup-cli-transcript-'))
    const [p1, p2] = await freePorts(2)
    const example = readFileSync(join(ROOT, 'inventories/examples/sonic-stack.yml'), 'utf8')
    const inventory = join(dir, 'sonic.yml')
    writeFileSync(
      inventory,
      example
        .replace('../../playbooks/sonic.yml', join(ROOT, 'playbooks/sonic.yml'))
        .replace('../lab_known_hosts', join(ROOT, 'inventories/lab_known_hosts'))
        .replace('settle: PT30S', 'settle: PT0S')
        .replace('boot_time: PT3S', 'boot_time: PT0.3S')
        .replace('port: 10061', `port: ${p1}`)
        .replace('port: 10062', `port: ${p2}`),
    )
    const password = 'Cli-transcript-pa55'
    const run = await chainup(['upgrade', inventory, '--lab', '--json', '--state-dir', join(dir, 'state'), '--transcript', join(dir, 't')], {CHAINUP_SSH_PASSWORD: password})
    expect(run.stderr).toContain('lab started 2 simulated sonic switches')
    expect(run.code).toBe(0)
    const result = JSON.parse(run.stdout) as {execution_id: string; devices: Array<{name: string; version_after: string}>}
    expect(result.devices.map((d) => [d.name, d.version_after])).toEqual([
      ['sonic1', '202305.1'],
      ['sonic2', '202305.1'],
    ])
    const runDir = join(dir, 't', result.execution_id)
    expect(readdirSync(runDir).sort()).toEqual(['sonic1.log', 'sonic2.log'])
    for (const file of ['sonic1.log', 'sonic2.log']) {
      const text = readFileSync(join(runDir, file), 'utf8')
      expect(text).not.toContain(password)
      const events = parseTranscript(text)
      expect(events.filter((e) => e.kind === 'exec').map((e) => e.data)).toContain('sudo sonic-installer install -y sonic-broadcom-202305.1.bin')
      expect(events.some((e) => e.kind === 'exit' && e.data === 'dropped')).toBe(true)
    }
  })
})
