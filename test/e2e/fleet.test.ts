/**
 * A fleet through the CLI (`bin/run.js`, its own process, no TTY): `chainup upgrade A.yml B.yml C.yml --lab`, the fleet
 * result with `--json` and its exit code, `history` and `show --tree` at the fleet level, shared devices refused.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'

import type {FleetExecutionResult} from '../../src/model/result.js'
import {chainup} from '../helpers/cli.js'
import {freePorts, ROOT} from '../helpers/lab-stack.js'
import {recapLines} from '../helpers/recap.js'


/** Writes one lab inventory per stack (two devices each, 0.3 s boot) and, for a vetoed stack, a playbook whose stack-wide before gate vetoes. */
async function inventories(names: string[], opts: {veto?: string; bootTime?: string} = {}): Promise<{dir: string; files: string[]; ports: number[]}> {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-e2e-fleet-'))
  const ports = await freePorts(names.length * 2)
  writeFileSync(join(dir, 'known_hosts'), '# lab keys are checked by fingerprint\n')
  const shipped = parse(readFileSync(join(ROOT, 'playbooks/ios-xe-install.yml'), 'utf8')) as Record<string, unknown>
  writeFileSync(join(dir, 'playbook.yml'), stringify(shipped))
  writeFileSync(join(dir, 'veto.yml'), stringify({...shipped, gates: {...(shipped.gates as object), before: [{name: 'change board', scope: 'stack', run: 'echo "not today"; exit 1'}]}}))
  const files = names.map((name, i) => {
    const file = join(dir, `${name}.yml`)
    writeFileSync(
      file,
      stringify({
        stack: name,
        playbook: name === opts.veto ? './veto.yml' : './playbook.yml',
        target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
        ssh: {username: 'netops', password_env: 'CHAINUP_E2E_FLEET_PASSWORD', known_hosts: './known_hosts'},
        timeouts: {settle: 'PT0S', command: 'PT10S', boot: 'PT10S', predecessor: 'PT30S', gate: 'PT10S', connect: 'PT5S'},
        lab: {version: '17.06.05', boot_time: opts.bootTime ?? 'PT0.3S'},
        devices: [
          {name: 'sw1', host: '127.0.0.1', port: ports[2 * i]},
          {name: 'sw2', host: '127.0.0.1', port: ports[2 * i + 1]},
        ],
      }),
    )
    return file
  })
  return {dir, files, ports}
}

