import {existsSync, statSync, writeFileSync, mkdirSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {JOURNAL_FILE, JournalError, LATEST_SCHEMA_VERSION, openJournal, type Journal} from '../../src/journal/index.js'
import {MIGRATIONS} from '../../src/journal/migrations.js'
import {manualClock, raw, step, tmpState} from './helpers.js'

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})
function state() {
  const s = tmpState()
  cleanups.push(s.cleanup)
  return s
}
async function opened(stateDir: string, clock = manualClock()): Promise<Journal> {
  const j = await openJournal(stateDir, {now: clock.now})
  cleanups.unshift(() => j.close())
  return j
}

describe('opening the journal', () => {
  it('creates the directory 0700 and the database 0600 (also -wal), even with umask 0', async () => {
    const {stateDir} = state()
    const old = process.umask(0)
    try {
      const j = await opened(stateDir)
      j.createRun({id: 'r1', stack: 's', devices: ['a'], target: {version: '1'}})
      expect(statSync(stateDir).mode & 0o777).toBe(0o700)
      expect(statSync(join(stateDir, JOURNAL_FILE)).mode & 0o777).toBe(0o600)
      expect(existsSync(join(stateDir, `${JOURNAL_FILE}-wal`))).toBe(true)
      expect(statSync(join(stateDir, `${JOURNAL_FILE}-wal`)).mode & 0o777).toBe(0o600)
      expect(statSync(join(stateDir, `${JOURNAL_FILE}-shm`)).mode & 0o777).toBe(0o600)
    } finally {
      process.umask(old)
    }
  })

  it('tightens an existing world-readable database file to 0600', async () => {
    const {stateDir} = state()
    mkdirSync(stateDir, {recursive: true})
    writeFileSync(join(stateDir, JOURNAL_FILE), '', {mode: 0o644})
    const j = await opened(stateDir)
    expect(statSync(j.file).mode & 0o777).toBe(0o600)
  })

  it('applies every migration to an empty database, in WAL mode, and reopening changes nothing', async () => {
    const {stateDir} = state()
    const j = await opened(stateDir)
    j.createRun({id: 'r1', stack: 's', devices: ['a'], target: {version: '1'}})
    j.close()
    const db = raw(join(stateDir, JOURNAL_FILE))
    const versions = db.prepare('SELECT version, name FROM schema_version ORDER BY version').all()
    expect(versions).toEqual(MIGRATIONS.map((m) => ({version: m.version, name: m.name})))
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length)
    expect(db.pragma('journal_mode', {simple: true})).toBe('wal')
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all()
    expect(tables).toEqual(['events', 'fleet_stacks', 'fleets', 'gate_evaluations', 'locks', 'operation_runs', 'outbox', 'reload_fences', 'schema_version'])
    db.close()

    const again = await opened(stateDir)
    expect(again.tree('r1').children.map((c) => c.name)).toEqual(['a'])
    again.close()
    const db2 = raw(join(stateDir, JOURNAL_FILE))
    expect(db2.prepare('SELECT COUNT(*) FROM schema_version').pluck().get()).toBe(MIGRATIONS.length)
    db2.close()
  })

  it('refuses a database written by a newer chainup, saying so', async () => {
    const {stateDir} = state()
    ;(await openJournal(stateDir)).close()
    const db = raw(join(stateDir, JOURNAL_FILE))
    db.prepare(`INSERT INTO schema_version (version, name, applied_at) VALUES (?, 'from the future', '2030-01-01T00:00:00Z')`).run(LATEST_SCHEMA_VERSION + 1)
    db.close()
    const error = await openJournal(stateDir).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(JournalError)
    expect((error as JournalError).code).toBe('JOURNAL_TOO_NEW')
    expect((error as JournalError).message).toMatch(`schema version ${LATEST_SCHEMA_VERSION + 1}, newer than this chainup understands (${LATEST_SCHEMA_VERSION})`)
    expect((error as JournalError).hint).toMatch(/upgrade chainup/)
  })

  it('refuses a state directory that is a file', async () => {
    const {dir} = state()
    writeFileSync(join(dir, 'plain-file'), '')
    const error = await openJournal(join(dir, 'plain-file')).catch((e: unknown) => e)
    expect(error).toMatchObject({code: 'JOURNAL_UNREADABLE', message: expect.stringMatching(/cannot open the journal/)})
  })

  it('refuses a file that is not a database', async () => {
    const {stateDir} = state()
    mkdirSync(stateDir, {recursive: true})
    writeFileSync(join(stateDir, JOURNAL_FILE), 'this is not sqlite, just text that is long enough to have a header of 100 bytes.............')
    const error = await openJournal(stateDir).catch((e: unknown) => e)
    expect((error as JournalError).code).toBe('JOURNAL_UNREADABLE')
  })
})

