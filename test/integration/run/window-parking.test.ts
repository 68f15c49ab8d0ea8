/**
 * Maintenance windows end to end in-process (`upgradeCommand`, the built-in lab: real simulated switches over SSH,
 * real ChainSync over TLS, a real SQLite journal), with the window's "now" injected: outside the window nothing
 * starts (exit 5); a device whose estimate no longer fits is parked by the `window` gate (exit 3) and the next
 * `chainup upgrade` inside a window continues the same run; `--new-run` and `--ignore-window`.
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'

import {afterEach, describe, expect, it} from 'vitest'

import {resumeCommand} from '../../../src/cli/resume.js'
import {OutsideWindowError, upgradeCommand, type UpgradeCommandOptions} from '../../../src/cli/upgrade.js'
import {loadStack} from '../../../src/config/load.js'
import {ExitCode} from '../../../src/errors.js'
import {openJournal} from '../../../src/journal/journal.js'
import {startLab, type Lab} from '../../../src/lab/lab.js'
import {freePorts, ROOT} from '../../helpers/lab-stack.js'

const H = 3_600_000
/** Saturday 28 Nov 2026, 02:00 Europe/Berlin (CET): a window opening of `0 2 * * 6`. */
const OPENS = Date.parse('2026-11-28T01:00:00Z')
const CLOSES = OPENS + 4 * H
const NEXT_OPENS = OPENS + 7 * 24 * H

const dirs: string[] = []
const labs: Lab[] = []
afterEach(async () => {
  for (const lab of labs.splice(0)) await lab.stop()
  delete process.env[PASSWORD_ENV]
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

const PASSWORD_ENV = 'CHAINUP_WINDOW_TEST_PW'

/**
 * Simulated switches that outlive the runs, as real ones do (a run continued in the next window finds sw1 still on
 * the target): the lab started by the test, the inventory rewritten with each simulator's host key.
 */
async function switchesFor(s: {inventory: string}): Promise<void> {
  process.env[PASSWORD_ENV] = 'Window-te5t-pa55word'
  let text = readFileSync(s.inventory, 'utf8').replace('CHAINUP_WINDOW_TEST_UNSET_PW', PASSWORD_ENV)
  writeFileSync(s.inventory, text)
  const {inventory} = await loadStack(s.inventory)
  const lab = await startLab(inventory, {trapReceivers: false})
  labs.push(lab)
  for (const sw of lab.switches) text = text.replace(`port: ${sw.port}}`, `port: ${sw.port}, host_key: "${sw.hostKeyFingerprint}"}`)
  writeFileSync(s.inventory, text)
}

/** A lab inventory of `n` switches on free ports with the issue's window (Saturdays 02:00 Berlin for 4 h). */
async function stack(n = 2): Promise<{dir: string; inventory: string; stateDir: string; ports: number[]}> {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-window-'))
  dirs.push(dir)
  const ports = await freePorts(n)
  writeFileSync(join(dir, 'known_hosts'), '# lab keys are checked by fingerprint\n')
  const inventory = join(dir, 'stack.yml')
  writeFileSync(
    inventory,
    `stack: window-stack
playbook: ${join(ROOT, 'playbooks/ios-xe-install.yml')}
target: {version: "17.09.05", image: cat9k_iosxe.17.09.05.SPA.bin}
ssh: {username: netops, password_env: CHAINUP_WINDOW_TEST_UNSET_PW, known_hosts: ./known_hosts}
timeouts: {command: PT20S, boot: PT20S, predecessor: PT1M, gate: PT10S, settle: PT0S}
lab: {version: "17.06.05", boot_time: PT1S}
window: {cron: "0 2 * * 6", duration: PT4H, timezone: Europe/Berlin}
devices:
${ports.map((p, i) => `  - {name: sw${i + 1}, host: 127.0.0.1, port: ${p}}`).join('\n')}
`,
  )
  return {dir, inventory, stateDir: join(dir, 'state'), ports}
}

/** A Writable that keeps what it gets and calls `onLine` with each line as it is written. */
function sink(onLine: (line: string) => void = () => undefined): Writable & {text: () => string} {
  let text = ''
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const s = chunk.toString()
      text += s
      for (const line of s.split('\n')) if (line) onLine(line)
      cb()
    },
  }) as Writable & {text: () => string}
  w.text = () => text
  return w
}

