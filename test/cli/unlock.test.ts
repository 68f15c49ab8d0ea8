/**
 * `chainup unlock STACK [--force]` through the built CLI (bin/run.js), and the lock hint of `chainup upgrade`: a lock
 * from another host, or from this host before a container restart changed its name, can be released with --force
 * (never without), the release is journaled, and every refusal names the exact command that works.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {hostname, tmpdir} from 'node:os'
import {join} from 'node:path'

import Database from 'better-sqlite3'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {JOURNAL_FILE, openJournal} from '../../src/journal/index.js'
import {processStartTime} from '../../src/journal/liveness.js'
import {chainup} from '../helpers/cli.js'
import {ROOT} from '../helpers/lab-stack.js'


let dir: string
let n = 0
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/commands/unlock.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) before the CLI tests')
  dir = mkdtempSync(join(tmpdir(), 'chainup-unlock-'))
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))
const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

/** A state directory whose journal has run `runId` of `stack` (running) and a lock on it held by pid on host. */
async function lockedState(stack: string, runId: string, pid: number, host: string, pidStart: string | null = null): Promise<string> {
  const stateDir = join(dir, `state-${++n}`)
  const j = await openJournal(stateDir)
  j.createRun({id: runId, stack, devices: ['sw1', 'sw2'], target: {version: '17.09.05'}})
  j.close()
  const db = new Database(join(stateDir, JOURNAL_FILE))
  db.prepare(`INSERT INTO locks (stack, run_id, pid, pid_start, hostname, acquired_at) VALUES (?, ?, ?, ?, ?, ?)`).run(stack, runId, pid, pidStart, host, '2026-03-01T09:00:00.000Z')
  db.close()
  return stateDir
}

async function journalEvents(stateDir: string, runId: string) {
  const j = await openJournal(stateDir)
  try {
    return j.events(runId).filter((e) => e.type === 'stackUnlocked')
  } finally {
    j.close()
  }
}

describe('chainup unlock', () => {
  it('a lock left by this host under its old name (container restart): refused without --force, naming the command; --force releases it and journals who did', async () => {
    const stateDir = await lockedState('core', 'run-A', 77, 'chainup-7f9c2d')
    const refused = await chainup(['unlock', 'core', '--state-dir', stateDir])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain('Error: the lock of stack core is held by run run-A, pid 77 on chainup-7f9c2d (since 2026-03-01T09:00:00.000Z); chainup cannot check a process on another host')
    expect(refused.stderr).toContain(
      `Hint: make sure pid 77 on chainup-7f9c2d no longer runs chainup (if chainup-7f9c2d was this host's name before a restart, e.g. of a container, it does not), then run: chainup unlock core --force --state-dir ${stateDir}`,
    )
    expect(await journalEvents(stateDir, 'run-A')).toEqual([])

    const forced = await chainup(['unlock', 'core', '--force', '--state-dir', stateDir])
    expect(forced).toMatchObject({code: 0, stderr: ''})
    expect(forced.stdout.split('\n')).toEqual([
      'released the lock of stack core held by run run-A (pid 77 on chainup-7f9c2d, since 2026-03-01T09:00:00.000Z)',
      `run run-A can be continued with: chainup resume run-A --state-dir ${stateDir}`,
      '',
    ])
    const events = await journalEvents(stateDir, 'run-A')
    expect(events.map((e) => e.data)).toEqual([
      {
        stack: 'core',
        forced: true,
        by: {user: expect.any(String), uid: expect.anything(), pid: expect.any(Number), hostname: hostname()},
        holder: {run_id: 'run-A', pid: 77, hostname: 'chainup-7f9c2d', acquired_at: '2026-03-01T09:00:00.000Z', liveness: 'unknown'},
      },
    ])
    expect(await chainup(['unlock', 'core', '--state-dir', stateDir])).toMatchObject({code: 0, stdout: 'stack core is not locked; nothing to do\n'})
  })

  it('a holder still running on this host: refused, told to stop it instead; --force releases it with a warning', async () => {
    const child = spawn('sleep', ['30'], {stdio: 'ignore'})
    children.push(child)
    const pid = child.pid!
    const stateDir = await lockedState('core', 'run-B', pid, hostname(), processStartTime(pid))
    const refused = await chainup(['unlock', 'core', '--state-dir', stateDir])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain(`Error: run run-B (pid ${pid} on this host, ${hostname()}, since 2026-03-01T09:00:00.000Z) holds the lock of stack core and is still running`)
    expect(refused.stderr).toContain(
      `Hint: stop it instead (Ctrl-C in its terminal, or kill -INT ${pid}): a stopped run releases its lock and chainup resume run-B --state-dir ${stateDir} continues it. Only if that process must go on without the lock: chainup unlock core --force --state-dir ${stateDir}`,
    )
    const forced = await chainup(['unlock', 'core', '--force', '--state-dir', stateDir])
    expect(forced.code).toBe(0)
    expect(forced.stdout).toBe(`released the lock of stack core held by run run-B (pid ${pid} on ${hostname()}, since 2026-03-01T09:00:00.000Z)\n`)
    expect(forced.stderr).toBe(`warning: pid ${pid} on this host still runs run run-B; it goes on without the stack's lock\n`)
  })

  it('a holder that is gone from this host is released without --force', async () => {
    const child = spawn('true', {stdio: 'ignore'})
    await new Promise((r) => child.once('exit', r))
    const stateDir = await lockedState('core', 'run-C', child.pid!, hostname())
    const r = await chainup(['unlock', 'core', '--state-dir', stateDir])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`released the lock of stack core held by run run-C (pid ${child.pid} on ${hostname()}, since 2026-03-01T09:00:00.000Z; that process is no longer running)`)
    expect((await journalEvents(stateDir, 'run-C')).map((e) => (e.data as {forced: boolean}).forced)).toEqual([false])
  })

  it('a state directory with a quote in its name is quoted in the command it prints', async () => {
    const stateDir = await lockedState('core', 'run-D', 77, 'elsewhere')
    const odd = join(dir, "it's here")
    rmSync(odd, {recursive: true, force: true})
    const {renameSync} = await import('node:fs')
    renameSync(stateDir, odd)
    const refused = await chainup(['unlock', 'core', '--state-dir', odd])
    expect(refused.stderr).toContain(`chainup unlock core --force --state-dir '${odd.replace("'", "'\\''")}'`)
  })
})

