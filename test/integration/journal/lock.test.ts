import {spawn, type ChildProcess} from 'node:child_process'
import {hostname} from 'node:os'
import {dirname, join} from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {openJournal, type Journal} from '../../../src/journal/index.js'
import {processStartTime} from '../../../src/journal/liveness.js'
import {compileJournal, raw, tmpState} from '../../journal/helpers.js'

const cleanups: Array<() => void> = []
const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL')
  while (cleanups.length > 0) cleanups.pop()!()
})

async function setup(): Promise<{j: Journal; stateDir: string}> {
  const s = tmpState()
  const j = await openJournal(s.stateDir)
  cleanups.push(s.cleanup, () => j.close())
  return {j, stateDir: s.stateDir}
}

/** Writes a lock row as another process would have. */
function plantLock(file: string, stack: string, runId: string, pid: number, opts: {host?: string; pidStart?: string | null} = {}): void {
  const db = raw(file)
  db.prepare(`INSERT OR REPLACE INTO locks (stack, run_id, pid, pid_start, hostname, acquired_at) VALUES (?, ?, ?, ?, ?, ?)`).run(
    stack,
    runId,
    pid,
    opts.pidStart ?? null,
    opts.host ?? hostname(),
    '2026-03-01T09:00:00.000Z',
  )
  db.close()
}

function sleeper(): ChildProcess & {pid: number} {
  const c = spawn('sleep', ['30'], {stdio: 'ignore'})
  children.push(c)
  if (c.pid === undefined) throw new Error('sleep did not start')
  return c as ChildProcess & {pid: number}
}

describe('stack locks within one process', () => {
  it('one run per stack: the second run is refused with the holder; release frees it; stacks are independent', async () => {
    const {j} = await setup()
    expect(j.acquireLock('core', 'run-1')).toEqual({ok: true})
    expect(j.acquireLock('core', 'run-1')).toEqual({ok: true}) // re-entrant for the holder
    expect(j.acquireLock('edge', 'run-2')).toEqual({ok: true})
    const refused = j.acquireLock('core', 'run-3')
    expect(refused).toEqual({
      ok: false,
      heldBy: {
        runId: 'run-1',
        pid: process.pid,
        hostname: hostname(),
        acquiredAt: expect.any(String),
        liveness: 'running',
        resume: {resumable: false, reason: 'run run-1 is not in this journal (its process stopped before it recorded the run)'},
        stateDir: dirname(j.file),
      },
    })
    expect(j.releaseLock('core', 'run-3')).toBe(false) // not the holder
    expect(j.releaseLock('core', 'run-1')).toBe(true)
    expect(j.acquireLock('core', 'run-3')).toEqual({ok: true})
  })
})

describe('locks left by other processes', () => {
  it('a lock held by a live process is refused, naming it', async () => {
    const {j} = await setup()
    const child = sleeper()
    plantLock(j.file, 'core', 'their-run', child.pid)
    expect(j.acquireLock('core', 'mine')).toMatchObject({
      ok: false,
      heldBy: {runId: 'their-run', pid: child.pid, hostname: hostname(), acquiredAt: '2026-03-01T09:00:00.000Z', liveness: 'running'},
    })
    // with the start time recorded, it is still the same live process
    plantLock(j.file, 'core', 'their-run', child.pid, {pidStart: processStartTime(child.pid)})
    expect(j.acquireLock('core', 'mine')).toMatchObject({ok: false, heldBy: {pid: child.pid}})
  })

  it('a lock whose process is dead is taken over, with a note', async () => {
    const {j} = await setup()
    const child = sleeper()
    const exited = new Promise((r) => child.once('exit', r))
    process.kill(child.pid, 'SIGKILL')
    await exited
    plantLock(j.file, 'core', 'crashed-run', child.pid)
    const r = j.acquireLock('core', 'mine')
    expect(r).toEqual({
      ok: true,
      tookOverFrom: {
        runId: 'crashed-run',
        pid: child.pid,
        hostname: hostname(),
        acquiredAt: '2026-03-01T09:00:00.000Z',
        liveness: 'gone',
        resume: {resumable: false, reason: expect.stringMatching(/not in this journal/)},
        stateDir: dirname(j.file),
      },
      note: `took over the lock on stack core left by run crashed-run (pid ${child.pid} on ${hostname()}, since 2026-03-01T09:00:00.000Z): that process is no longer running`,
    })
    expect(j.acquireLock('core', 'other')).toMatchObject({ok: false, heldBy: {runId: 'mine', pid: process.pid}})
  })

  it('a live pid that belongs to a different process now (pid reused) does not hold the lock', async () => {
    const {j} = await setup()
    const child = sleeper()
    plantLock(j.file, 'core', 'old-run', child.pid, {pidStart: '1'})
    expect(j.acquireLock('core', 'mine')).toMatchObject({ok: true, tookOverFrom: {runId: 'old-run'}})
  })

  it('a lock taken on another host is never taken over (its process cannot be checked from here)', async () => {
    const {j} = await setup()
    plantLock(j.file, 'core', 'remote-run', 999_999, {host: 'some-other-host'})
    expect(j.acquireLock('core', 'mine')).toMatchObject({ok: false, heldBy: {runId: 'remote-run', hostname: 'some-other-host', liveness: 'unknown'}})
  })
})

