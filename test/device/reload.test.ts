/**
 * The reload and the wait for the boot (device/reload.ts, docs/decisions.md #7, #8) on a fake clock and an in-memory
 * switch: the polling interval, the fence, "reload did not happen", a refused host key, a halt — no sleeps, no SSH.
 */
import {resolve} from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {loadStack} from '../../src/config/load.js'
import type {Inventory, Playbook} from '../../src/config/types.js'
import {DeviceWorker} from '../../src/device/worker.js'
import {Credentials} from '../../src/device/ssh-session.js'
import type {DeviceFacts} from '../../src/device/facts.js'
import {FakeClock} from '../helpers/fake-clock.js'
import {FakeSwitch, recordingReport, type FakeSwitchOptions} from '../helpers/fake-device.js'

const TARGET_IMAGE = 'cat9k_iosxe.17.09.05.SPA.bin'
let inventory: Inventory
let playbook: Playbook

beforeAll(async () => {
  ;({inventory, playbook} = await loadStack(resolve(import.meta.dirname, '../../inventories/lab.yml')))
  // PT10M: polls every 10 s (timeouts.boot / 60).
  inventory = {...inventory, timeouts: {...inventory.timeouts, boot: 600_000}}
})

function setUp(opts: Partial<FakeSwitchOptions> = {}, halt = new AbortController()) {
  const clock = new FakeClock()
  const device = new FakeSwitch(clock, {name: 'sw1', version: '17.06.05', images: [TARGET_IMAGE, 'cat9k_iosxe.17.06.05.SPA.bin'], bootMs: 90_000, ...opts})
  const report = recordingReport()
  const fence: Array<{at: number; op: string; detail: string}> = []
  const worker = new DeviceWorker({
    runId: 'run-1',
    inventory,
    playbook,
    device: inventory.devices[0]!,
    credentials: new Credentials('netops', {password: 'not-used'}),
    hostKey: {kind: 'fingerprint', fingerprint: 'SHA256:not-used'},
    report,
    hiddenEnv: [],
    signal: halt.signal,
    clock,
    dial: device.dial,
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
  it('commits the fence before the reload leaves, polls every timeouts.boot/60 and clears the fence once the boot is proven', async () => {
    const {clock, device, report, fence, worker} = setUp()
    const start = clock.now()
    const {value, error} = await drive(clock, worker.upgrade())
    expect(error).toBeUndefined()
    expect(value).toBe('upgraded')
    const install = device.commands.find((c) => c.command.startsWith('install add'))!
    expect(fence[0]).toMatchObject({op: 'record', detail: '10:11:12 UTC Mon Mar 4 2024'})
    expect(fence[0]!.at).toBeLessThanOrEqual(install.at)
    // Down for 90 s: the wait dials at once, then every 10 s; the tenth poll finds it back (dial 0 was the task's own connect).
    const waits = device.dials.slice(1).map((t) => t - install.at)
    expect(waits).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 90_000])
    expect(fence.at(-1)).toMatchObject({op: 'clear', detail: 'rebooted', at: start + 90_000})
    const wait = report.entries.find((e) => e.kind === 'stepFinished' && e.action === 'wait for reload')
    expect(wait).toMatchObject({status: 'completed', phase: 'reboot', duration_ms: 90_000})
    expect(String(wait!.output)).toMatch(/^back after 1m ?30s, version 17\.09\.05/)
    expect(report.entries.filter((e) => e.kind === 'phase').map((e) => e.phase)).toEqual(['upgrading', 'upgrading', 'booting', 'verifying', 'upgrading', 'gates', 'upgraded'])
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
})