describe('the lock hint of chainup upgrade says what works', () => {
  it('a stack locked from another host: check it, then `chainup unlock STACK --force`, then resume (it used to say only `chainup resume`, which is refused)', async () => {
    const stateDir = await lockedState('lab-stack', 'run-E', 4711, 'old-container')
    const r = await chainup(['upgrade', join(ROOT, 'inventories/lab.yml'), '--state-dir', stateDir], {CHAINUP_LAB_PASSWORD: 'Not-used-here'})
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('Error: stack lab-stack is being upgraded by run run-E (pid 4711 on old-container, since 2026-03-01T09:00:00.000Z)')
    expect(r.stderr).toContain(
      `Hint: chainup cannot check a process on old-container from here (if that was this host's name before a restart, e.g. of a container, the process is gone). Make sure pid 4711 on old-container no longer runs chainup, then run: chainup unlock lab-stack --force --state-dir ${stateDir}, then continue it with: chainup resume run-E --state-dir ${stateDir}`,
    )
    // following the hint works: unlock --force, then the lock is free
    expect((await chainup(['unlock', 'lab-stack', '--force', '--state-dir', stateDir])).code).toBe(0)
    const j = await openJournal(stateDir)
    expect(j.lockHolder('lab-stack')).toBeNull()
    j.close()
  })

  it('a holder whose run cannot be resumed: the hint says to start a new run instead', async () => {
    const stateDir = await lockedState('lab-stack', 'run-F', 4711, 'old-container')
    const j = await openJournal(stateDir)
    j.finishRun('run-F', 'completed', null)
    j.close()
    const r = await chainup(['upgrade', join(ROOT, 'inventories/lab.yml'), '--state-dir', stateDir], {CHAINUP_LAB_PASSWORD: 'Not-used-here'})
    expect(r.code).toBe(4)
    expect(r.stderr).toContain(`then run: chainup unlock lab-stack --force --state-dir ${stateDir}; run run-F already finished (completed), so start a new run afterwards`)
    expect(r.stderr).not.toContain('chainup resume')
  })
})