describe('operation runs (seed 001 §2.1)', () => {
  it('run → device → step with parents, roots and lineage; steps numbered across the run', async () => {
    const {stateDir} = state()
    const clock = manualClock()
    const j = await opened(stateDir, clock)
    const {devices} = j.createRun({id: 'run-1', stack: 'core', devices: ['sw1', 'sw2', 'sw3'], target: {version: '17.9', image: 'img.bin'}})
    const s1 = step(j, clock, 'run-1', 'sw1', {name: 'check', phase: 'readiness', command: 'show version'})
    const s2 = step(j, clock, 'run-1', 'sw2', {name: 'check', phase: 'readiness', command: 'show version'})
    const s3 = j.startStep('run-1', 'sw1', {name: 'install', phase: 'upgrade', command: 'install add file img.bin'})
    j.close()

    const db = raw(join(stateDir, JOURNAL_FILE))
    const rows = db.prepare(`SELECT id, parent_id, root_id, lineage, kind, name, device, ord, status FROM operation_runs ORDER BY rowid`).all() as Array<Record<string, unknown>>
    db.close()
    const sw1 = devices.sw1!
    const sw2 = devices.sw2!
    const sw3 = devices.sw3!
    expect(rows).toEqual([
      {id: 'run-1', parent_id: null, root_id: 'run-1', lineage: '["run-1"]', kind: 'run', name: 'core', device: null, ord: 0, status: 'running'},
      {id: sw1, parent_id: 'run-1', root_id: 'run-1', lineage: JSON.stringify(['run-1', sw1]), kind: 'device', name: 'sw1', device: 'sw1', ord: 1, status: 'running'},
      {id: sw2, parent_id: 'run-1', root_id: 'run-1', lineage: JSON.stringify(['run-1', sw2]), kind: 'device', name: 'sw2', device: 'sw2', ord: 2, status: 'running'},
      {id: sw3, parent_id: 'run-1', root_id: 'run-1', lineage: JSON.stringify(['run-1', sw3]), kind: 'device', name: 'sw3', device: 'sw3', ord: 3, status: 'pending'},
      {id: s1, parent_id: sw1, root_id: 'run-1', lineage: JSON.stringify(['run-1', sw1, s1]), kind: 'step', name: 'check', device: 'sw1', ord: 1, status: 'completed'},
      {id: s2, parent_id: sw2, root_id: 'run-1', lineage: JSON.stringify(['run-1', sw2, s2]), kind: 'step', name: 'check', device: 'sw2', ord: 2, status: 'completed'},
      {id: s3, parent_id: sw1, root_id: 'run-1', lineage: JSON.stringify(['run-1', sw1, s3]), kind: 'step', name: 'install', device: 'sw1', ord: 3, status: 'running'},
    ])
    expect(new Set([s1, s2, s3, sw1, sw2, sw3]).size).toBe(6)
  })

  it('finishing the run closes its open children: running → cancelled, pending → not_started', async () => {
    const {stateDir} = state()
    const clock = manualClock()
    const j = await opened(stateDir, clock)
    j.createRun({id: 'r', stack: 's', devices: ['a', 'b', 'c'], target: {version: '2'}})
    const {devices} = {devices: Object.fromEntries(j.tree('r').children.map((c) => [c.name, c.id]))}
    step(j, clock, 'r', 'a', {name: 'x'})
    j.setStatus(devices.a!, 'upgraded', {version_before: '1', version_after: '2'})
    const open = j.startStep('r', 'b', {name: 'y', phase: 'upgrade', command: null})
    clock.tick(500)
    j.finishRun('r', 'cancelled', 'interrupted by SIGINT')
    const t = j.tree('r')
    expect(t.status).toBe('cancelled')
    expect(t.finished_at).toBe(clock.iso())
    expect(t.children.map((c) => [c.name, c.status])).toEqual([
      ['a', 'upgraded'],
      ['b', 'cancelled'],
      ['c', 'not_started'],
    ])
    expect(t.children[1]!.children.find((s) => s.id === open)!.status).toBe('cancelled')
    expect(() => j.startStep('r', 'c', {name: 'z', phase: 'upgrade', command: null})).toThrow(expect.objectContaining({code: 'ALREADY_FINISHED'}))
    expect(() => j.finishRun('r', 'failed', null)).toThrow(expect.objectContaining({code: 'ALREADY_FINISHED'}))
  })

  it('refuses bad input with a code: unknown run/device, duplicate run/device, wrong status for the kind, final status changes', async () => {
    const {stateDir} = state()
    const j = await opened(stateDir)
    expect(() => j.createRun({id: 'd', stack: 's', devices: ['a', 'a'], target: {version: '1'}})).toThrow(expect.objectContaining({code: 'DUPLICATE_DEVICE'}))
    const {devices} = j.createRun({id: 'r', stack: 's', devices: ['a'], target: {version: '1'}})
    expect(() => j.createRun({id: 'r', stack: 's', devices: ['a'], target: {version: '1'}})).toThrow(expect.objectContaining({code: 'RUN_EXISTS'}))
    expect(() => j.startStep('nope', 'a', {name: 'x', phase: 'upgrade', command: null})).toThrow(expect.objectContaining({code: 'UNKNOWN_RUN'}))
    expect(() => j.startStep('r', 'zz', {name: 'x', phase: 'upgrade', command: null})).toThrow(expect.objectContaining({code: 'UNKNOWN_DEVICE'}))
    expect(() => j.setStatus(devices.a!, 'completed')).toThrow(expect.objectContaining({code: 'INVALID_STATUS'}))
    expect(() => j.setStatus('missing', 'failed')).toThrow(expect.objectContaining({code: 'UNKNOWN_OPERATION_RUN'}))
    expect(() => j.setStatus('r', 'completed')).toThrow(expect.objectContaining({code: 'INVALID_STATUS', message: expect.stringMatching(/finishRun/)}))
    j.setStatus(devices.a!, 'failed')
    expect(() => j.setStatus(devices.a!, 'upgraded')).toThrow(expect.objectContaining({code: 'ALREADY_FINISHED'}))
    expect(() => j.startStep('r', 'a', {name: 'late', phase: 'upgrade', command: null})).toThrow(expect.objectContaining({code: 'ALREADY_FINISHED'}))
    j.createRun({id: 'r2', stack: 's', devices: ['a'], target: {version: '1'}})
    const s = j.startStep('r2', 'a', {name: 'x', phase: 'upgrade', command: null})
    j.finishStep(s, {status: 'completed', output: null, error: null})
    expect(() => j.finishStep(s, {status: 'failed', output: null, error: null})).toThrow(expect.objectContaining({code: 'ALREADY_FINISHED'}))
    expect(() => j.finishStep(s, {status: 'running' as 'completed', output: null, error: null})).toThrow(expect.objectContaining({code: 'ALREADY_FINISHED'}))
    expect(() => j.appendEvent('r', {type: 'journal.gate', data: {}})).toThrow(expect.objectContaining({code: 'RESERVED_EVENT_TYPE'}))
  })

  it('a transaction function must be synchronous: a promise is refused and nothing is committed', async () => {
    const {stateDir} = state()
    const j = await opened(stateDir)
    j.createRun({id: 'r', stack: 's', devices: ['a'], target: {version: '1'}})
    const before = j.events('r').length
    expect(() =>
      j.transaction(async () => {
        j.appendEvent('r', {type: 'note', data: {n: 1}})
      }),
    ).toThrow(expect.objectContaining({code: 'ASYNC_TRANSACTION'}))
    expect(j.events('r').length).toBe(before)
  })
})
