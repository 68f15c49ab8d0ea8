/**
 * What a run prints, through the CLI (`bin/run.js`, its own process, no TTY) against the lab (issue #13): the plain
 * lines say each device's phase and ChainSync state once and clearly, and the run ends on stderr with a recap: each
 * device, where the result was saved and what to run next — a command that works as printed.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'

import type {ChainExecutionResult} from '../../src/model/result.js'
import {chainup} from '../helpers/cli.js'
import {freePorts, ROOT} from '../helpers/lab-stack.js'
import {recapLines} from '../helpers/recap.js'

const STAMP = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z'

/** inventories/lab.yml on free ports (tests run side by side), without its trap receiver, with `patch` on top. */
async function labCopy(patch: Record<string, unknown> = {}): Promise<{dir: string; inventory: string; state: string}> {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-e2e-output-'))
  const lab = parse(readFileSync(join(ROOT, 'inventories/lab.yml'), 'utf8')) as Record<string, any>
  const ports = await freePorts(lab.devices.length)
  writeFileSync(join(dir, 'known_hosts'), '# lab keys are checked by fingerprint\n')
  const inventory = join(dir, 'lab.yml')
  const {snmp: _snmp, ...rest} = lab
  writeFileSync(
    inventory,
    stringify({
      ...rest,
      playbook: join(ROOT, 'playbooks/ios-xe-install.yml'),
      ssh: {...lab.ssh, known_hosts: './known_hosts'},
      timeouts: {...lab.timeouts, settle: 'PT0S'},
      lab: {...lab.lab, boot_time: 'PT0.3S'},
      devices: lab.devices.map((d: Record<string, unknown>, i: number) => ({...d, port: ports[i]})),
      ...patch,
    }),
  )
  return {dir, inventory, state: join(dir, 'state')}
}

