import {afterEach, describe, expect, it} from 'vitest'

import {openJournal, type Journal} from '../../src/journal/index.js'
import {manualClock, tmpState} from './helpers.js'

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})
async function setup(): Promise<{j: Journal; stateDir: string; reopen: () => Promise<Journal>}> {
  const s = tmpState()
  const clock = manualClock()
  const j = await openJournal(s.stateDir, {now: clock.now})
  cleanups.push(s.cleanup, () => j.close())
  j.createRun({id: 'R', stack: 's', devices: ['sw1', 'sw2'], target: {version: '2'}})
  return {
    j,
    stateDir: s.stateDir,
    reopen: async () => {
      const again = await openJournal(s.stateDir, {now: clock.now})
      cleanups.push(() => again.close())
      return again
    },
  }
}

describe('outbox: a step result and the ChainSync lines it emits commit together', () => {
  it('commits both; pending lines survive a restart until marked sent, in order', async () => {
    const {j, reopen} = await setup()
    const step = j.startStep('R', 'sw1', {name: 'install', phase: 'upgrade', command: 'install'})
    const ids = j.transaction(() => {
      j.finishStep(step, {status: 'completed', output: 'ok', error: null})
      return [j.enqueue('R', 'sw1', 'successor', 'TASK-DONE R sw1'), j.enqueue('R', 'sw1', 'predecessor', 'ACK R sw1')]
    })
    expect(ids[1]! > ids[0]!).toBe(true)
    j.close()

    const after = await reopen() // the process died before sending: on restart, send again
    expect(after.pendingOutbox('R')).toEqual([
      {id: ids[0], run_id: 'R', device: 'sw1', side: 'successor', line: 'TASK-DONE R sw1', created_at: '2026-03-01T10:00:00.000Z'},
      {id: ids[1], run_id: 'R', device: 'sw1', side: 'predecessor', line: 'ACK R sw1', created_at: '2026-03-01T10:00:00.000Z'},
    ])
    expect(after.tree('R').children[0]!.children[0]!.status).toBe('completed')
    expect(after.markSent(ids[0]!)).toBe(true)
    expect(after.markSent(ids[0]!)).toBe(true) // idempotent
    expect(after.markSent(9999)).toBe(false)
    expect(after.pendingOutbox('R').map((m) => m.id)).toEqual([ids[1]])
    expect(after.pendingOutbox('other')).toEqual([])
  })

  it('an error inside the transaction rolls back the step result, its lines and its events', async () => {
    const {j} = await setup()
    const step = j.startStep('R', 'sw1', {name: 'install', phase: 'upgrade', command: 'install'})
    const events = j.events().length
    expect(() =>
      j.transaction(() => {
        j.finishStep(step, {status: 'completed', output: 'ok', error: null})
        j.enqueue('R', 'sw1', 'successor', 'TASK-DONE R sw1')
        throw new Error('crash between commit points')
      }),
    ).toThrow('crash between commit points')
    expect(j.pendingOutbox('R')).toEqual([])
    expect(j.tree('R').children[0]!.children[0]!.status).toBe('running')
    expect(j.events().length).toBe(events)
    expect(j.verify()).toMatchObject({ok: true})
  })

  it('nested transactions are savepoints: an inner failure caught by the outer one undoes only the inner part', async () => {
    const {j} = await setup()
    j.transaction(() => {
      j.enqueue('R', 'sw1', 'successor', 'kept')
      try {
        j.transaction(() => {
          j.enqueue('R', 'sw1', 'successor', 'dropped')
          throw new Error('inner')
        })
      } catch {
        // handled
      }
    })
    expect(j.pendingOutbox('R').map((m) => m.line)).toEqual(['kept'])
  })
})

describe('reload fences: a resumed run never reloads twice', () => {
  it('records the intent before the reload, keeps it open across a restart, refuses a second one until cleared', async () => {
    const {j, reopen} = await setup()
    expect(j.openFence('R', 'sw1')).toBeNull()
    const id = j.recordReloadIntent({runId: 'R', device: 'sw1', restartedAtBefore: '2026-02-01T08:00:00.000Z', uptimeBefore: 2_592_000, targetVersion: '17.9.5'})
    expect(() => j.recordReloadIntent({runId: 'R', device: 'sw1', restartedAtBefore: null, uptimeBefore: null, targetVersion: '17.9.5'})).toThrow(
      expect.objectContaining({code: 'FENCE_OPEN'}),
    )
    j.close()

    const after = await reopen()
    expect(after.openFence('R', 'sw1')).toEqual({
      id,
      runId: 'R',
      device: 'sw1',
      sentAt: '2026-03-01T10:00:00.000Z',
      restartedAtBefore: '2026-02-01T08:00:00.000Z',
      uptimeBefore: 2_592_000,
      targetVersion: '17.9.5',
    })
    expect(after.openFence('R', 'sw2')).toBeNull()
    expect(after.clearFence('R', 'sw1', 'rebooted')).toBe(true)
    expect(after.clearFence('R', 'sw1', 'rebooted')).toBe(false)
    expect(after.openFence('R', 'sw1')).toBeNull()
    const second = after.recordReloadIntent({runId: 'R', device: 'sw1', restartedAtBefore: null, uptimeBefore: null, targetVersion: '17.9.6'})
    expect(second).not.toBe(id)
    expect(after.events('R').filter((e) => e.type.startsWith('journal.reload')).map((e) => [e.type, e.device])).toEqual([
      ['journal.reload_intent', 'sw1'],
      ['journal.reload_cleared', 'sw1'],
      ['journal.reload_intent', 'sw1'],
    ])
    expect(() => after.recordReloadIntent({runId: 'R', device: 'nope', restartedAtBefore: null, uptimeBefore: null, targetVersion: '1'})).toThrow(
      expect.objectContaining({code: 'UNKNOWN_DEVICE'}),
    )
  })
})
