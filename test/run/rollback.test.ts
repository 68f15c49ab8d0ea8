/**
 * run/rollback.ts: the backward wave (seed 001 §3.4, docs/decisions.md #17) with real device workers against
 * in-memory switches on a fake clock — order, outcomes, the stop at a failed rollback, and its trap event.
 */
import {resolve} from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {loadStack} from '../../src/config/load.js'
import type {Inventory, Playbook} from '../../src/config/types.js'
import {Credentials} from '../../src/device/ssh-session.js'
import {DeviceWorker} from '../../src/device/worker.js'
import {RunEvents} from '../../src/model/events.js'
import type {DeviceOutcome} from '../../src/model/status.js'
import {RunHalt} from '../../src/run/halt.js'
import {rollBack, rollbackOrder, type RollbackTarget} from '../../src/run/rollback.js'
import {FakeClock} from '../helpers/fake-clock.js'
import {FakeSwitch, recordingReport} from '../helpers/fake-device.js'

let inventory: Inventory
let playbook: Playbook
beforeAll(async () => {
  ;({inventory, playbook} = await loadStack(resolve(import.meta.dirname, '../../inventories/lab.yml')))
  inventory = {...inventory, on_failure: 'rollback'}
})

describe('rollbackOrder', () => {
  it('failed or cut-short devices first, then the upgraded ones in reverse chain order; others are left alone', () => {
    const outcomes: Record<string, string> = {sw1: 'upgraded', sw2: 'upgraded', sw3: 'failed', sw4: 'not_started', sw5: 'skipped'}
    expect(rollbackOrder(['sw1', 'sw2', 'sw3', 'sw4', 'sw5'], (n) => outcomes[n])).toEqual(['sw3', 'sw2', 'sw1'])
    expect(rollbackOrder(['sw1', 'sw2'], (n) => ({sw1: 'upgraded', sw2: 'cancelled'})[n])).toEqual(['sw2', 'sw1'])
    expect(rollbackOrder(['sw1', 'sw2'], () => 'not_started')).toEqual([])
  })
})

describe('rollBack (fake devices, fake clock)', () => {
  /** A device already upgraded from 17.06.05 in this run (its install step started), as an agent would hold it. */
  function upgradedDevice(clock: FakeClock, name: string, log: string[], outcome: DeviceOutcome, images = ['cat9k_iosxe.17.06.05.SPA.bin']) {
    const device = new FakeSwitch(clock, {name, version: '17.09.05', images, bootMs: 20_000})
    const dial = device.dial
    const worker = new DeviceWorker({
      runId: 'run-1',
      inventory,
      playbook,
      device: {...inventory.devices[0]!, name},
      credentials: new Credentials('netops', {password: 'x'}),
      hostKey: {kind: 'fingerprint', fingerprint: 'SHA256:x'},
      report: recordingReport(),
      hiddenEnv: [],
      signal: AbortSignal.abort('the chain halted'),
      clock,
      probe: device.probe,
      dial: async (opts) => {
        const session = await dial(opts)
        return {...session, get isClosed() {return session.isClosed}, exec: async (command, t) => {
          if (command.startsWith('install add')) log.push(`${name}: ${command}`)
          return session.exec(command, t)
        }}
      },
      versionBefore: '17.06.05',
      startedBefore: ['install image'],
    })
    const target: RollbackTarget & {statuses: string[]} = {
      outcome,
      statuses: [],
      settle(o) {
        this.statuses.push(o)
        ;(this as {outcome: DeviceOutcome}).outcome = o
      },
      worker,
    }
    return {device, target}
  }

  async function run(clock: FakeClock, work: Promise<void>): Promise<void> {
    let done = false
    void work.finally(() => (done = true))
    while (!done) if (!(await clock.runNext())) await clock.settle()
  }

  it('rolls back the failed device first, then the upgraded ones in reverse chain order, each back on its old version', async () => {
    const clock = new FakeClock()
    const log: string[] = []
    const sw1 = upgradedDevice(clock, 'sw1', log, 'upgraded')
    const sw2 = upgradedDevice(clock, 'sw2', log, 'upgraded')
    const sw3 = upgradedDevice(clock, 'sw3', log, 'failed')
    const halt = new RunHalt()
    halt.record('failed', 'sw3: step "verify version" failed', true)
    const events = new RunEvents()
    const halted: string[] = []
    events.on('chainHalted', (e) => halted.push(e.device))
    const agents = new Map([['sw1', sw1.target], ['sw2', sw2.target], ['sw3', sw3.target]])
    await run(clock, rollBack(halt.cause!, agents, ['sw1', 'sw2', 'sw3'], halt, events))
    expect(log.map((l) => l.split(':')[0])).toEqual(['sw3', 'sw2', 'sw1'])
    expect(log[0]).toBe('sw3: install add file flash:cat9k_iosxe.17.06.05.SPA.bin activate commit prompt-level none')
    for (const d of [sw1, sw2, sw3]) {
      expect(d.device.version).toBe('17.06.05')
      expect(d.target.statuses).toEqual(['rolling_back', 'rolled_back'])
    }
    expect(halt.cause).toEqual({status: 'failed', reason: 'sw3: step "verify version" failed; rolled back sw3, sw2, sw1'})
    expect(halted).toEqual([])
  })

  it('a failed rollback stops the wave there, fails the run and raises chainHalted for the trap', async () => {
    const clock = new FakeClock()
    const log: string[] = []
    const sw1 = upgradedDevice(clock, 'sw1', log, 'upgraded')
    // sw2's previous image is gone from flash: the compensating install fails.
    const sw2 = upgradedDevice(clock, 'sw2', log, 'failed', [])
    const halt = new RunHalt()
    halt.record('vetoed', 'after gate "health" vetoed', true)
    const events = new RunEvents()
    const halted: Array<{device: string; reason: string}> = []
    events.on('chainHalted', (e) => halted.push(e))
    await run(clock, rollBack(halt.cause!, new Map([['sw1', sw1.target], ['sw2', sw2.target]]), ['sw1', 'sw2'], halt, events))
    expect(sw2.target.statuses).toEqual(['rolling_back', 'rollback_failed'])
    expect(sw1.target.statuses).toEqual([])
    expect(sw1.device.version).toBe('17.09.05')
    expect(halt.cause?.status).toBe('failed')
    expect(halt.cause?.reason).toMatch(/^after gate "health" vetoed; rollback failed on sw2: /)
    expect(halted).toHaveLength(1)
    expect(halted[0]!.device).toBe('sw2')
    expect(halted[0]!.reason).toMatch(/^rollback failed: sw2: /)
  })
})