describe('two processes, one journal', () => {
  let compiled: {entry: string; cleanup: () => void}
  beforeAll(() => {
    compiled = compileJournal()
  })
  afterAll(() => compiled.cleanup())

  const fixture = join(import.meta.dirname, 'fixtures', 'contender.mjs')
  type Said = {ready?: number; pid: number; result?: {ok: boolean; heldBy?: {runId: string; pid: number}}; appended?: number}
  /** Starts a contender; `next()` resolves with its next stdout line (parsed), `send()` writes a line to it. */
  function contender(args: string[]) {
    const c = spawn(process.execPath, [fixture, compiled.entry, ...args], {stdio: ['pipe', 'pipe', 'pipe']})
    children.push(c)
    const queue: Said[] = []
    const waiting: Array<(s: Said) => void> = []
    let buf = ''
    let err = ''
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    c.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        const said = JSON.parse(buf.slice(0, i)) as Said
        buf = buf.slice(i + 1)
        const w = waiting.shift()
        if (w) w(said)
        else queue.push(said)
      }
    })
    const exited = new Promise<number | null>((r) => c.once('exit', r))
    return {
      next: () =>
        new Promise<Said>((resolve, reject) => {
          const q = queue.shift()
          if (q) return resolve(q)
          waiting.push(resolve)
          void exited.then((code) => reject(new Error(`contender exited ${code}: ${err}`)))
        }),
      send: (line: string) => c.stdin!.write(line + '\n'),
      exited,
    }
  }

  it('contending for the same stack at the same moment: exactly one wins; when it dies, the lock is taken over', async () => {
    const {j, stateDir} = await setup()
    const cs = ['p1', 'p2', 'p3', 'p4'].map((id) => contender([stateDir, 'lock', id, 'core']))
    for (const c of cs) expect((await c.next()).ready).toBeTypeOf('number')
    for (const c of cs) c.send('go')
    const results = await Promise.all(cs.map((c) => c.next()))
    const winners = results.filter((r) => r.result?.ok)
    const losers = results.filter((r) => !r.result?.ok)
    expect(winners).toHaveLength(1)
    expect(losers).toHaveLength(3)
    const winner = winners[0]!
    for (const l of losers) expect(l.result?.heldBy).toMatchObject({pid: winner.pid})
    expect(j.acquireLock('core', 'mine')).toMatchObject({ok: false, heldBy: {pid: winner.pid}})
    // the winner exits without releasing: its lock is now stale and is taken over
    for (const c of cs) c.send('exit')
    expect(await Promise.all(cs.map((c) => c.exited))).toEqual([0, 0, 0, 0])
    expect(j.acquireLock('core', 'after')).toMatchObject({ok: true, tookOverFrom: {pid: winner.pid}})
  })

  it('two processes appending to the same hash chain at once keep it intact', async () => {
    const {j, stateDir} = await setup()
    const cs = [contender([stateDir, 'append', 'run-a', 'core', '150']), contender([stateDir, 'append', 'run-b', 'edge', '150'])]
    for (const c of cs) await c.next()
    for (const c of cs) c.send('go')
    expect((await Promise.all(cs.map((c) => c.next()))).map((r) => r.appended)).toEqual([150, 150])
    const ticks = j.events().filter((e) => e.type === 'tick')
    expect(ticks).toHaveLength(300)
    // interleaved, not one after the other (otherwise this test proves nothing about contention)
    const switches = ticks.filter((e, i) => i > 0 && e.run_id !== ticks[i - 1]!.run_id).length
    expect(switches).toBeGreaterThan(10)
    expect(j.verify()).toMatchObject({ok: true, events: 300 + 2})
  })
})

