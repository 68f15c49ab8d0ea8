import {createHash} from 'node:crypto'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {eventHash, GENESIS_HASH, openJournal, redact, type Journal} from '../../src/journal/index.js'
import {manualClock, raw, step, tmpState} from './helpers.js'

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

async function journalWithTwoRuns(): Promise<{j: Journal; stateDir: string; devices: Record<string, string>}> {
  const s = tmpState()
  const clock = manualClock()
  const j = await openJournal(s.stateDir, {now: clock.now})
  cleanups.push(s.cleanup, () => j.close())
  const {devices} = j.createRun({id: 'A', stack: 'core', devices: ['sw1', 'sw2'], target: {version: '2'}})
  j.recordGate('A', {type: 'before', name: 'window', device: null, decision: 'allow', reason: 'ok'})
  for (const state of ['READY', 'WORKING', 'DONE']) j.appendEvent('A', {type: 'nodeState', device: 'sw1', data: {state}})
  step(j, clock, 'A', 'sw1', {name: 'install', command: 'install add', output: 'fine'})
  j.recordGate('A', {type: 'after', name: 'ping', device: 'sw1', decision: 'veto', reason: 'loss 100%'})
  j.finishRun('A', 'vetoed', 'after gate "ping" vetoed')
  j.createRun({id: 'B', stack: 'edge', devices: ['e1'], target: {version: '2'}})
  j.appendEvent('B', {type: 'command', device: 'e1', data: {command: 'show version', exit: 0}})
  return {j, stateDir: s.stateDir, devices}
}

const seqOf = (j: Journal, runId: string, type: string, nth = 0): number => j.events(runId).filter((e) => e.type === type)[nth]!.seq

