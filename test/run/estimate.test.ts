/**
 * estimateDevice against a real journal file holding several past runs: the device's own history, the platform's
 * (same playbook, other devices and stacks), the timeouts bound; nearest-rank median and P95.
 */
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {loadStack} from '../../src/config/load.js'
import type {Inventory, Playbook} from '../../src/config/types.js'
import {openJournal, type Journal} from '../../src/journal/index.js'
import {estimateDevice, nearestRank, timeoutBound} from '../../src/run/estimate.js'
import {manualClock, step, tmpState, type ManualClock} from '../journal/helpers.js'
import {ROOT} from '../helpers/lab-stack.js'

/**
 * One past run of `stack` in which each device of `tasks` upgraded: readiness facts (not part of the task), then its
 * task (facts, install, wait for the reload, verify) taking `ms` in all, then an `after` gate 100 ms later.
 */
function pastRun(j: Journal, clock: ManualClock, id: string, stack: string, playbook: string, tasks: Record<string, number>, status: 'completed' | 'failed' = 'completed'): void {
  const names = Object.keys(tasks)
  const {devices} = j.createRun({id, stack, devices: names, target: {version: '17.09.05'}})
  j.appendEvent(id, {type: 'runConfig', data: {inventory: '/x/inv.yml', playbook}})
  for (const d of names) step(j, clock, id, d, {name: 'facts', phase: 'readiness', ms: 5000})
  clock.tick(60_000) // waiting for the turn is not part of a task
  for (const [d, ms] of Object.entries(tasks)) {
    step(j, clock, id, d, {name: 'facts', phase: 'upgrade', ms: 100})
    step(j, clock, id, d, {name: 'install image', ms: ms - 1000})
    step(j, clock, id, d, {name: 'wait for reload', phase: 'reboot', ms: 700})
    step(j, clock, id, d, {name: 'verify version', ms: 100})
    clock.tick(100)
    j.recordGate(id, {type: 'after', name: 'running target', device: d, decision: 'allow', reason: 'ok'})
    j.setStatus(devices[d]!, 'upgraded')
  }
  j.finishRun(id, status, status === 'completed' ? null : 'a later device failed')
  clock.tick(3_600_000)
}

