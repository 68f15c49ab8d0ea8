/**
 * `chainup schedule INVENTORY [--systemd] [--json]`: the crontab entry (CRON_TZ, the window's cron, unattended flags,
 * quoting for sh and cron's `%`), the systemd units (checked by `systemd-analyze verify` where it exists), the
 * refusals, and the command through the built CLI.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {scheduleCommand, systemdQuote} from '../../src/cli/schedule.js'
import {shellWord as shellQuote} from '../../src/util/shell.js'
import {ExitCode, InputError} from '../../src/errors.js'
import {chainup} from '../helpers/cli.js'
import {ROOT} from '../helpers/lab-stack.js'

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup schedule '))
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function inventory(name: string, window: string | null, stack = 'access-1'): string {
  const file = join(dir, name)
  writeFileSync(
    file,
    `stack: ${stack}
playbook: ${join(ROOT, 'playbooks/ios-xe-install.yml')}
target: {version: "17.09.05", image: cat9k_iosxe.17.09.05.SPA.bin}
ssh: {username: netops, password_env: PW, known_hosts: ${join(ROOT, 'inventories/lab_known_hosts')}}
timeouts: {predecessor: PT1H}
${window ?? ''}
devices:
  - {name: sw1, host: 127.0.0.1, port: 10021}
`,
  )
  return file
}

const CHAINUP = ['/usr/bin/node', '/opt/chainup/bin/run.js']

describe('chainup schedule', () => {
  it('prints CRON_TZ and an entry that starts the unattended upgrade at each opening', async () => {
    const inv = inventory('stack.yml', 'window: {cron: "0 2 * * 6", duration: PT4H, timezone: Europe/Berlin}')
    const {text, schedule} = await scheduleCommand({inventoryPath: inv, systemd: false, stateDir: '/var/lib/chainup', chainup: CHAINUP})
    const lines = text.trimEnd().split('\n')
    expect(lines.filter((l) => !l.startsWith('#'))).toEqual([
      'CRON_TZ=Europe/Berlin',
      `0 2 * * 6 mkdir -p /var/lib/chainup/cron && /usr/bin/node /opt/chainup/bin/run.js upgrade ${shellQuote(inv).replace(/%/g, '\\%')} --json --log-file /var/lib/chainup/cron/access-1.log --state-dir /var/lib/chainup > /var/lib/chainup/cron/access-1.json 2>> /var/lib/chainup/cron/access-1.stderr`,
    ])
    expect(lines[0]).toBe('# chainup: upgrade stack access-1 at each opening of its maintenance window "0 2 * * 6" for 4h (Europe/Berlin).')
    expect(schedule).toMatchObject({
      stack: 'access-1',
      window: {cron: '0 2 * * 6', duration_ms: 4 * 3_600_000, timezone: 'Europe/Berlin'},
      argv: [...CHAINUP, 'upgrade', inv, '--json', '--log-file', '/var/lib/chainup/cron/access-1.log', '--state-dir', '/var/lib/chainup'],
      on_calendar: ['Sat *-*-* 02:00:00 Europe/Berlin'],
      systemd_error: null,
    })
    expect(schedule.systemd).toBeUndefined()
  })

  it('quotes paths for sh and escapes % for cron', async () => {
    const inv = inventory('it\'s 100%.yml', 'window: {cron: "@weekly", duration: PT2H, timezone: UTC}')
    const {text} = await scheduleCommand({inventoryPath: inv, systemd: false, stateDir: '/srv/state 1', chainup: CHAINUP})
    const entry = text.trimEnd().split('\n').at(-1)!
    expect(entry.startsWith("@weekly mkdir -p '/srv/state 1/cron' && /usr/bin/node /opt/chainup/bin/run.js upgrade ")).toBe(true)
    expect(entry).toContain(`'${dir}/it'\\''s 100\\%.yml'`)
    // What sh makes of it (cron turns \% back into %): the argv schedule reports.
    const command = entry.slice('@weekly '.length).replace(/\\%/g, '%')
    const argv = execFileSync('/bin/sh', ['-c', `set -- ${command.split(' && ')[1]!.split(' > ')[0]}; for a in "$@"; do printf '%s\\n' "$a"; done`]).toString().trimEnd().split('\n')
    expect(argv).toEqual([...CHAINUP, 'upgrade', inv, '--json', '--log-file', '/srv/state 1/cron/access-1.log', '--state-dir', '/srv/state 1'])
  })

  it('--systemd: a timer with OnCalendar= (two for a day-of-month OR day-of-week cron) and a oneshot service', async () => {
    const inv = inventory('or.yml', 'window: {cron: "0 2 1 * 6", duration: PT4H, timezone: Europe/Berlin}', 'core-2')
    const stateDir = join(dir, 'state %d')
    const {text, schedule} = await scheduleCommand({inventoryPath: inv, systemd: true, stateDir, chainup: [process.execPath, join(ROOT, 'bin/run.js')]})
    expect(schedule.systemd?.timer.name).toBe('chainup-core-2.timer')
    expect(schedule.systemd?.service.name).toBe('chainup-core-2.service')
    const timer = schedule.systemd!.timer.text
    expect(timer.split('\n').filter((l) => l.startsWith('OnCalendar='))).toEqual(['OnCalendar=*-*-01 02:00:00 Europe/Berlin', 'OnCalendar=Sat *-*-* 02:00:00 Europe/Berlin'])
    expect(timer).toContain('Unit=chainup-core-2.service')
    const service = schedule.systemd!.service.text
    expect(service).toContain('Type=oneshot')
    expect(service).toContain('SuccessExitStatus=5')
    expect(service).toContain(`TimeoutStopSec=${3600 + 60}`)
    expect(service).toContain(`ExecStart=${process.execPath} ${join(ROOT, 'bin/run.js')} upgrade ${systemdQuote(inv)} --json --log-file "${stateDir.replace('%', '%%')}/cron/core-2.log" --state-dir "${stateDir.replace('%', '%%')}"`)
    expect(service).toContain(`StandardOutput=file:${stateDir.replace('%', '%%')}/cron/core-2.json`)
    expect(text).toContain('# ---- chainup-core-2.timer ----')
    expect(text).toContain('# ---- chainup-core-2.service ----')
  })

  it.skipIf(!hasSystemdAnalyze())('--systemd: systemd-analyze verify accepts both units', async () => {
    const inv = inventory('verify.yml', 'window: {cron: "30 1 * * 1-5", duration: PT2H, timezone: America/New_York}', 'verify-me')
    const {schedule} = await scheduleCommand({inventoryPath: inv, systemd: true, stateDir: join(dir, 'st'), chainup: [process.execPath, join(ROOT, 'bin/run.js')]})
    const units = mkdtempSync(join(tmpdir(), 'chainup-units-'))
    try {
      for (const u of [schedule.systemd!.timer, schedule.systemd!.service]) writeFileSync(join(units, u.name), u.text)
      const out = execFileSync('systemd-analyze', ['verify', '--man=no', join(units, 'chainup-verify-me.timer'), join(units, 'chainup-verify-me.service')], {stdio: ['ignore', 'pipe', 'pipe'], env: {...process.env, SYSTEMD_COLORS: '0'}})
      expect(out.toString()).toBe('')
    } finally {
      rmSync(units, {recursive: true, force: true})
    }
  })

  it('refuses an inventory without a window (exit 2)', async () => {
    const inv = inventory('none.yml', null)
    const error = await scheduleCommand({inventoryPath: inv, systemd: false, stateDir: '/x', chainup: CHAINUP}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).code).toBe('NO_WINDOW')
    expect((error as InputError).exitCode).toBe(ExitCode.badInput)
    expect((error as InputError).message).toBe(`${inv}: no maintenance window to schedule`)
  })

  it('systemdQuote escapes %, $ and quotes', () => {
    expect(systemdQuote('/plain/path')).toBe('/plain/path')
    expect(systemdQuote('/a b/c')).toBe('"/a b/c"')
    expect(systemdQuote('50%$HOME')).toBe('50%%$$HOME')
    expect(systemdQuote('say "hi"\\')).toBe('"say \\"hi\\"\\\\"')
  })

  it('through the CLI: text, --json, and exit 2 for a missing window', async () => {
    if (!existsSync(join(ROOT, 'dist/commands/schedule.js'))) throw new Error('dist/ is missing: run `npm run build` before the CLI tests')
    const inv = inventory('cli.yml', 'window: {cron: "0 3 * * 0", duration: PT3H, timezone: UTC}')
    const text = await chainup(['schedule', inv, '--state-dir', join(dir, 'cli-state')])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain('CRON_TZ=UTC\n0 3 * * 0 mkdir -p ')
    expect(text.stdout).toContain(` ${join(ROOT, 'bin/run.js')} upgrade `)
    const json = await chainup(['schedule', inv, '--systemd', '--json'])
    expect(json.code, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout)).toMatchObject({stack: 'access-1', on_calendar: ['Sun *-*-* 03:00:00 UTC'], systemd: {timer: {name: 'chainup-access-1.timer'}}})
    const none = await chainup(['schedule', inventory('cli-none.yml', null)])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('no maintenance window to schedule')
  })
})

function hasSystemdAnalyze(): boolean {
  try {
    execFileSync('systemd-analyze', ['--version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}
