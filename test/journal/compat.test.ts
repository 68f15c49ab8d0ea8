/**
 * A journal written by chainup before src/journal/journal.ts was split into modules (fixtures/journal-v1.sql, a
 * `sqlite3 .dump` of it, and what that version answered, fixtures/journal-v1.expected.json) still opens, verifies to
 * the same head hash, and reads back the same results, history and outbox.
 */
import {mkdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {JOURNAL_FILE, openJournal, type Journal} from '../../src/journal/index.js'
import {manualClock, raw, tmpState} from './helpers.js'

const fixtures = join(import.meta.dirname, 'fixtures')
const expected = JSON.parse(readFileSync(join(fixtures, 'journal-v1.expected.json'), 'utf8')) as Record<string, unknown>

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

/** The fixture loaded into a fresh state directory, opened with a clock after the fixture's last write. */
async function oldJournal(): Promise<Journal> {
  const s = tmpState()
  cleanups.push(s.cleanup)
  mkdirSync(s.stateDir, {recursive: true, mode: 0o700})
  const db = raw(join(s.stateDir, JOURNAL_FILE))
  db.exec(readFileSync(join(fixtures, 'journal-v1.sql'), 'utf8'))
  db.close()
  const j = await openJournal(s.stateDir, {now: manualClock('2026-03-02T00:00:00.000Z').now})
  cleanups.unshift(() => j.close())
  return j
}

describe('a journal written before the split', () => {
  it('verifies to the same head and reads back the same results, history and outbox', async () => {
    const j = await oldJournal()
    expect(j.verify()).toEqual(expected.verify)
    expect(j.verify('run-A')).toEqual(expected.verifyA)
    expect(j.verify('run-B')).toEqual(expected.verifyB)
    expect(j.buildResult('run-A')).toEqual(expected.resultA)
    expect(j.buildResult('run-B')).toEqual(expected.resultB)
    expect(j.history()).toEqual(expected.historyAll)
    expect(j.events()).toHaveLength(expected.events as number)
    expect(j.pendingOutbox('run-A')).toEqual(expected.pendingA)
    expect(j.tree('run-B').children.map((d) => [d.name, d.status])).toEqual([
      ['e1', 'rolled_back'],
      ['e2', 'failed'],
      ['e3', 'not_started'],
    ])
  })

  it('takes new runs on the same chain, and the whole journal still verifies', async () => {
    const j = await oldJournal()
    const {devices} = j.createRun({id: 'run-C', stack: 'core', devices: ['sw1'], target: {version: '18.1'}})
    expect(j.acquireLock('core', 'run-C')).toEqual({ok: true})
    const s = j.startStep('run-C', 'sw1', {name: 'facts', phase: 'readiness', command: 'show version'})
    j.finishStep(s, {status: 'completed', output: 'Version 17.9.5', error: null})
    j.recordGate('run-C', {type: 'after', name: 'ping', device: 'sw1', decision: 'allow', reason: 'ok'})
    j.setStatus(devices.sw1!, 'skipped')
    j.finishRun('run-C', 'completed', null)
    const events = j.events()
    expect(events[(expected.events as number)]!.prev_hash).toBe((expected.verify as {head: string}).head)
    expect(j.verify()).toMatchObject({ok: true, events: events.length})
    expect(j.verify('run-A')).toEqual(expected.verifyA)
  })
})
