/**
 * Unattended use through the built CLI (bin/run.js in its own process, stdin an open pipe that never ends, no TTY):
 * the crontab entry `chainup schedule` prints, run by /bin/sh outside the window, exits 5 and leaves its line in the
 * log and the stderr file without touching anything; inside an always-open window a `--lab` upgrade with `--json`
 * and `--log-file` completes without waiting for input, its log file holding the plain timestamped lines.
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {chainup} from '../helpers/cli.js'
import {freePorts, ROOT} from '../helpers/lab-stack.js'

let dir: string
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/commands/schedule.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) before the CLI tests')
  dir = mkdtempSync(join(tmpdir(), 'chainup-window-cli-'))
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

async function labInventory(name: string, window: string): Promise<string> {
  const ports = await freePorts(2)
  const file = join(dir, `${name}.yml`)
  writeFileSync(
    file,
    `stack: ${name}
playbook: ${join(ROOT, 'playbooks/ios-xe-install.yml')}
target: {version: "17.09.05", image: cat9k_iosxe.17.09.05.SPA.bin}
ssh: {username: netops, password_env: CHAINUP_WINDOW_CLI_UNSET_PW, known_hosts: ${join(ROOT, 'inventories/lab_known_hosts')}}
timeouts: {command: PT20S, boot: PT20S, predecessor: PT1M, gate: PT10S, settle: PT0S}
lab: {version: "17.06.05", boot_time: PT1S}
window: ${window}
devices:
${ports.map((p, i) => `  - {name: sw${i + 1}, host: 127.0.0.1, port: ${p}}`).join('\n')}
`,
  )
  return file
}

const STAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ /

describe('unattended use', () => {
  it('the printed crontab entry, run by sh outside the window, exits 5 and says so in its log and stderr files', async () => {
    // Open one minute on 29 February: outside now (unless the test runs in that minute).
    const inv = await labInventory('leap-stack', '{cron: "0 0 29 2 *", duration: PT1M, timezone: UTC}')
    const stateDir = join(dir, 'cron state')
    const schedule = await chainup(['schedule', inv, '--state-dir', stateDir])
    expect(schedule.code, schedule.stderr).toBe(0)
    const entry = schedule.stdout.trimEnd().split('\n').at(-1)!
    expect(entry.startsWith('0 0 29 2 * ')).toBe(true)
    const command = entry.slice('0 0 29 2 * '.length).replace(/\\%/g, '%')
    const code = await new Promise<number>((resolve) => {
      execFile('/bin/sh', ['-c', command], {env: {...process.env, CI: 'true'}, timeout: 60_000}, (error) => resolve(error ? (typeof error.code === 'number' ? error.code : 1) : 0))
    })
    expect(code).toBe(5)
    const files = join(stateDir, 'cron')
    expect(readFileSync(join(files, 'leap-stack.json'), 'utf8')).toBe('')
    expect(readFileSync(join(files, 'leap-stack.log'), 'utf8')).toMatch(/^\d{4}-[\d-]+T[\d:.]+Z - not started: outside the maintenance window; next window opens at \d{4}-02-29T00:00:00\.000Z \(\d{4}-02-29T00:00:00\+00:00 UTC\)\n$/)
    expect(readFileSync(join(files, 'leap-stack.stderr'), 'utf8')).toContain('Error: not started: outside the maintenance window; next window opens at ')
    // Nothing was journaled: the state directory holds only the scheduler's files.
    expect(existsSync(join(stateDir, 'chainup.db'))).toBe(false)
  }, 90_000)

  it('inside the window: --lab --json --log-file completes with stdin open and no TTY; the log has the timestamped lines', async () => {
    const inv = await labInventory('always-stack', '{cron: "* * * * *", duration: PT1H, timezone: Europe/Berlin}')
    const log = join(dir, 'always.log')
    const run = await chainup(['upgrade', inv, '--lab', '--json', '--log-file', log, '--state-dir', join(dir, 'always-state')], {}, 220_000)
    expect(run.code, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout) as {status: string; gates: Array<{name: string; device: string; decision: string}>}
    expect(result.status).toBe('completed')
    expect(result.gates.filter((g) => g.name === 'window').map((g) => `${g.device} ${g.decision}`)).toEqual(['sw1 allow', 'sw2 allow'])
    const lines = readFileSync(log, 'utf8').trimEnd().split('\n')
    expect(lines.length).toBeGreaterThan(10)
    for (const line of lines) expect(line).toMatch(STAMPED)
    expect(lines.some((l) => / sw2 before gate "window": allow - \d+h \d+m left in the maintenance window/.test(l))).toBe(true)
    expect(lines.at(-1)).toMatch(/ - run [0-9a-f-]+ completed in /)
  }, 240_000)
})