describe('the hash chain', () => {
  it('is sha256 over prev_hash (64 hex chars) followed by the canonical JSON of the row content, from 64 zeros', async () => {
    const {j} = await journalWithTwoRuns()
    const events = j.events()
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1))
    expect(events[0]!.prev_hash).toBe('0'.repeat(64))
    expect(GENESIS_HASH).toBe('0'.repeat(64))
    const e = events.find((x) => x.type === 'nodeState')!
    // spelled out here independently of the implementation: keys sorted, no spaces
    const canonical = `{"at":"${e.at}","data":{"state":"READY"},"device":"sw1","operation_run_id":"${e.operation_run_id}","run_id":"A","seq":${e.seq},"type":"nodeState"}`
    expect(e.hash).toBe(createHash('sha256').update(e.prev_hash + canonical, 'utf8').digest('hex'))
    for (let i = 1; i < events.length; i++) expect(events[i]!.prev_hash).toBe(events[i - 1]!.hash)
    expect(eventHash(e.prev_hash, e)).toBe(e.hash)
  })

  it('every change to runs and gates is itself an event (journal.*)', async () => {
    const {j} = await journalWithTwoRuns()
    expect(j.events('A').map((e) => e.type)).toEqual([
      'journal.run_created',
      'journal.gate',
      'nodeState',
      'nodeState',
      'nodeState',
      'journal.step_started',
      'journal.step_finished',
      'journal.gate',
      'journal.run_finished',
    ])
  })

  it('verifies an untouched journal, per run and whole, and gives the head hash to quote', async () => {
    const {j} = await journalWithTwoRuns()
    const a = j.events('A')
    expect(j.verify('A')).toEqual({ok: true, events: a.length, head: a[a.length - 1]!.hash})
    const all = j.events()
    expect(j.verify()).toEqual({ok: true, events: all.length, head: all[all.length - 1]!.hash})
  })

  it('names the first tampered event when a row is changed behind its back (second connection, raw UPDATE)', async () => {
    const {j} = await journalWithTwoRuns()
    const target = seqOf(j, 'A', 'nodeState', 1)
    const db = raw(j.file)
    db.prepare(`UPDATE events SET data = '{"state":"FAILED"}' WHERE seq = ?`).run(target)
    db.prepare(`UPDATE events SET at = '2020-01-01T00:00:00.000Z' WHERE seq = ?`).run(target + 2)
    db.close()
    const v = j.verify('A')
    expect(v).toMatchObject({ok: false, firstBadSeq: target, table: 'events'})
    expect(!v.ok && v.reason).toBe(`event seq ${target} (run A, type nodeState): content does not match its hash (altered)`)
    expect(j.verify()).toMatchObject({ok: false, firstBadSeq: target})
    // run B comes later in the same chain: its evidence rests on the broken part too
    expect(j.verify('B')).toMatchObject({ok: false, firstBadSeq: target})
  })

  it('a rewritten hash breaks the link to the next row; a deleted row is reported as missing', async () => {
    const {j} = await journalWithTwoRuns()
    const target = seqOf(j, 'A', 'nodeState', 0)
    const db = raw(j.file)
    db.prepare(`UPDATE events SET data = '{"state":"X"}', hash = ? WHERE seq = ?`).run('f'.repeat(64), target)
    expect(j.verify()).toMatchObject({ok: false, firstBadSeq: target, table: 'events'})
    // a careful forger recomputes the row's own hash: the next row's link gives it away
    const e = j.events().find((x) => x.seq === target)!
    db.prepare(`UPDATE events SET hash = ? WHERE seq = ?`).run(eventHash(e.prev_hash, e), target)
    db.close()
    const v1 = j.verify()
    expect(v1).toMatchObject({ok: false, firstBadSeq: target + 1, table: 'events'})
    expect(!v1.ok && v1.reason).toMatch(`prev_hash does not match the hash of seq ${target}`)

    const {j: j2} = await journalWithTwoRuns()
    const gone = seqOf(j2, 'A', 'nodeState', 2)
    const db2 = raw(j2.file)
    db2.prepare(`DELETE FROM events WHERE seq = ?`).run(gone)
    db2.close()
    const v = j2.verify('A')
    expect(v).toMatchObject({ok: false, firstBadSeq: gone + 1, table: 'events'})
    expect(!v.ok && v.reason).toMatch(`events ${gone}–${gone} are missing (deleted)`)
  })

  it('tampering after a run does not taint it: verify(A) stays ok when only run B was changed', async () => {
    const {j} = await journalWithTwoRuns()
    const db = raw(j.file)
    db.prepare(`UPDATE events SET device = 'e9' WHERE seq = ?`).run(seqOf(j, 'B', 'command'))
    db.close()
    expect(j.verify('A')).toMatchObject({ok: true})
    expect(j.verify('B')).toMatchObject({ok: false, firstBadSeq: seqOf(j, 'B', 'command')})
  })

  it('catches edited gate and run rows too: the tables are replayed from the (hashed) events', async () => {
    const {j} = await journalWithTwoRuns()
    const db = raw(j.file)
    db.prepare(`UPDATE gate_evaluations SET decision = 'allow' WHERE run_id = 'A' AND name = 'ping'`).run()
    db.close()
    const v = j.verify('A')
    expect(v).toMatchObject({ok: false, table: 'gate_evaluations', firstBadSeq: seqOf(j, 'A', 'journal.gate', 1)})
    expect(!v.ok && v.reason).toBe(`gate evaluation #2 ("ping") of run A: decision is "allow" but the events say "veto" (altered)`)

    const {j: j2} = await journalWithTwoRuns()
    const db2 = raw(j2.file)
    db2.prepare(`UPDATE operation_runs SET status = 'completed' WHERE id = 'A'`).run()
    db2.close()
    expect(j2.verify()).toMatchObject({ok: false, table: 'operation_runs', firstBadSeq: seqOf(j2, 'A', 'journal.run_finished')})

    const {j: j3, devices} = await journalWithTwoRuns()
    const db3 = raw(j3.file)
    db3.prepare(`DELETE FROM gate_evaluations WHERE run_id = 'A' AND name = 'ping'`).run()
    db3.prepare(`UPDATE operation_runs SET detail = '{"version_after":"9"}' WHERE id = ?`).run(devices.sw2)
    db3.close()
    const v3 = j3.verify('A')
    expect(v3).toMatchObject({ok: false, table: 'operation_runs'})
    expect(!v3.ok && v3.reason).toMatch(`operation run ${devices.sw2} (device "sw2"): detail is "{\\"version_after\\":\\"9\\"}" but the events say "{}"`)
  })

  it('a rolled-back transaction leaves the chain intact', async () => {
    const {j} = await journalWithTwoRuns()
    expect(() =>
      j.transaction(() => {
        j.appendEvent('B', {type: 'note', data: {n: 1}})
        throw new Error('boom')
      }),
    ).toThrow('boom')
    j.appendEvent('B', {type: 'note', data: {n: 2}})
    expect(j.verify()).toMatchObject({ok: true})
  })
})

