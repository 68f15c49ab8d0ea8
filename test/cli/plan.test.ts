/**
 * `planCommand` in-process: offline JSON and tables, bad input (exit 2), the journal of the state directory feeding the
 * estimates, and `--check --lab` against the built-in lab, where the simulators' own command logs (read through
 * `onLab`) prove that only facts and readiness commands arrived.
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'

import {planCommand} from '../../src/cli/plan.js'
import {InputError} from '../../src/errors.js'
import {openJournal} from '../../src/journal/index.js'
import type {Lab} from '../../src/lab/lab.js'
import type {Plan} from '../../src/plan/index.js'
import {freePorts, ROOT} from '../helpers/lab-stack.js'
import {manualClock, step} from '../journal/helpers.js'

class Sink extends Writable {
  text = ''
  constructor(readonly isTTY = false) {
    super()
  }
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString()
    cb()
  }
}

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-plan-cli-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

/** inventories/lab.yml on free ports (so that tests running at once do not collide), with `changes`. */
async function labInventory(changes: Record<string, unknown> = {}): Promise<string> {
  const inv = parse(readFileSync(join(ROOT, 'inventories/lab.yml'), 'utf8')) as {devices: Array<Record<string, unknown>>} & Record<string, unknown>
  const ports = await freePorts(inv.devices.length)
  const file = join(dir, 'stack.yml')
  writeFileSync(join(dir, 'lab_known_hosts'), '# lab keys are checked by fingerprint\n')
  writeFileSync(file, stringify({...inv, playbook: join(ROOT, 'playbooks/ios-xe-install.yml'), devices: inv.devices.map((d, i) => ({...d, port: ports[i]})), ...changes}))
  return file
}

async function plan(args: {inventoryPath: string; check?: boolean; lab?: boolean; json?: boolean; tty?: boolean; env?: NodeJS.ProcessEnv; onLab?: (lab: Lab) => void}) {
  const stdout = new Sink(args.tty ?? false)
  const stderr = new Sink()
  const out = await planCommand({
    inventoryPath: args.inventoryPath,
    check: args.check ?? false,
    lab: args.lab ?? false,
    json: args.json ?? false,
    stateDir: join(dir, 'state'),
    stdout,
    stderr,
    env: args.env ?? {},
    ...(args.onLab ? {onLab: args.onLab} : {}),
  })
  return {...out, stdout: stdout.text, stderr: stderr.text}
}

describe('chainup plan (in-process)', () => {
  it('offline --json: the documented shape, exit 0, no state directory created', async () => {
    const r = await plan({inventoryPath: await labInventory(), json: true})
    expect(r.exitCode).toBe(0)
    const json = JSON.parse(r.stdout) as Plan
    expect(json).toEqual(r.plan)
    for (const key of ['stack', 'target', 'window', 'fits_window', 'estimated_ms', 'devices', 'gates']) expect(json).toHaveProperty(key)
    for (const key of ['name', 'host', 'order', 'action', 'steps', 'estimated_ms', 'estimate_source']) expect(json.devices[0]).toHaveProperty(key)
    expect(json.devices[0]).not.toHaveProperty('check')
    expect(Object.keys(json.gates)).toEqual(['before', 'after', 'on_error', 'final'])
    expect(Object.keys(json.devices[0]!.steps[0]!)).toEqual(expect.arrayContaining(['name', 'command', 'reload']))
    expect(() => readFileSync(join(dir, 'state', 'chainup.db'))).toThrow()
  })

  it('offline tables: plain without a TTY, coloured only on a TTY without NO_COLOR', async () => {
    const file = await labInventory()
    const plain = await plan({inventoryPath: file})
    expect(plain.stdout).toContain('Plan for stack lab-stack: 4 devices to 17.09.05')
    expect(plain.stdout).toContain('Offline: no device was contacted')
    expect(plain.stdout).not.toContain('\x1b[')
    expect((await plan({inventoryPath: file, tty: true, env: {NO_COLOR: '1'}})).stdout).not.toContain('\x1b[')
    expect((await plan({inventoryPath: file, tty: true, env: {}})).stdout).toContain('\x1b[')
  })

  it('the state directory\'s journal feeds the estimates', async () => {
    const clock = manualClock()
    const journal = await openJournal(join(dir, 'state'), {now: clock.now})
    const {devices} = journal.createRun({id: 'past', stack: 'lab-stack', devices: ['sw1'], target: {version: '17.09.05'}})
    step(journal, clock, 'past', 'sw1', {name: 'install image', ms: 42_000})
    journal.setStatus(devices.sw1!, 'upgraded')
    journal.finishRun('past', 'completed', null)
    journal.close()
    const r = await plan({inventoryPath: await labInventory(), json: true})
    expect(r.plan.devices[0]).toMatchObject({estimated_ms: 42_000, estimate_source: 'history:device', estimate: {median_ms: 42_000, p95_ms: 42_000, samples: 1}})
    expect(r.plan.devices[1]!.estimate_source).toBe('timeouts')
    expect(r.stdout).not.toContain('"file"')
  })

  it('bad input is an InputError (exit 2) before anything else', async () => {
    const file = join(dir, 'bad.yml')
    writeFileSync(file, 'stack: x\ndevices: []\n')
    const error = await plan({inventoryPath: file}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).exitCode).toBe(2)
  })

  it('--check --lab: every device checked (exit 0); the simulators received only facts and readiness commands', async () => {
    let lab: Lab | undefined
    const r = await plan({inventoryPath: await labInventory(), check: true, lab: true, json: true, onLab: (l) => (lab = l)})
    expect(r.exitCode).toBe(0)
    expect(r.plan.checked).toBe(true)
    expect(r.plan.devices.map((d) => [d.name, d.action, d.check?.reachable, d.check?.host_key, d.check?.version, d.check?.image_present])).toEqual([
      ['sw1', 'upgrade', true, 'ok', '17.06.05', true],
      ['sw2', 'upgrade', true, 'ok', '17.06.05', true],
      ['sw3', 'upgrade', true, 'ok', '17.06.05', true],
      ['sw4', 'upgrade', true, 'ok', '17.06.05', true],
    ])
    const log = lab!.switches.flatMap((s) => s.events)
    const allowed = new Set(['show version', 'dir flash:'])
    expect(log.filter((e) => e.type === 'exec').every((e) => allowed.has(e.detail ?? ''))).toBe(true)
    expect(log.filter((e) => e.type === 'exec')).toHaveLength(4 * 3)
    expect(log.filter((e) => ['reload', 'down', 'install_started'].includes(e.type))).toEqual([])
  })

  it('--check: a device that is not there makes the exit code 1', async () => {
    // no --lab: nothing listens on these ports
    const r = await plan({inventoryPath: await labInventory(), check: true, env: {CHAINUP_LAB_PASSWORD: 'not-used-here'}})
    expect(r.exitCode).toBe(1)
    expect(r.plan.devices.every((d) => d.check?.reachable === false && d.action === 'unknown')).toBe(true)
    expect(r.stdout).toMatch(/cannot connect to 127\.0\.0\.1/)
  })

  it('--check without the secret is bad input (exit 2)', async () => {
    const error = await plan({inventoryPath: await labInventory(), check: true, env: {}}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).message + (error as InputError).problems.join('\n')).toMatch(/CHAINUP_LAB_PASSWORD/)
  })
})
