import {afterEach, describe, expect, it} from 'vitest'

import {LATEST_SCHEMA_VERSION, openJournal, type Journal} from '../../src/journal/index.js'
import {manualClock, raw, tmpState} from '../journal/helpers.js'

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

async function journal(): Promise<{j: Journal; tick: (ms: number) => void}> {
  const s = tmpState()
  const clock = manualClock()
  const j = await openJournal(s.stateDir, {now: clock.now})
  cleanups.push(s.cleanup, () => j.close())
  return {j, tick: clock.tick}
}

describe('fleets in the journal', () => {
  it('a fleet above its stack runs: created pending, marked, finished, read back with the runs\' statuses', async () => {
    const {j, tick} = await journal()
    j.createFleet({id: 'F', concurrency: 2, maxFailed: null, stacks: [
      {stack: 'a', inventory: '/x/a.yml', runId: 'ra'},
      {stack: 'b', inventory: '/x/b.yml', runId: 'rb'},
    ]})
    expect(j.fleet('F')).toMatchObject({id: 'F', status: 'running', finished_at: null, duration_ms: null, concurrency: 2, max_failed: null, stacks: [
      {ord: 1, stack: 'a', run_id: 'ra', state: 'pending', run_status: null},
      {ord: 2, stack: 'b', run_id: 'rb', state: 'pending', run_status: null},
    ]})
    j.createRun({id: 'ra', stack: 'a', devices: ['sw1'], target: {version: '17'}})
    j.markFleetStack('F', 'ra', 'started', null)
    j.markFleetStack('F', 'rb', 'not_started', 'stack b is being upgraded by run X')
    j.finishRun('ra', 'completed', null)
    expect(j.fleetOf('ra')).toBe('F')
    expect(j.fleetOf('nope')).toBeNull()
    tick(1500)
    j.finishFleet('F', 'failed', '1 of 2 stacks did not complete')
    const f = j.fleet('F')!
    expect(f).toMatchObject({status: 'failed', duration_ms: 1500, reason: '1 of 2 stacks did not complete'})
    expect(f.stacks.map((s) => [s.state, s.run_status, s.reason])).toEqual([
      ['started', 'completed', null],
      ['not_started', null, 'stack b is being upgraded by run X'],
    ])
    expect(() => j.finishFleet('F', 'completed', null)).toThrow(expect.objectContaining({code: 'ALREADY_FINISHED'}))
    j.reopenFleet('F')
    expect(j.fleet('F')).toMatchObject({status: 'running', finished_at: null, stacks: [{state: 'started'}, {state: 'pending'}]})
    expect(j.history().runs.map((r) => r.execution_id)).toEqual(['ra'])
    expect(j.verify()).toMatchObject({ok: true})
  })

  it('fleets newest first, by status; unknown ids; a taken id', async () => {
    const {j, tick} = await journal()
    for (const id of ['F1', 'F2', 'F3']) {
      j.createFleet({id, concurrency: 1, maxFailed: 1, stacks: [{stack: 's', inventory: 'i', runId: `r-${id}`}]})
      tick(10)
    }
    j.finishFleet('F2', 'vetoed', 'stack s vetoed')
    expect(j.fleets().map((f) => f.id)).toEqual(['F3', 'F2', 'F1'])
    expect(j.fleets({status: 'vetoed'}).map((f) => f.id)).toEqual(['F2'])
    expect(j.fleets({limit: 1}).map((f) => f.id)).toEqual(['F3'])
    expect(() => j.fleets({limit: 0})).toThrow(expect.objectContaining({code: 'HISTORY_QUERY_INVALID'}))
    expect(j.fleet('nope')).toBeNull()
    expect(() => j.createFleet({id: 'F1', concurrency: 1, maxFailed: null, stacks: []})).toThrow(expect.objectContaining({code: 'RUN_EXISTS'}))
    expect(() => j.markFleetStack('F1', 'other', 'started', null)).toThrow(expect.objectContaining({code: 'UNKNOWN_RUN'}))
  })

  it('migration 2 adds the fleet tables to a journal of schema 1', async () => {
    const {j} = await journal()
    const db = raw(j.file)
    try {
      expect(LATEST_SCHEMA_VERSION).toBeGreaterThanOrEqual(2)
      expect(db.prepare(`SELECT name FROM schema_version WHERE version = 2`).get()).toEqual({name: 'fleets: a fleet of stack runs (DEC-002 council) above the runs'})
    } finally {
      db.close()
    }
  })
})