function options(s: {inventory: string; stateDir: string}, now: () => Date, extra: Partial<UpgradeCommandOptions> = {}, onLine?: (line: string) => void): UpgradeCommandOptions & {stdout: ReturnType<typeof sink>; stderr: ReturnType<typeof sink>} {
  return {inventoryPath: s.inventory, lab: true, json: false, stateDir: s.stateDir, stdout: sink(onLine), stderr: sink(), now, ...extra}
}

async function events(stateDir: string, runId: string): Promise<Array<{type: string; device: string | null; data: unknown}>> {
  const j = await openJournal(stateDir)
  try {
    return j.events(runId).map((e) => ({type: e.type, device: e.device, data: e.data}))
  } finally {
    j.close()
  }
}

describe('maintenance window', () => {
  it('outside the window: exit 5 naming the next opening, before the lab starts or any device is contacted', async () => {
    const s = await stack()
    // A listener on a device's port: the lab would fail to bind it, a device connection would reach it.
    let connections = 0
    const squatter = net.createServer((c) => {
      connections++
      c.destroy()
    })
    await new Promise<void>((r) => squatter.listen(s.ports[0], '127.0.0.1', r))
    try {
      const log = join(s.dir, 'cron.log')
      const opts = options(s, () => new Date(CLOSES), {logFile: log})
      const error = await upgradeCommand(opts).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(error).toBeInstanceOf(OutsideWindowError)
      expect((error as OutsideWindowError).exitCode).toBe(ExitCode.outsideWindow)
      expect((error as OutsideWindowError).exitCode).toBe(5)
      expect((error as Error).message).toBe('not started: outside the maintenance window; next window opens at 2026-12-05T01:00:00.000Z (2026-12-05T02:00:00+01:00 Europe/Berlin)')
      expect(connections).toBe(0)
      expect(existsSync(s.stateDir)).toBe(false)
      expect(opts.stdout.text()).toBe('')
      expect(readFileSync(log, 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z - not started: outside the maintenance window; next window opens at 2026-12-05T01:00:00\.000Z/)
    } finally {
      await new Promise((r) => squatter.close(r))
    }
  })

  it('parks the run when a device estimate no longer fits, and the next upgrade inside a window continues the same run', async () => {
    const s = await stack(3)
    await switchesFor(s)
    // The window's clock: one minute after the opening until sw1 reports itself upgraded, then one second before the close.
    let now = OPENS + 60_000
    const log = join(s.dir, 'run1.log')
    const first = options(s, () => new Date(now), {logFile: log, lab: false}, (line) => {
      if (/ sw1 upgraded /.test(line)) now = CLOSES - 1000
    })
    const run1 = await upgradeCommand(first)
    expect(run1.result.reason, first.stdout.text()).toMatch(/^window: /)
    expect(run1.exitCode).toBe(ExitCode.vetoed)
    const r1 = run1.result
    expect(r1.status).toBe('vetoed')
    expect(r1.reason).toMatch(/^window: 1s left in the maintenance window \(closes 2026-11-28T06:00:00\+01:00\), sw2 needs an estimated \d+m \(no past runs: the sum of its timeouts\)$/)
    expect(r1.devices.map((d) => `${d.name} ${d.status}`)).toEqual(['sw1 upgraded', 'sw2 not_started', 'sw3 not_started'])
    expect(r1.steps.some((st) => st.device !== 'sw1' && st.phase !== 'readiness')).toBe(false)
    const windowGates = r1.gates.filter((g) => g.name === 'window')
    expect(windowGates.map((g) => `${g.type} ${g.device} ${g.decision}`)).toEqual(['before sw1 allow', 'before sw2 veto'])
    expect(windowGates[0]?.reason).toMatch(/^3h 59m left in the maintenance window \(closes 2026-11-28T06:00:00\+01:00\), sw1 needs an estimated \d+m( \d+s)? \(no past runs: the sum of its timeouts\)$/)
    const parked = (await events(s.stateDir, r1.execution_id)).filter((e) => e.type === 'windowParked')
    expect(parked).toHaveLength(1)
    expect(parked[0]).toMatchObject({device: 'sw2', data: {remaining_ms: 1000, estimate_source: 'timeouts', closes_at: new Date(CLOSES).toISOString(), next_opens_at: new Date(NEXT_OPENS).toISOString()}})
    // The log file has the plain lines, the parking among them.
    const logged = readFileSync(log, 'utf8')
    expect(logged).toMatch(/Z sw2 warn: parked: not enough of the maintenance window left to start sw2; the next chainup upgrade of stack window-stack inside a window \(next opens 2026-12-05T02:00:00\+01:00\) continues run /)
    expect(logged).toMatch(new RegExp(`Z - run ${r1.execution_id} vetoed in `))

    // Outside the window the next cron start does nothing (and leaves the parked run alone).
    await expect(upgradeCommand(options(s, () => new Date(CLOSES + H), {lab: false}))).rejects.toBeInstanceOf(OutsideWindowError)

    // chainup resume continues a parked run too; the window gate parks it again at once (no window left), touching nothing.
    const resumed = await resumeCommand({runId: r1.execution_id, json: false, stateDir: s.stateDir, stdout: sink(), stderr: sink(), now: () => new Date(CLOSES + H)})
    expect(resumed.already).toBe(false)
    expect(resumed.result.execution_id).toBe(r1.execution_id)
    expect(resumed.result.status).toBe('vetoed')
    expect(resumed.result.reason).toMatch(/^window: outside the maintenance window \(next opens 2026-12-05T02:00:00\+01:00\), sw2 needs an estimated \d+m /)
    expect(resumed.result.devices.map((d) => `${d.name} ${d.status}`)).toEqual(['sw1 upgraded', 'sw2 not_started', 'sw3 not_started'])

    // The next window: the same run goes on from sw2 and completes.
    const second = options(s, () => new Date(NEXT_OPENS + 60_000), {lab: false})
    const run2 = await upgradeCommand(second)
    expect(second.stdout.text()).toContain(`continuing run ${r1.execution_id} of stack window-stack, parked by the maintenance window`)
    expect(run2.result.reason ?? '', second.stdout.text()).toBe('')
    expect(run2.exitCode).toBe(ExitCode.completed)
    expect(run2.result.execution_id).toBe(r1.execution_id)
    expect(run2.result.status).toBe('completed')
    expect(run2.result.devices.map((d) => `${d.name} ${d.status}`)).toEqual(['sw1 upgraded', 'sw2 upgraded', 'sw3 upgraded'])
    // sw1 was not upgraded again: one reload step in the whole run per device.
    const reloads = run2.result.steps.filter((st) => /install add/.test(st.command ?? ''))
    expect(reloads.map((st) => st.device).sort()).toEqual(['sw1', 'sw2', 'sw3'])
    expect(run2.result.gates.filter((g) => g.name === 'window').map((g) => `${g.device} ${g.decision}`)).toEqual(['sw1 allow', 'sw2 veto', 'sw2 veto', 'sw2 allow', 'sw3 allow'])
    expect((await events(s.stateDir, r1.execution_id)).some((e) => e.type === 'journal.run_reopened')).toBe(true)

    // A completed run is not continued: the next start is a new run.
    const third = await upgradeCommand(options(s, () => new Date(NEXT_OPENS + 2 * H), {lab: false}))
    expect(third.result.execution_id).not.toBe(r1.execution_id)
    expect(third.result.status).toBe('completed')
    expect(third.result.devices.map((d) => `${d.name} ${d.status}`)).toEqual(['sw1 skipped', 'sw2 skipped', 'sw3 skipped'])
  }, 300_000)

  it('--new-run starts over instead of continuing a parked run; --ignore-window runs outside the window and is journaled', async () => {
    const s = await stack()
    let now = OPENS
    const run1 = await upgradeCommand(
      options(s, () => new Date(now), {}, (line) => {
        if (/ sw1 upgraded /.test(line)) now = CLOSES - 1000
      }),
    )
    expect(run1.result.status).toBe('vetoed')

    const ignored = options(s, () => new Date(CLOSES + H), {ignoreWindow: true, newRun: true})
    const run2 = await upgradeCommand(ignored)
    expect(run2.result.execution_id).not.toBe(run1.result.execution_id)
    expect(run2.result.status).toBe('completed')
    expect(run2.result.gates.filter((g) => g.name === 'window')).toEqual([])
    expect(ignored.stdout.text()).toMatch(/warn: --ignore-window: the maintenance window "0 2 \* \* 6" for 4h \(Europe\/Berlin\) is not enforced for this run \(outside it now\)/)
    const ev = await events(s.stateDir, run2.result.execution_id)
    expect(ev.find((e) => e.type === 'windowIgnored')).toMatchObject({data: {inside: false, next_opens_at: new Date(NEXT_OPENS).toISOString()}})
    // The parked run is left as it was.
    const j = await openJournal(s.stateDir)
    try {
      expect(j.history({stack: 'window-stack'}).runs.map((r) => r.status)).toEqual(['completed', 'vetoed'])
    } finally {
      j.close()
    }
  }, 300_000)
})