describe('Journal.unlock: releasing a lock by hand (chainup unlock)', () => {
  const by = {user: 'ops', uid: 1000, pid: 4242, hostname: 'admin-box'}

  it('no lock: nothing to release', async () => {
    const {j} = await setup()
    expect(j.unlock('core', {force: false})).toEqual({released: false, holder: null})
    expect(j.lockHolder('core')).toBeNull()
  })

  it('a holder on another host (or this host before a container restart renamed it) needs --force; the release is journaled', async () => {
    const {j} = await setup()
    j.createRun({id: 'old-run', stack: 'core', devices: ['sw1'], target: {version: '2'}})
    plantLock(j.file, 'core', 'old-run', 77, {host: 'container-before-restart'})
    const refused = j.unlock('core', {force: false, by})
    expect(refused).toMatchObject({released: false, holder: {runId: 'old-run', hostname: 'container-before-restart', liveness: 'unknown', resume: {resumable: true}}})
    expect(j.lockHolder('core')).toMatchObject({runId: 'old-run'})
    // a new run is refused as before; --force releases it
    expect(j.acquireLock('core', 'new-run')).toMatchObject({ok: false})
    expect(j.unlock('core', {force: true, by})).toMatchObject({released: true, journaled: true, by, holder: {runId: 'old-run', liveness: 'unknown'}})
    expect(j.lockHolder('core')).toBeNull()
    expect(j.acquireLock('core', 'new-run')).toEqual({ok: true})
    const unlocked = j.events('old-run').filter((e) => e.type === 'stackUnlocked')
    expect(unlocked.map((e) => e.data)).toEqual([
      {
        stack: 'core',
        forced: true,
        by: {user: 'ops', uid: 1000, pid: 4242, hostname: 'admin-box'},
        holder: {run_id: 'old-run', pid: 77, hostname: 'container-before-restart', acquired_at: '2026-03-01T09:00:00.000Z', liveness: 'unknown'},
      },
    ])
    expect(j.verify()).toMatchObject({ok: true})
  })

  it('a holder alive on this host needs --force; a dead one is released without', async () => {
    const {j} = await setup()
    const child = sleeper()
    plantLock(j.file, 'core', 'live-run', child.pid, {pidStart: processStartTime(child.pid)})
    expect(j.unlock('core', {force: false})).toMatchObject({released: false, holder: {pid: child.pid, liveness: 'running'}})
    const exited = new Promise((r) => child.once('exit', r))
    process.kill(child.pid, 'SIGKILL')
    await exited
    expect(j.unlock('core', {force: false})).toMatchObject({released: true, holder: {liveness: 'gone'}, journaled: false})
    expect(j.lockHolder('core')).toBeNull()
  })

  it('the event names who unlocked: this process, its user and host by default', async () => {
    const {j} = await setup()
    j.createRun({id: 'r', stack: 'core', devices: ['sw1'], target: {version: '2'}})
    plantLock(j.file, 'core', 'r', 77, {host: 'elsewhere'})
    j.unlock('core', {force: true})
    const e = j.events('r').find((x) => x.type === 'stackUnlocked')
    expect(e?.data).toMatchObject({by: {pid: process.pid, hostname: hostname(), user: expect.any(String)}})
  })

  it('says whether the holder run could be resumed: not when it finished, stopped at a failed device, or died rolling back', async () => {
    const {j} = await setup()
    const holder = (runId: string) => {
      plantLock(j.file, 'core', runId, 77, {host: 'elsewhere'})
      return j.lockHolder('core')!.resume
    }
    const {devices} = j.createRun({id: 'running', stack: 'core', devices: ['sw1', 'sw2'], target: {version: '2'}})
    expect(holder('running')).toEqual({resumable: true})
    j.setStatus(devices.sw1!, 'failed', {on_error: 'allow'})
    expect(holder('running')).toEqual({resumable: true}) // an on_error gate let the chain past sw1
    j.setStatus(devices.sw2!, 'failed')
    expect(holder('running')).toEqual({resumable: false, reason: 'run running stopped at a failed device (sw2) no on_error gate let past'})
    const b = j.createRun({id: 'rolling', stack: 'core', devices: ['sw1'], target: {version: '2'}})
    j.setStatus(b.devices.sw1!, 'rolling_back')
    expect(holder('rolling')).toMatchObject({resumable: false, reason: expect.stringMatching(/died during its rollback \(sw1\)/)})
    j.createRun({id: 'done', stack: 'core', devices: ['sw1'], target: {version: '2'}})
    j.finishRun('done', 'completed', null)
    expect(holder('done')).toEqual({resumable: false, reason: 'run done already finished (completed)'})
    j.createRun({id: 'stopped', stack: 'core', devices: ['sw1'], target: {version: '2'}})
    j.finishRun('stopped', 'cancelled', 'SIGINT')
    expect(holder('stopped')).toEqual({resumable: true})
  })
})
