/** taskDurations on a real journal file: what a task's span is, which devices count, filters, order and limit. */
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {JournalError, openJournal, taskDurations, type Journal} from '../../src/journal/index.js'
import {chainRun, manualClock, step, tmpState, type ManualClock} from './helpers.js'

describe('taskDurations', () => {
  let state: ReturnType<typeof tmpState>
  let journal: Journal
  let clock: ManualClock

  beforeEach(async () => {
    state = tmpState('chainup-durations-')
    clock = manualClock()
    journal = await openJournal(state.stateDir, {now: clock.now})
  })
  afterEach(() => {
    journal.close()
    state.cleanup()
  })

  it('a task spans its upgrade and reboot steps and its after gates, not readiness nor the wait for its turn', () => {
    chainRun(journal, clock) // sw1 and sw2 upgraded (install 300 + reload wait 3000 + verify 100, after gate 150 later); sw3 failed
    const samples = taskDurations(journal.file, {stack: 'core'})
    expect(samples.map((s) => [s.device, s.duration_ms])).toEqual([
      ['sw2', 3550],
      ['sw1', 3550],
    ])
    expect(samples[0]).toMatchObject({run_id: 'run-T', stack: 'core', playbook: null, platform: null, started_at: '2026-03-01T10:00:03.900Z'})
  })

  it('filters by stack, device, playbook or platform, leaves one device out, newest first, limited', () => {
    for (const [i, [stack, playbook]] of [['a', '/p/ios.yml'], ['b', '/p/ios.yml'], ['a', '/p/junos.yml']].entries()) {
      const id = `r${i}`
      const {devices} = journal.createRun({id, stack: stack!, devices: ['x', 'y'], target: {version: '1'}})
      journal.appendEvent(id, {type: 'runConfig', data: {playbook: playbook!, ...(i === 2 ? {platform: 'junos'} : {})}})
      for (const d of ['x', 'y']) {
        step(journal, clock, id, d, {name: 'install', ms: 1000 * (i + 1)})
        journal.setStatus(devices[d]!, 'upgraded')
      }
      journal.finishRun(id, 'completed', null)
    }
    const pick = (q: Parameters<typeof taskDurations>[1]) => taskDurations(journal.file, q).map((s) => `${s.run_id}/${s.device}`)
    expect(pick({stack: 'a', device: 'x'})).toEqual(['r2/x', 'r0/x'])
    expect(pick({playbook: '/p/ios.yml'})).toEqual(['r1/y', 'r1/x', 'r0/y', 'r0/x'])
    expect(pick({playbook: '/p/none.yml', platform: 'junos'})).toEqual(['r2/y', 'r2/x'])
    expect(pick({playbook: '/p/ios.yml', exclude: {stack: 'a', device: 'x'}})).toEqual(['r1/y', 'r1/x', 'r0/y'])
    expect(pick({limit: 2})).toEqual(['r2/y', 'r2/x'])
    expect(taskDurations(journal.file, {stack: 'a', device: 'x'}).map((s) => s.duration_ms)).toEqual([3000, 1000])
  })

  it('no file: no history; a file that is not a journal: JOURNAL_UNREADABLE', () => {
    expect(taskDurations(join(state.dir, 'none.db'))).toEqual([])
    const bad = join(state.dir, 'bad.db')
    writeFileSync(bad, 'not a database at all, just text that is long enough to be read as a header')
    expect(() => taskDurations(bad)).toThrow(JournalError)
    expect(() => taskDurations(journal.file, {limit: 0})).toThrow(RangeError)
  })
})