describe('estimateDevice', () => {
  let state: ReturnType<typeof tmpState>
  let journal: Journal
  let clock: ManualClock
  let inventory: Inventory
  let playbook: Playbook

  beforeEach(async () => {
    state = tmpState('chainup-estimate-')
    clock = manualClock()
    journal = await openJournal(state.stateDir, {now: clock.now})
    ;({inventory, playbook} = await loadStack(`${ROOT}/inventories/lab.yml`))
  })
  afterEach(() => {
    journal.close()
    state.cleanup()
  })

  it('uses the device\'s own task durations in this stack: nearest-rank median and P95', () => {
    // sw1's tasks over five runs: 10, 20, 30, 40, 100 s (the failed run still counts: sw1 upgraded in it)
    const sw1 = [10_000, 20_000, 30_000, 40_000, 100_000]
    sw1.forEach((ms, i) => pastRun(journal, clock, `r${i}`, 'lab-stack', playbook.file, {sw1: ms, sw2: 7000}, i === 4 ? 'failed' : 'completed'))
    const e = estimateDevice(journal, inventory, playbook, inventory.devices[0]!)
    expect(e).toEqual({median_ms: 30_000, p95_ms: 100_000, source: 'history:device', samples: 5})
    expect(estimateDevice(journal, inventory, playbook, inventory.devices[1]!)).toEqual({median_ms: 7000, p95_ms: 7000, source: 'history:device', samples: 5})
  })

  it('leaves out devices that did not upgrade, runs still running, and other stacks\' devices of the same name', () => {
    pastRun(journal, clock, 'ok', 'lab-stack', playbook.file, {sw1: 12_000})
    pastRun(journal, clock, 'other-stack', 'core', playbook.file, {sw1: 99_000})
    // sw1 failed in this run; a second run is still running
    const {devices} = journal.createRun({id: 'failed-dev', stack: 'lab-stack', devices: ['sw1'], target: {version: '17.09.05'}})
    step(journal, clock, 'failed-dev', 'sw1', {name: 'install image', ms: 50_000, status: 'failed'})
    journal.setStatus(devices.sw1!, 'failed')
    journal.finishRun('failed-dev', 'failed', 'sw1 failed')
    const running = journal.createRun({id: 'running', stack: 'lab-stack', devices: ['sw1'], target: {version: '17.09.05'}})
    step(journal, clock, 'running', 'sw1', {name: 'install image', ms: 70_000})
    journal.setStatus(running.devices.sw1!, 'upgraded')
    expect(estimateDevice(journal, inventory, playbook, inventory.devices[0]!)).toEqual({median_ms: 12_000, p95_ms: 12_000, source: 'history:device', samples: 1})
  })

  it('falls back to the platform: other devices run with the same playbook, in any stack', () => {
    pastRun(journal, clock, 'a', 'core', playbook.file, {c1: 8000, c2: 9000})
    pastRun(journal, clock, 'b', 'lab-stack', playbook.file, {sw2: 11_000})
    pastRun(journal, clock, 'c', 'edge', '/somewhere/else/junos.yml', {e1: 500_000})
    // sw3 has no history of its own
    expect(estimateDevice(journal, inventory, playbook, inventory.devices[2]!)).toEqual({median_ms: 9000, p95_ms: 11_000, source: 'history:platform', samples: 3})
  })

  it('matches the platform by a recorded playbook platform too', () => {
    const {devices} = journal.createRun({id: 'p', stack: 'dist', devices: ['d1'], target: {version: '17.09.05'}})
    journal.appendEvent('p', {type: 'runConfig', data: {playbook: '/other/copy-of-ios-xe.yml', platform: 'ios-xe'}})
    step(journal, clock, 'p', 'd1', {name: 'install image', ms: 4000})
    journal.setStatus(devices.d1!, 'upgraded')
    journal.finishRun('p', 'completed', null)
    expect(estimateDevice(journal, inventory, playbook, inventory.devices[0]!)).toMatchObject({median_ms: 4000, source: 'history:platform', samples: 1})
  })

  it('uses at most the newest 50 tasks', () => {
    for (let i = 0; i < 60; i++) pastRun(journal, clock, `n${i}`, 'lab-stack', playbook.file, {sw1: i < 10 ? 1_000_000 : 20_000})
    expect(estimateDevice(journal, inventory, playbook, inventory.devices[0]!)).toEqual({median_ms: 20_000, p95_ms: 20_000, source: 'history:device', samples: 50})
  })

  it('without history (no journal, an empty one, a journal file that is not one) the timeouts bound', () => {
    // lab.yml: connect PT15S (default), command PT30S, boot PT30S, gate PT10S; install has timeout PT30M
    const bound = 15_000 + 30_000 + (1_800_000 + 30_000) + 30_000 + 30_000 + 10_000
    expect(timeoutBound(inventory, playbook)).toBe(bound)
    const expected = {median_ms: bound, p95_ms: bound, source: 'timeouts', samples: 0}
    expect(estimateDevice(undefined, inventory, playbook, inventory.devices[0]!)).toEqual(expected)
    expect(estimateDevice(journal, inventory, playbook, inventory.devices[0]!)).toEqual(expected)
    expect(estimateDevice({file: `${state.dir}/missing.db`} as Journal, inventory, playbook, inventory.devices[0]!)).toEqual(expected)
  })
})

describe('nearestRank', () => {
  it('is sorted[ceil(p/100 · n) − 1]', () => {
    expect(nearestRank([3, 1, 2], 50)).toBe(2)
    expect(nearestRank([4, 1, 3, 2], 50)).toBe(2)
    expect(nearestRank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], 95)).toBe(19)
    expect(nearestRank([5], 95)).toBe(5)
    expect(nearestRank([5, 1], 0)).toBe(1)
    expect(() => nearestRank([], 50)).toThrow(RangeError)
    expect(() => nearestRank([1], 101)).toThrow(RangeError)
  })
})
