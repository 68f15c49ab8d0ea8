/**
 * The reload and the wait for the boot (device/reload.ts, docs/decisions.md #7, #8) on a fake clock and an in-memory
 * switch: the polling interval, the fence, "reload did not happen", a refused host key, a halt — no sleeps, no SSH.
 */
import {mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {loadStack} from '../../src/config/load.js'
import type {Inventory, Playbook} from '../../src/config/types.js'
import {DeviceWorker} from '../../src/device/worker.js'
import {Credentials} from '../../src/device/ssh-session.js'
import type {DeviceFacts} from '../../src/device/facts.js'
import {fingerprintOf, type HostKeySource} from '../../src/device/known-hosts.js'
import {FakeClock} from '../helpers/fake-clock.js'
import {FakeSwitch, NEW_HOST_KEY, recordingReport, type FakeSwitchOptions} from '../helpers/fake-device.js'

const TARGET_IMAGE = 'cat9k_iosxe.17.09.05.SPA.bin'
let inventory: Inventory
let playbook: Playbook

beforeAll(async () => {
  ;({inventory, playbook} = await loadStack(resolve(import.meta.dirname, '../../inventories/lab.yml')))
  // PT10M: polls every 10 s (timeouts.boot / 60).
  inventory = {...inventory, timeouts: {...inventory.timeouts, boot: 600_000}}
})

function setUp(opts: Partial<FakeSwitchOptions> = {}, halt = new AbortController(), extra: {policy?: Inventory['ssh']['host_key_policy']; hostKey?: HostKeySource} = {}) {
  const clock = new FakeClock()
  const device = new FakeSwitch(clock, {name: 'sw1', version: '17.06.05', images: [TARGET_IMAGE, 'cat9k_iosxe.17.06.05.SPA.bin'], bootMs: 90_000, ...opts})
  const report = recordingReport()
  const fence: Array<{at: number; op: string; detail: string}> = []
  const inv: Inventory = extra.policy ? {...inventory, ssh: {...inventory.ssh, host_key_policy: extra.policy}} : inventory
  const worker = new DeviceWorker({
    runId: 'run-1',
    inventory: inv,
    playbook,
    device: inv.devices[0]!,
    credentials: new Credentials('netops', {password: 'not-used'}),
    hostKey: extra.hostKey ?? {kind: 'fingerprint', fingerprint: 'SHA256:not-used'},
    report,
    hiddenEnv: [],
    signal: halt.signal,
    clock,
    dial: device.dial,
    probe: device.probe,
    fence: {
      record: (before: DeviceFacts) => void fence.push({at: clock.now(), op: 'record', detail: before.restartedAt ?? ''}),
      clear: (outcome) => void fence.push({at: clock.now(), op: 'clear', detail: outcome}),
    },
  })
  return {clock, device, report, fence, worker, halt}
}

/** Runs `work` to its end, firing the fake clock's timers one by one. */
async function drive<T>(clock: FakeClock, work: Promise<T>): Promise<{value?: T; error?: Error}> {
  let out: {value?: T; error?: Error} | undefined
  work.then((value) => (out = {value}), (error: Error) => (out = {error}))
  await clock.settle()
  while (!out) {
    if (!(await clock.runNext())) await clock.settle()
  }
  return out
}

describe('reload and boot (fake clock, in-memory switch)', () => {
  it('commits the fence before the reload leaves, probes the port every 150 ms, logs in the moment it opens, settles, and clears the fence once the boot is proven', async () => {
    const {clock, device, report, fence, worker} = setUp()
    const start = clock.now()
    const {value, error} = await drive(clock, worker.upgrade())
    expect(error).toBeUndefined()
    expect(value).toBe('upgraded')
    const install = device.commands.find((c) => c.command.startsWith('install add'))!
    expect(fence[0]).toMatchObject({op: 'record', detail: '10:11:12 UTC Mon Mar 4 2024'})
    expect(fence[0]!.at).toBeLessThanOrEqual(install.at)
    // Down for 90 s: TCP probes every 150 ms see the port closed (no SSH login while it is), the probe at 90 s finds
    // it open and the login follows at once; lab.yml's settle (PT1S) later it answers again on the same boot.
    const probes = device.probes.map((t) => t - install.at)
    expect(probes.slice(0, 3)).toEqual([0, 150, 300])
    expect(probes.filter((t) => t < 90_000).every((t, i, all) => i === 0 || t - all[i - 1]! === 150)).toBe(true)
    const waits = device.dials.slice(1).map((t) => t - install.at)
    expect(waits).toEqual([90_000, 91_000])
    expect(fence.at(-1)).toMatchObject({op: 'clear', detail: 'rebooted', at: start + 91_000})
    const wait = report.entries.find((e) => e.kind === 'stepFinished' && e.action === 'wait for reload')
    expect(wait).toMatchObject({status: 'completed', phase: 'reboot', duration_ms: 91_000})
    expect(String(wait!.output)).toMatch(/^back after 1m 30s, answering for 1\.0s, version 17\.09\.05/)
    // The settle check's show version is the last one sent: verify version, the final facts and the after gate ask
    // the same in the same moment and get that answer (issue #12); the baseline before the reload was read fresh.
    const after = device.commands.filter((c) => c.at >= start + 91_000).map((c) => c.command)
    expect(after).toEqual(['show version'])
    const before = device.commands.filter((c) => c.at <= install.at).map((c) => c.command)
    expect(before.at(-2)).toBe('show version')
    const verify = report.entries.find((e) => e.kind === 'stepFinished' && e.action === 'verify version')
    expect(verify).toMatchObject({status: 'completed', command: 'show version'})
    expect(String(verify!.output)).toMatch(/Version 17\.09\.05/)
    expect(report.entries.filter((e) => e.kind === 'phase').map((e) => e.phase)).toEqual(['upgrading', 'upgrading', 'booting', 'booting', 'verifying', 'upgrading', 'gates', 'upgraded'])
    expect(device.reloads).toBe(1)
  })

  it('a device that never goes down fails with "reload did not happen" at timeouts.boot, and the fence is cleared as failed', async () => {
    const {clock, fence, worker} = setUp({neverReloads: true})
    const start = clock.now()
    const {error} = await drive(clock, worker.upgrade())
    expect(error?.message).toMatch(/^sw1: reload did not happen: sw1 never went down and still reports "System restarted at 10:11:12 UTC Mon Mar 4 2024" after 10m/)
    expect(clock.now() - start).toBe(600_000)
    expect(fence.map((f) => f.op + ':' + f.detail)).toEqual(['record:10:11:12 UTC Mon Mar 4 2024', 'clear:failed'])
  })

  it('a host key refused after the reload stops the wait at once instead of polling until timeouts.boot', async () => {
    const {clock, device, worker} = setUp({newHostKeyAfterReload: true})
    const {error} = await drive(clock, worker.upgrade())
    expect(error?.message).toBe('sw1: host key changed')
    const install = device.commands.find((c) => c.command.startsWith('install add'))!
    // The login right after the port opens again (90 s) stops the wait.
    expect(clock.now() - install.at).toBe(90_000)
  })

  it('a halt during the wait cancels the wait step and leaves the fence open (a resume waits for the device)', async () => {
    const halt = new AbortController()
    const {clock, fence, report, worker} = setUp({}, halt)
    let out: Error | undefined
    worker.upgrade().catch((error: Error) => (out = error))
    await clock.advance(25_000)
    halt.abort('operator')
    await clock.advance(10_000)
    expect(out?.message).toBe('halted: operator')
    expect(fence.map((f) => f.op)).toEqual(['record'])
    expect(report.entries.find((e) => e.kind === 'stepFinished' && e.action === 'wait for reload')).toMatchObject({status: 'cancelled'})
  })

  it('an install refused with "FAILED:" and exit status 0 fails the step at once; nothing waits for a reload (issue #10)', async () => {
    const refused = 'install_add_activate_commit: START Wed Nov 25 20:00:00 UTC 2026\nFAILED: install_add_activate_commit : Another install operation is in progress\n'
    const {clock, device, fence, worker} = setUp({installFails: refused})
    const {error} = await drive(clock, worker.upgrade())
    expect(error?.message).toBe('sw1: step "install image" failed: device reported an error: FAILED: install_add_activate_commit : Another install operation is in progress')
    expect(device.reloads).toBe(0)
    expect(fence.map((f) => f.op + ':' + f.detail)).toEqual(['record:10:11:12 UTC Mon Mar 4 2024'])
  })

  it('a switch that booted less than a minute ago and never reloads is not "back": without a restart line its uptime must drop (issue #10)', async () => {
    // The v0.1 defect: no "System restarted at" line, uptime "0 minutes" before and after; the old rule (uptime <=
    // elapsed + 60 s) took it as back after one poll. An install that printed nothing wrong (no error pattern) and
    // never reloaded is now "reload did not happen" at timeouts.boot.
    const {clock, device, worker} = setUp({neverReloads: true, noRestartLine: true, uptimeMs: 30_000})
    const start = clock.now()
    const {error} = await drive(clock, worker.upgrade())
    expect(error?.message).toMatch(/^sw1: reload did not happen: sw1 never went down and still reports its old uptime after 10m/)
    expect(clock.now() - start).toBe(600_000)
    expect(device.reloads).toBe(0)
  })

  it('without a restart line, a reload is proven by the connection going away and an uptime within the time since the reload', async () => {
    const {clock, worker} = setUp({noRestartLine: true, uptimeMs: 30_000})
    const {value, error} = await drive(clock, worker.upgrade())
    expect(error).toBeUndefined()
    expect(value).toBe('upgraded')
  })

  it('a device that reloads a second time while settling is waited for again; the settle starts over', async () => {
    const {clock, device, report, worker} = setUp({secondReloadAfterMs: 500})
    const {value, error} = await drive(clock, worker.upgrade())
    expect(error).toBeUndefined()
    expect(value).toBe('upgraded')
    const install = device.commands.find((c) => c.command.startsWith('install add'))!
    const wait = report.entries.find((e) => e.kind === 'stepFinished' && e.action === 'wait for reload')
    // Back at 90 s, gone at the settle check (91 s), back on a newer boot after another 90 s, settled 1 s later.
    expect(Number(wait!.duration_ms)).toBe(182_000)
    expect(String(wait!.output)).toMatch(/answering for 1(\.0)?s/)
    expect(clock.now() - install.at).toBeGreaterThanOrEqual(182_000)
  })

  it('a session opened ahead of the task (preconnect, when the predecessor starts) is the one the task uses; the baseline is still read at the start', async () => {
    const {clock, device, worker} = setUp()
    worker.steps.preconnect()
    worker.steps.preconnect()
    await clock.settle()
    expect(device.dials).toHaveLength(1)
    expect(device.commands).toEqual([])
    await clock.advance(30_000)
    const {error} = await drive(clock, worker.upgrade())
    expect(error).toBeUndefined()
    const install = device.commands.find((c) => c.command.startsWith('install add'))!
    expect(device.dials.filter((t) => t <= install.at)).toHaveLength(1)
    expect(device.commands[0]).toMatchObject({command: 'show version', at: install.at})
  })

  describe('host keys after a reload (host_key_policy)', () => {
    it('repin-after-reload: a device back from its own reload with a new key is pinned; old and new fingerprints are reported', async () => {
      const {clock, device, report, worker} = setUp({newHostKeyAfterReload: true}, new AbortController(), {policy: 'repin-after-reload'})
      const {value, error} = await drive(clock, worker.upgrade())
      expect(error).toBeUndefined()
      expect(value).toBe('upgraded')
      expect(device.reloads).toBe(1)
      expect(report.entries.filter((e) => e.kind === 'hostKeyRepinned')).toEqual([{kind: 'hostKeyRepinned', old: ['SHA256:not-used'], new: fingerprintOf(NEW_HOST_KEY), knownHosts: null}])
      expect(report.entries.find((e) => e.kind === 'log' && e.level === 'warn')?.message).toMatch(/host key changed after its reload: SHA256:not-used -> SHA256:\S+; pinned .*update devices\[\]\.host_key in the inventory/)
    })

    it('repin-after-reload with known_hosts: the file is rewritten atomically with the new key for that host only, mode kept', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'chainup-repin-'))
      const file = join(dir, 'known_hosts')
      const {host, port} = inventory.devices[0]!
      const name = port === 22 ? host : `[${host}]:${port}`
      const oldKey = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 1)])
      writeFileSync(file, `# lab\n${name} ssh-ed25519 ${oldKey.toString('base64')}\nother.example ssh-ed25519 ${oldKey.toString('base64')}\n`, {mode: 0o640})
      const {clock, report, worker} = setUp({newHostKeyAfterReload: true}, new AbortController(), {policy: 'repin-after-reload', hostKey: {kind: 'known_hosts', file}})
      const {error} = await drive(clock, worker.upgrade())
      expect(error).toBeUndefined()
      expect(report.entries.filter((e) => e.kind === 'hostKeyRepinned')).toEqual([{kind: 'hostKeyRepinned', old: [fingerprintOf(oldKey)], new: fingerprintOf(NEW_HOST_KEY), knownHosts: file}])
      expect(readFileSync(file, 'utf8')).toBe(`# lab\nother.example ssh-ed25519 ${oldKey.toString('base64')}\n${name} ssh-ed25519 ${NEW_HOST_KEY.toString('base64')}\n`)
      expect(statSync(file).mode & 0o777).toBe(0o640)
    })

    it('strict (the default): the same change stops the device', async () => {
      const {clock, report, worker} = setUp({newHostKeyAfterReload: true})
      const {error} = await drive(clock, worker.upgrade())
      expect(error?.message).toBe('sw1: host key changed')
      expect(report.entries.filter((e) => e.kind === 'hostKeyRepinned')).toEqual([])
    })

    it('repin-after-reload never pins a key that changed before the device was seen going away', async () => {
      const {clock, report, worker} = setUp({neverReloads: true, hostKeyChangesWithoutReload: true}, new AbortController(), {policy: 'repin-after-reload'})
      const {error} = await drive(clock, worker.upgrade())
      expect(error?.message).toBe('sw1: host key changed')
      expect(report.entries.filter((e) => e.kind === 'hostKeyRepinned')).toEqual([])
      expect(report.entries.find((e) => e.kind === 'log' && e.level === 'warn')?.message).toMatch(/not re-pinned: the device was not seen going away/)
    })
  })
})