describe('what chainup upgrade prints (plain lines, the recap on stderr)', () => {
  it('says each device phase and ChainSync state once, and ends with the recap, the result file and a chainup show that works', async () => {
    const {inventory, state} = await labCopy()
    const run = await chainup(['upgrade', inventory, '--lab', '--state-dir', state])
    expect(run.code, run.stderr).toBe(0)
    const lines = run.stdout.trimEnd().split('\n')
    const has = (re: string) => expect(lines.some((l) => new RegExp(`^${STAMP} ${re}$`).test(l)), re).toBe(true)
    // The device lines, one per phase and state, each saying its word once.
    has('sw1 checking readiness: connecting')
    has('sw1 ready \\(running 17\\.06\\.05, target 17\\.09\\.05\\)')
    has('sw1 ChainSync READY: this device and all before it are ready')
    has('sw2 ChainSync WATCH: waiting for sw1 to complete')
    has('sw1 ChainSync START: its turn to upgrade')
    has('sw1 upgrading: install image')
    has('sw1 booting: waiting for the device to reload and come back')
    has('sw1 verifying: back on 17\\.09\\.05')
    has('sw1 checking its after gates')
    for (const d of ['sw1', 'sw2', 'sw3', 'sw4']) has(`${d} upgraded 17\\.06\\.05 -> 17\\.09\\.05`)
    has('sw1 ChainSync COMPLETE: its turn is over; sw2 goes next')
    has('sw4 ChainSync COMPLETE: its turn is over; it was the last device')
    // Not the old wording: no state word said twice, no bare protocol state.
    for (const l of lines) expect(l).not.toMatch(/ (ready: ready|gates: after gates|upgraded: running|chainsync [A-Z]+$)/)

    // stdout: the progress; stderr ends with the recap.
    const id = /run ([0-9a-f-]{36}) completed in /.exec(lines.at(-1)!)?.[1]
    expect(id, lines.at(-1)).toBeDefined()
    const recap = recapLines(run.stderr, 'run')
    expect(recap[0]).toMatch(new RegExp(`^RECAP run ${id} \\(stack lab-stack\\): completed in \\d`))
    expect(recap.slice(1, 5)).toEqual(['sw1', 'sw2', 'sw3', 'sw4'].map((d) => `  ${d}  upgraded 17.06.05 -> 17.09.05`))
    const file = join(state, 'runs', `${id}.json`)
    expect(recap[5]).toBe(`result saved to ${file}`)
    expect((JSON.parse(readFileSync(file, 'utf8')) as ChainExecutionResult).status).toBe('completed')
    expect(recap[6]).toBe(`next: chainup show ${id} --tree --state-dir ${state}   (every step and gate of the run)`)
    // The suggested command works as printed.
    const shown = await chainup(/^next: chainup (.*?) {3}\(/.exec(recap[6]!)![1]!.split(' '))
    expect(shown.code, shown.stderr).toBe(0)
    expect(shown.stdout).toMatch(new RegExp(`^run ${id} lab-stack completed `))
  }, 120_000)

  it('with --json stdout is the result alone; a run past timeouts.run with on_failure: rollback ends failed, says nothing was rolled back and what to run next', async () => {
    // sw1 reloads for 1.5 s; the run's 1 s budget runs out while it is being upgraded.
    const {inventory, state} = await labCopy({on_failure: 'rollback', timeouts: {command: 'PT30S', boot: 'PT30S', predecessor: 'PT1M', gate: 'PT10S', settle: 'PT0S', run: 'PT1S'}, lab: {version: '17.06.05', boot_time: 'PT1.5S'}})
    const run = await chainup(['upgrade', inventory, '--lab', '--json', '--state-dir', state])
    expect(run.code, run.stderr).toBe(1)
    const result = JSON.parse(run.stdout) as ChainExecutionResult
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/^timeout: the run exceeded timeouts\.run \(1\.0s\)/)
    expect(result.devices.map((d) => d.status)).toEqual(['upgraded', 'not_started', 'not_started', 'not_started'])
    const recap = recapLines(run.stderr, 'run')
    expect(recap).toEqual([
      expect.stringMatching(new RegExp(`^RECAP run ${result.execution_id} \\(stack lab-stack\\): failed in `)),
      '  sw1  upgraded 17.06.05 -> 17.09.05',
      '  sw2  not started',
      '  sw3  not started',
      '  sw4  not started',
      `reason: ${result.reason}`,
      `result saved to ${join(state, 'runs', `${result.execution_id}.json`)}`,
      'past timeouts.run no further device was started and nothing was rolled back (docs/runs.md "Cancellation")',
      `next: chainup show ${result.execution_id} --tree --state-dir ${state}   (what was done)`,
      `      chainup upgrade ${inventory} --lab --state-dir ${state} in the next window starts a new run: devices already on the target are skipped`,
    ])
    expect(existsSync(join(state, 'runs', `${result.execution_id}.json`))).toBe(true)
  }, 120_000)

  it('after a cancelled --lab run the recap suggests chainup resume … --lab, which works as printed; a resume refused for a missing secret leaves the run cancelled', async () => {
    const {inventory, state} = await labCopy({lab: {version: '17.06.05', boot_time: 'PT1S'}})
    const env = {...process.env, CI: 'true', NO_COLOR: '1'}
    delete env.CHAINUP_LAB_PASSWORD
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), 'upgrade', inventory, '--lab', '--json', '--state-dir', state], {env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      // Ctrl-C while sw2 installs: sw2 finishes, sw3 and sw4 do not start.
      if (/ sw2 upgrading: install image/.test(stderr) && child.exitCode === null && !child.killed) child.kill('SIGINT')
    })
    const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)))
    expect(code, stderr).toBe(130)
    const result = JSON.parse(stdout) as ChainExecutionResult
    expect(result.status).toBe('cancelled')
    const recap = recapLines(stderr, 'run')
    const suggested = recap.find((l) => l.startsWith('next: chainup resume '))
    expect(suggested).toBe(`next: chainup resume ${result.execution_id} --lab --state-dir ${state}   (continues the run: finished devices are not touched again, none is reloaded twice)`)

    // Without --lab the run needs the real devices' password: refused (exit 2) before the run is reopened.
    const refused = await chainup(['resume', result.execution_id, '--state-dir', state], {CHAINUP_LAB_PASSWORD: ''})
    expect(refused.code, refused.stderr).toBe(2)
    expect(refused.stderr).toMatch(/CHAINUP_LAB_PASSWORD/)
    const history = await chainup(['history', '--json', '--state-dir', state])
    expect((JSON.parse(history.stdout) as {runs: Array<{execution_id: string; status: string}>}).runs.find((r) => r.execution_id === result.execution_id)?.status).toBe('cancelled')

    // As printed: continues on fresh simulators (the upgraded ones start on the target) and completes.
    const resumed = await chainup([...suggested!.replace(/^next: chainup /, '').replace(/ {3}\(.*$/, '').split(' '), '--json'], {CHAINUP_LAB_PASSWORD: ''})
    expect(resumed.code, resumed.stderr).toBe(0)
    const done = JSON.parse(resumed.stdout) as ChainExecutionResult
    expect(done.execution_id).toBe(result.execution_id)
    expect(done.status).toBe('completed')
    expect(done.devices.map((d) => d.status)).toEqual(['upgraded', 'upgraded', 'upgraded', 'upgraded'])
  }, 180_000)
})
