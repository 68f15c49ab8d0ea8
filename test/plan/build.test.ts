/**
 * The offline plan from real files: commands per device with placeholders filled in (`{{ previous.* }}` left and
 * named), the reload step, gates, timeouts, estimates from a real journal, the window fit at a given "now", and what
 * --check's findings change.
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'

import {loadStack} from '../../src/config/load.js'
import {openJournal} from '../../src/journal/index.js'
import {applyChecks, buildPlan, fitsWindow, planExitCode, renderPlan, type DeviceCheck} from '../../src/plan/index.js'
import {timeoutBound} from '../../src/run/estimate.js'
import {ROOT} from '../helpers/lab-stack.js'
import {manualClock, step} from '../journal/helpers.js'

let dir: string

/** lab.yml with `changes` merged in, written to the temp dir (playbook: the shipped one, or `playbook` merged over it). */
async function stack(changes: Record<string, unknown> = {}, playbook: Record<string, unknown> = {}) {
  const inv = parse(readFileSync(join(ROOT, 'inventories/lab.yml'), 'utf8')) as Record<string, unknown>
  const pb = parse(readFileSync(join(ROOT, 'playbooks/ios-xe-install.yml'), 'utf8')) as Record<string, unknown>
  writeFileSync(join(dir, 'playbook.yml'), stringify({...pb, ...playbook}))
  writeFileSync(join(dir, 'lab_known_hosts'), '# none\n')
  writeFileSync(join(dir, 'stack.yml'), stringify({...inv, playbook: './playbook.yml', ...changes}))
  return loadStack(join(dir, 'stack.yml'))
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-plan-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

const readyCheck = (version: string): DeviceCheck => ({
  reachable: true,
  host_key: 'ok',
  version,
  needs_upgrade: version !== '17.09.05',
  image_present: true,
  free_bytes: 1_000_000,
  rollback_ready: null,
  error: null,
  readiness: [],
})

describe('buildPlan (offline)', () => {
  it('lists every device in chain order with the exact commands, the reload step, gates and timeouts; action unknown', async () => {
    const {inventory, playbook} = await stack()
    const plan = buildPlan(inventory, playbook)
    expect(Object.keys(plan)).toEqual(['stack', 'target', 'window', 'fits_window', 'estimated_ms', 'estimate_sources', 'timeouts', 'on_failure', 'checked', 'devices', 'gates'])
    expect(plan).toMatchObject({stack: 'lab-stack', target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'}, window: null, fits_window: null, checked: false, on_failure: 'halt'})
    expect(plan.devices.map((d) => [d.order, d.name, d.host, d.action])).toEqual([
      [1, 'sw1', '127.0.0.1', 'unknown'],
      [2, 'sw2', '127.0.0.1', 'unknown'],
      [3, 'sw3', '127.0.0.1', 'unknown'],
      [4, 'sw4', '127.0.0.1', 'unknown'],
    ])
    const sw1 = plan.devices[0]!
    expect(sw1.steps.map((s) => [s.phase, s.name, s.command, s.reload, s.timeout_ms])).toEqual([
      ['readiness', 'facts', 'show version', false, 30_000],
      ['readiness', 'show version', 'show version', false, 30_000],
      ['readiness', 'image on flash', 'dir flash:', false, 30_000],
      ['upgrade', 'facts', 'show version', false, 30_000],
      ['upgrade', 'install image', 'install add file flash:cat9k_iosxe.17.09.05.SPA.bin activate commit prompt-level none', true, 1_800_000],
      ['upgrade', 'verify version', 'show version', false, 30_000],
      ['upgrade', 'facts', 'show version', false, 30_000],
      ['gate', 'running target', 'show version', false, 10_000],
    ])
    expect(sw1.steps.every((s) => s.unresolved.length === 0)).toBe(true)
    expect(plan.gates).toEqual({before: [], after: [{name: 'running target', kind: 'device_command', device_command: 'show version', expect: 'Version {{ target.version }}', timeout_ms: 10_000}], on_error: [], final: []})
    expect(plan.timeouts).toEqual({command: 30_000, boot: 30_000, predecessor: 60_000, gate: 10_000, connect: 15_000})
    // no journal: every figure is the timeouts bound, and the total is their sum
    const bound = timeoutBound(inventory, playbook)
    expect(sw1).toMatchObject({estimated_ms: bound, estimate_source: 'timeouts', estimate: {median_ms: bound, p95_ms: bound, samples: 0}})
    expect(plan).toMatchObject({estimated_ms: 4 * bound, estimate_sources: {timeouts: 4}})
    expect(planExitCode(plan)).toBe(0)
  })

  it('fills device placeholders per device and leaves {{ previous.* }} as placeholders, named in unresolved', async () => {
    const {inventory, playbook} = await stack(
      {on_failure: 'rollback', devices: [{name: 'core-a', host: '127.0.0.1', port: 10021}, {name: 'core-b', host: 'localhost', port: 10022}]},
      {readiness: [{name: 'banner', command: 'show run | include hostname {{ device.name }}', expect: '{{ device.name }}'}]},
    )
    const plan = buildPlan(inventory, playbook)
    const b = plan.devices[1]!
    expect(b.steps.find((s) => s.name === 'banner')).toMatchObject({command: 'show run | include hostname core-b', unresolved: []})
    // rollback readiness looks for {{ previous.image }} in a pattern (not a command): its command is complete
    expect(b.steps.filter((s) => s.unresolved.length > 0).map((s) => [s.phase, s.name])).toEqual([['rollback', 'reinstall the previous image']])
    expect(b.steps.filter((s) => s.phase === 'rollback').map((s) => [s.command, s.reload, s.unresolved])).toEqual([
      ['install add file flash:{{ previous.image }} activate commit prompt-level none', true, ['previous.image']],
      ['show version', false, []],
    ])
    // rollback readiness is part of readiness with on_failure: rollback
    expect(b.steps.filter((s) => s.phase === 'readiness').map((s) => s.name)).toEqual(['facts', 'banner', 'previous image on flash'])
    const text = await renderPlan(plan)
    expect(text).toContain('{{ previous.image }}: known only once the device\'s facts are read')
    // a known version fills them in (as --check does): previous.image is target.image with the version replaced
    const checked = applyChecks(plan, new Map([['core-b', readyCheck('17.06.05')]]), inventory, playbook)
    expect(checked.devices[1]!.steps.filter((s) => s.phase === 'rollback')[0]).toMatchObject({command: 'install add file flash:cat9k_iosxe.17.06.05.SPA.bin activate commit prompt-level none', unresolved: []})
  })

  it('takes the estimates from the journal: device history, else platform, else timeouts; total = sum of P95s', async () => {
    const {inventory, playbook} = await stack()
    const stateDir = join(dir, 'state')
    const clock = manualClock()
    const journal = await openJournal(stateDir, {now: clock.now})
    for (const [i, ms] of [60_000, 90_000, 120_000].entries()) {
      const {devices} = journal.createRun({id: `r${i}`, stack: 'lab-stack', devices: ['sw1', 'sw2'], target: inventory.target})
      journal.appendEvent(`r${i}`, {type: 'runConfig', data: {playbook: playbook.file}})
      step(journal, clock, `r${i}`, 'sw1', {name: 'install image', ms})
      journal.setStatus(devices.sw1!, 'upgraded')
      step(journal, clock, `r${i}`, 'sw2', {name: 'install image', ms: 2 * ms})
      journal.setStatus(devices.sw2!, 'upgraded')
      journal.finishRun(`r${i}`, 'completed', null)
    }
    journal.close()
    const plan = buildPlan(inventory, playbook, {journal: {file: join(stateDir, 'chainup.db')}})
    expect(plan.devices.map((d) => [d.name, d.estimate_source, d.estimate.median_ms, d.estimated_ms, d.estimate.samples])).toEqual([
      ['sw1', 'history:device', 90_000, 120_000, 3],
      ['sw2', 'history:device', 180_000, 240_000, 3],
      ['sw3', 'history:platform', 120_000, 240_000, 6],
      ['sw4', 'history:platform', 120_000, 240_000, 6],
    ])
    expect(plan.estimated_ms).toBe(120_000 + 3 * 240_000)
    expect(plan.estimate_sources).toEqual({'history:device': 2, 'history:platform': 2})
  })

  it('places the total in the window: fits a whole window when outside, the time left when inside', async () => {
    // Saturdays 02:00 Berlin for 4 hours; the timeouts bound of lab.yml is 32m 25s per device, 2h 09m 40s for four
    const {inventory, playbook} = await stack({window: {cron: '0 2 * * 6', duration: 'PT4H', timezone: 'Europe/Berlin'}})
    const outside = buildPlan(inventory, playbook, {now: new Date('2026-11-25T12:00:00Z')})
    expect(outside.window).toEqual({
      cron: '0 2 * * 6',
      duration_ms: 14_400_000,
      timezone: 'Europe/Berlin',
      inside: false,
      opened_at: null,
      closes_at: null,
      next_opens_at: '2026-11-28T01:00:00.000Z',
      remaining_ms: 0,
    })
    expect(outside.fits_window).toBe(true)
    // inside, 3 hours in: 1 hour left < 2h 09m
    const late = buildPlan(inventory, playbook, {now: new Date('2026-11-28T04:00:00Z')})
    expect(late.window).toMatchObject({inside: true, opened_at: '2026-11-28T01:00:00.000Z', closes_at: '2026-11-28T05:00:00.000Z', remaining_ms: 3_600_000})
    expect(late.fits_window).toBe(false)
    expect(await renderPlan(late)).toContain('the estimate does NOT fit the time left')
    // inside, at the opening: 4 hours left
    expect(buildPlan(inventory, playbook, {now: new Date('2026-11-28T01:00:00Z')}).fits_window).toBe(true)
    expect(fitsWindow(null, 1)).toBeNull()
    // a window shorter than the estimate never fits
    const short = await stack({window: {cron: '0 2 * * 6', duration: 'PT1H', timezone: 'Europe/Berlin'}})
    expect(buildPlan(short.inventory, short.playbook, {now: new Date('2026-11-25T12:00:00Z')}).fits_window).toBe(false)
  })

  it('applies --check findings: upgrade / skip (counted 0 ms) / unknown, and the exit code', async () => {
    const {inventory, playbook} = await stack()
    const plan = buildPlan(inventory, playbook)
    const down: DeviceCheck = {...readyCheck('x'), reachable: false, host_key: null, version: null, needs_upgrade: null, image_present: null, free_bytes: null, error: 'sw4: cannot connect'}
    const checked = applyChecks(plan, new Map([['sw1', readyCheck('17.06.05')], ['sw2', readyCheck('17.09.05')], ['sw3', readyCheck('17.06.05')], ['sw4', down]]), inventory, playbook)
    expect(checked.devices.map((d) => [d.name, d.action, d.estimate_source])).toEqual([
      ['sw1', 'upgrade', 'timeouts'],
      ['sw2', 'skip', 'skip'],
      ['sw3', 'upgrade', 'timeouts'],
      ['sw4', 'unknown', 'timeouts'],
    ])
    expect(checked.estimated_ms).toBe(3 * timeoutBound(inventory, playbook))
    expect(checked.estimate_sources).toEqual({timeouts: 3, skip: 1})
    expect(checked.checked).toBe(true)
    expect(planExitCode(checked)).toBe(1)
    const allOk = applyChecks(plan, new Map(inventory.devices.map((d) => [d.name, readyCheck('17.06.05')])), inventory, playbook)
    expect(planExitCode(allOk)).toBe(0)
  })

  it('renders plain text without colour codes, device values made printable', async () => {
    const {inventory, playbook} = await stack()
    const plan = applyChecks(buildPlan(inventory, playbook), new Map([['sw1', {...readyCheck('17.06.05'), error: 'boom\x1b[31m red'}]]), inventory, playbook)
    const text = await renderPlan(plan, {color: false})
    expect(text).not.toContain('\x1b')
    expect(text).toContain('boom\\x1b[31m red')
    expect(text).toMatch(/Plan for stack lab-stack: 4 devices to 17\.09\.05/)
    expect(text).toMatch(/install add file flash:cat9k_iosxe\.17\.09\.05\.SPA\.bin activate commit prompt-level none\s*│ RELOAD/)
    expect(text).toContain('Timeouts: command 30.0s, boot 30.0s, predecessor 1m 00s, gate 10.0s, connect 15.0s, run no limit')
  })
})