describe('chainup upgrade with several inventories (a fleet)', () => {
  it('upgrades three stacks two at a time, prints the fleet result, and history and show --tree show the fleet', async () => {
    const {dir, files} = await inventories(['core-1', 'core-2', 'core-3'])
    const state = join(dir, 'state')
    const run = await chainup(['upgrade', ...files, '--lab', '--json', '--concurrency', '2', '--state-dir', state])
    expect(run.code, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout) as FleetExecutionResult
    expect(result).toMatchObject({status: 'completed', reason: null, not_started: []})
    expect(Object.keys(result)).toEqual(['execution_id', 'status', 'started_at', 'completed_at', 'duration_ms', 'reason', 'stacks', 'not_started'])
    expect(result.stacks.map((s) => [s.chain_id, s.status, s.devices.map((d) => d.version_after)])).toEqual([
      ['core-1', 'completed', ['17.09.05', '17.09.05']],
      ['core-2', 'completed', ['17.09.05', '17.09.05']],
      ['core-3', 'completed', ['17.09.05', '17.09.05']],
    ])
    // progress on stderr with --json: one timestamped line per stack event, the fleet's summary last
    expect(run.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z core-2 run [0-9a-f-]{36} started$/m)
    expect(run.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z core-1 sw2 booting: /m)
    expect(run.stderr).toMatch(new RegExp(`fleet ${result.execution_id} completed in `))
    // The recap ends stderr: each stack, where the fleet's result is, and the command that shows it (issue #13).
    const recap = recapLines(run.stderr, 'fleet')
    expect(recap[0]).toMatch(new RegExp(`^RECAP fleet ${result.execution_id}: completed in `))
    expect(recap.slice(1, 4).map((l) => l.replace(/, run [0-9a-f-]{36}$/, ''))).toEqual(['  core-1  completed', '  core-2  completed', '  core-3  completed'])
    expect(recap).toContain(`result saved to ${join(state, 'runs', `${result.execution_id}.json`)}`)
    expect(recap.at(-1)).toBe(`next: chainup show ${result.execution_id} --tree --state-dir ${state}   (every stack's run, device and step)`)

    const history = await chainup(['history', '--state-dir', state])
    expect(history.code).toBe(0)
    expect(history.stdout).toMatch(new RegExp(`^fleet ${result.execution_id}  completed  .*core-1:completed core-2:completed core-3:completed$`, 'm'))
    expect(history.stdout).toContain(`core-3 (fleet ${result.execution_id.slice(0, 8)})`)

    const tree = await chainup(['show', result.execution_id, '--tree', '--state-dir', state])
    expect(tree.code, tree.stderr).toBe(0)
    const lines = tree.stdout.split('\n')
    expect(lines[0]).toMatch(new RegExp(`^fleet ${result.execution_id} completed `))
    expect(lines.filter((l) => /^[├└]─ run /.test(l)).map((l) => l.replace(/^[├└]─ run \S+ (\S+) (\S+).*/, '$1 $2'))).toEqual(['core-1 completed', 'core-2 completed', 'core-3 completed'])
    const shown = await chainup(['show', result.execution_id, '--json', '--state-dir', state])
    expect(JSON.parse(shown.stdout)).toMatchObject({execution_id: result.execution_id, status: 'completed', stacks: [{chain_id: 'core-1'}, {chain_id: 'core-2'}, {chain_id: 'core-3'}]})
    const resumed = await chainup(['resume', result.execution_id, '--json', '--state-dir', state])
    expect(resumed.code).toBe(0)
    expect(JSON.parse(resumed.stdout)).toMatchObject({execution_id: result.execution_id, status: 'completed'})
  })

  it('a vetoed stack halts the fleet: exit 3, the stacks after it do not start', async () => {
    const {dir, files} = await inventories(['a', 'b', 'c'], {veto: 'b'})
    const log = join(dir, 'fleet.log')
    const run = await chainup(['upgrade', ...files, '--lab', '--json', '--state-dir', join(dir, 'state'), '--log-file', log])
    expect(run.code, run.stderr).toBe(3)
    // --log-file gets the same plain lines, the fleet's summary last
    const logged = readFileSync(log, 'utf8')
    expect(logged).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z b vetoed in .*: before gate "change board" vetoed: not today$/m)
    expect(logged.trim().split('\n').pop()).toMatch(/Z fleet [0-9a-f-]{36} vetoed in /)
    const result = JSON.parse(run.stdout) as FleetExecutionResult
    expect(result.status).toBe('vetoed')
    expect(result.stacks.map((s) => [s.chain_id, s.status])).toEqual([
      ['a', 'completed'],
      ['b', 'vetoed'],
    ])
    expect(result.not_started.map((s) => s.chain_id)).toEqual(['c'])
  })

  it('refuses a device in two inventories with exit 2 before anything is touched', async () => {
    const {dir, files, ports} = await inventories(['x', 'y'])
    const y = parse(readFileSync(files[1]!, 'utf8')) as {devices: Array<{port: number}>}
    y.devices[0]!.port = ports[0]!
    writeFileSync(files[1]!, stringify(y))
    const run = await chainup(['upgrade', ...files, '--lab', '--state-dir', join(dir, 'state')])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(`127.0.0.1:${ports[0]} is in two inventories: ${files[0]} sw1 and ${files[1]} sw1`)
  })

  it('SIGINT: the running stacks finish the device in progress and park, exit 130', async () => {
    const {dir, files} = await inventories(['p', 'q', 'r'], {bootTime: 'PT1.5S'})
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), 'upgrade', ...files, '--lab', '--json', '--concurrency', '2', '--state-dir', join(dir, 'state')], {
      cwd: ROOT,
      env: {...process.env, CI: 'true'},
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
        if (/ p sw1 booting: /.test(stderr) && !child.killed) child.kill('SIGINT')
      })
      child.on('exit', (c) => resolve(c))
    })
    expect(code, stderr).toBe(130)
    const result = JSON.parse(stdout) as FleetExecutionResult
    expect(result.status).toBe('cancelled')
    const p = result.stacks.find((s) => s.chain_id === 'p')!
    expect(p).toMatchObject({status: 'cancelled', reason: 'parked: the fleet was cancelled by the operator'})
    expect(p.devices.map((d) => d.status)).toEqual(['upgraded', 'not_started'])
    expect(result.not_started.map((s) => s.chain_id)).toEqual(['r'])
  })
})
