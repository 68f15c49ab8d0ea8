/**
 * run/resume.ts: what a resumed run derives for each device from a real journal file (docs/runs.md "Resume"), and
 * the runs it refuses to resume. No sockets, no devices.
 */
import {resolve} from 'node:path'

import {afterEach, beforeAll, describe, expect, it} from 'vitest'

import {loadStack} from '../../src/config/load.js'
import type {Inventory, Playbook} from '../../src/config/types.js'
import {openJournal, type Journal} from '../../src/journal/journal.js'
import {planResume, reopenDevices} from '../../src/run/resume.js'
import {tmpState} from '../journal/helpers.js'

let inventory: Inventory
let playbook: Playbook
beforeAll(async () => {
  ;({inventory, playbook} = await loadStack(resolve(import.meta.dirname, '../../inventories/lab.yml')))
})

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const c of cleanups.splice(0)) c()
})

async function journalWithRun(): Promise<{journal: Journal; devices: Record<string, string>}> {
  const state = tmpState('chainup-resume-')
  const journal = await openJournal(state.stateDir)
  cleanups.push(() => {
    journal.close()
    state.cleanup()
  })
  const {devices} = journal.createRun({id: 'R', stack: 'lab-stack', devices: ['sw1', 'sw2', 'sw3', 'sw4'], target: inventory.target})
  return {journal, devices}
}

describe('planResume', () => {
  it('done, booting (open fence), reloaded (fence cleared as booted) and fresh devices; versions and started steps', async () => {
    const {journal, devices} = await journalWithRun()
    journal.appendEvent('R', {type: 'deviceFacts', device: 'sw1', data: {version_before: '17.06.05'}})
    journal.appendEvent('R', {type: 'deviceFacts', device: 'sw2', data: {version_before: '17.06.04'}})
    journal.appendEvent('R', {type: 'deviceFacts', device: 'sw2', data: {version_before: '17.09.05'}})
    const s1 = journal.startStep('R', 'sw1', {name: 'install image', phase: 'upgrade', command: 'install …'})
    journal.finishStep(s1, {status: 'completed', output: null, error: null})
    journal.setStatus(devices.sw1!, 'upgraded', {version_before: '17.06.05', version_after: '17.09.05'})
    journal.startStep('R', 'sw2', {name: 'install image', phase: 'upgrade', command: 'install …'})
    journal.recordReloadIntent({runId: 'R', device: 'sw2', restartedAtBefore: '10:11:12 UTC Mon Mar 4 2024', uptimeBefore: 600, targetVersion: '17.09.05'})
    journal.recordReloadIntent({runId: 'R', device: 'sw3', restartedAtBefore: null, uptimeBefore: null, targetVersion: '17.09.05'})
    journal.clearFence('R', 'sw3', 'rebooted')
    const deviceRuns = reopenDevices(journal, 'R')
    expect(Object.keys(deviceRuns)).toEqual(['sw1', 'sw2', 'sw3', 'sw4'])
    const plan = planResume(journal, 'R', inventory, playbook)
    const fence = journal.openFence('R', 'sw2')!
    expect(plan.states.get('sw1')).toEqual({state: 'done', outcome: 'upgraded'})
    expect(plan.states.get('sw2')).toEqual({state: 'booting', before: {version: '', uptimeSeconds: 600, restartedAt: '10:11:12 UTC Mon Mar 4 2024'}, sentAt: Date.parse(fence.sentAt)})
    expect(plan.states.get('sw3')).toEqual({state: 'reloaded'})
    expect(plan.states.get('sw4')).toEqual({state: 'fresh'})
    // The first facts read win (a resumed run must not take the target for the version before).
    expect(plan.versionsBefore.get('sw2')).toBe('17.06.04')
    expect(plan.startedBefore.get('sw1')).toEqual(['install image'])
    expect(plan.startedBefore.get('sw2')).toEqual(['install image'])
    expect(plan.startedBefore.get('sw4')).toEqual([])
    // The step the dead process left running is closed as interrupted.
    const sw2Steps = journal.tree('R').children.find((c) => c.name === 'sw2')!.children
    expect(sw2Steps.map((st) => st.status)).toEqual(['cancelled'])
  })

  it('a device that failed with an on_error allow committed is done (failed); one without it refuses the resume', async () => {
    const allowed = await journalWithRun()
    allowed.journal.setStatus(allowed.devices.sw2!, 'failed', {on_error: 'allow'})
    expect(planResume(allowed.journal, 'R', inventory, playbook).states.get('sw2')).toEqual({state: 'done', outcome: 'failed'})

    const halted = await journalWithRun()
    halted.journal.setStatus(halted.devices.sw2!, 'failed', {on_error: 'halt'})
    expect(() => planResume(halted.journal, 'R', inventory, playbook)).toThrow(expect.objectContaining({code: 'RESUME_HALTED', exitCode: 2}))
  })

  it('a run that died during its rollback is not resumed', async () => {
    const {journal, devices} = await journalWithRun()
    journal.setStatus(devices.sw1!, 'upgraded')
    journal.setStatus(devices.sw1!, 'rolling_back')
    expect(() => planResume(journal, 'R', inventory, playbook)).toThrow(expect.objectContaining({code: 'RESUME_ROLLBACK', message: expect.stringContaining('sw1 rolling_back')}))
  })
})