describe('secrets never enter the journal', () => {
  it('drops secret-named keys, raw key bytes and PEM private keys; blanks registered secret values; the file bytes hold none', async () => {
    const s = tmpState()
    cleanups.push(s.cleanup)
    const secrets = {password: 'Hunter2-Pa55word', community: 'c0mmunity-XyZ-77', pem: 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', authKey: 'authKey-Secret-99', echoed: 'S3cret-Comm-Echoed'}
    const j = await openJournal(s.stateDir, {secrets: [secrets.echoed]})
    j.createRun({id: 'R', stack: 's', devices: ['sw1'], target: {version: '2'}})
    j.appendEvent('R', {
      type: 'command',
      device: 'sw1',
      data: {
        user: 'admin',
        password: secrets.password,
        ssh: {privateKey: Buffer.from(secrets.pem), passphrase: secrets.password},
        snmp: [{target: '10.0.0.1', community: secrets.community, auth_key: secrets.authKey}],
        blob: Buffer.from(secrets.pem),
        note: `-----BEGIN OPENSSH PRIVATE KEY-----\n${secrets.pem}\n-----END OPENSSH PRIVATE KEY-----`,
      },
    })
    const id = j.startStep('R', 'sw1', {name: 'show run', phase: 'readiness', command: 'show running-config'})
    j.finishStep(id, {status: 'completed', output: `snmp-server community ${secrets.echoed} RO`, error: null})
    const stored = j.events('R').find((e) => e.type === 'command')!.data
    expect(stored).toEqual({user: 'admin', ssh: {}, snmp: [{target: '10.0.0.1'}], note: '[redacted]'})
    expect(j.tree('R').children[0]!.children[0]!.status).toBe('completed')
    j.close()
    const files = readdirSync(s.stateDir)
    expect(files).toContain('chainup.db')
    const bytes = Buffer.concat(files.map((f) => readFileSync(join(s.stateDir, f))))
    expect(bytes.includes('admin')).toBe(true) // the search works
    expect(bytes.includes('snmp-server community [redacted] RO')).toBe(true)
    for (const secret of Object.values(secrets)) expect(bytes.includes(secret), secret).toBe(false)
    expect(bytes.includes(Buffer.from(secrets.pem).toString('base64'))).toBe(false)
  })

  it('redact() keeps plain data and honours toJSON', () => {
    const hidden = {host: 'h', toJSON: () => ({host: 'h', password: '***'})}
    expect(redact({a: 1, b: [1, undefined, 'x'], c: hidden, d: new Date(0), n: Number.NaN, big: 10n, Password: 'p', 'ssh-key': 'x', key: 'k', hostKey: 'ssh-ed25519 AAAA', public_key: 'ssh-rsa AAAA'})).toEqual({
      a: 1,
      b: [1, null, 'x'],
      c: {host: 'h'},
      d: '1970-01-01T00:00:00.000Z',
      n: null,
      big: '10',
      hostKey: 'ssh-ed25519 AAAA',
      public_key: 'ssh-rsa AAAA',
    })
  })
})
