/**
 * `chainup plan` and `chainup upgrade --dry-run` through the built CLI, as a user runs them: offline JSON, bad input
 * (exit 2), `--check --lab` against the built-in lab (exit 0, nothing journaled), and `--dry-run` giving the same plan.
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'

import type {Plan} from '../../src/plan/index.js'
import {chainup} from '../helpers/cli.js'
import {freePorts, ROOT} from '../helpers/lab-stack.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-plan-e2e-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

/** inventories/lab.yml on free ports (tests running at once must not collide on 10021–10024). */
async function labInventory(): Promise<string> {
  const inv = parse(readFileSync(join(ROOT, 'inventories/lab.yml'), 'utf8')) as {devices: Array<Record<string, unknown>>} & Record<string, unknown>
  const ports = await freePorts(inv.devices.length)
  writeFileSync(join(dir, 'lab_known_hosts'), '# lab keys are checked by fingerprint\n')
  const file = join(dir, 'stack.yml')
  writeFileSync(file, stringify({...inv, playbook: join(ROOT, 'playbooks/ios-xe-install.yml'), devices: inv.devices.map((d, i) => ({...d, port: ports[i]}))}))
  return file
}

describe('chainup plan (CLI)', () => {
  it('offline --json prints the plan and exits 0; the table view without a TTY has no colour', async () => {
    const state = join(dir, 'state')
    const r = await chainup(['plan', 'inventories/lab.yml', '--json', '--state-dir', state])
    expect(r.code).toBe(0)
    const plan = JSON.parse(r.stdout) as Plan
    expect(plan).toMatchObject({stack: 'lab-stack', window: null, fits_window: null, checked: false})
    expect(plan.devices.map((d) => d.action)).toEqual(['unknown', 'unknown', 'unknown', 'unknown'])
    expect(existsSync(state)).toBe(false)
    const text = await chainup(['plan', 'inventories/lab.yml', '--state-dir', state])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('install add file flash:cat9k_iosxe.17.09.05.SPA.bin activate commit prompt-level none')
    expect(text.stdout).not.toContain('\x1b[')
  })

  it('bad input exits 2 with FILE:LINE:COL', async () => {
    const file = join(dir, 'bad.yml')
    writeFileSync(file, 'stack: x\nplaybook: ./none.yml\ntarget: {version: "1", image: a.bin}\nssh: {username: u, password_env: P, known_hosts: ./k}\ndevices:\n  - {name: a, host: 127.0.0.1, colour: red}\n')
    const r = await chainup(['plan', file])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/bad\.yml:\d+:\d+/)
  })

  it('--check --lab exits 0 with every device checked; upgrade --dry-run prints the same plan and journals nothing', async () => {
    const file = await labInventory()
    const state = join(dir, 'state')
    const check = await chainup(['plan', file, '--check', '--lab', '--json', '--state-dir', state])
    expect(check.code, check.stderr).toBe(0)
    const plan = JSON.parse(check.stdout) as Plan
    expect(plan.checked).toBe(true)
    expect(plan.devices.map((d) => [d.action, d.check?.reachable, d.check?.host_key, d.check?.version, d.check?.error])).toEqual(Array(4).fill(['upgrade', true, 'ok', '17.06.05', null]))
    const dry = await chainup(['upgrade', file, '--dry-run', '--lab', '--json', '--state-dir', state])
    expect(dry.code, dry.stderr).toBe(0)
    const dryPlan = JSON.parse(dry.stdout) as Plan
    const strip = (p: Plan) => ({...p, window: null, devices: p.devices.map((d) => ({...d, check: {...d.check, free_bytes: 0}}))})
    expect(strip(dryPlan)).toEqual(strip(plan))
    // no run was created: no journal in the state directory
    expect(existsSync(join(state, 'chainup.db'))).toBe(false)
  })

  it('--check against devices that are not there exits 1', async () => {
    const r = await chainup(['plan', await labInventory(), '--check', '--json', '--state-dir', join(dir, 'state')], {CHAINUP_LAB_PASSWORD: 'unused-password'})
    expect(r.code).toBe(1)
    expect((JSON.parse(r.stdout) as Plan).devices.every((d) => d.check?.reachable === false)).toBe(true)
  })
})
