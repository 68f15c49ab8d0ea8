/**
 * Issue #8 §3: another process holds the journal's write lock (a `sqlite3` shell left in a transaction, a backup
 * tool) for longer than the busy timeout. The journal write that then fails with SQLITE_BUSY stops the run safely —
 * the device in progress finishes its reload, no new device starts, a trap says the journal failed, and the result
 * comes out with the reason — instead of an exception killing the process mid-reload. The lock holder is a real
 * second process with its own SQLite connection; it is stopped by its pid.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {JOURNAL_FILE, openJournal} from '../../../src/journal/journal.js'
import {ChainupNotification, ChainupObject} from '../../../src/notify/oids.js'
import {installed, labStack, simEvents, type StackFixture} from '../../helpers/lab-stack.js'

/** Opens the journal in a second process and holds its write lock (BEGIN IMMEDIATE) until killed. */
const HOLDER = `
const db = require('better-sqlite3')(process.argv[1], {timeout: 60000})
db.exec('BEGIN IMMEDIATE')
process.stdout.write('locked\\n')
setInterval(() => {}, 1000)
`

describe('a journal locked by another process', () => {
  let fixture: StackFixture | undefined
  let holder: ChildProcess | undefined
  afterEach(async () => {
    if (holder?.pid !== undefined && holder.exitCode === null) process.kill(holder.pid, 'SIGKILL')
    holder = undefined
    await fixture?.stop()
    fixture = undefined
  })

  it('stops the run safely with SQLITE_BUSY as the reason, a trap and a result; no device is left mid-reload', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2'}, {name: 'sw3'}]})
    const stateDir = join(fixture.dir, 'state')
    ;(await openJournal(stateDir)).close()
    let locked: Promise<void> | undefined
    // While sw1 boots, another process takes the journal's write lock and keeps it.
    fixture.events.on('devicePhase', ({device, phase}) => {
      if (device !== 'sw1' || phase !== 'booting' || locked) return
      const child = spawn(process.execPath, ['-e', HOLDER, join(stateDir, JOURNAL_FILE)], {cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit']})
      holder = child
      locked = new Promise((resolve) => child.stdout!.once('data', () => resolve()))
    })
    const result = await fixture.run({stateDir, busyTimeoutMs: 200})
    expect(locked, 'the lock holder was started while sw1 reloaded').toBeDefined()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/journal write failed: .*(locked|SQLITE_BUSY)/i)
    const trap = await fixture.receiver.waitFor((t) => t.trapOid === ChainupNotification.chainupChainHalted, 5000)
    expect(trap.varbinds[ChainupObject.chainupReporter]).toBe('journal')
    // sw1 finished its reload and came back; nothing after it was installed.
    expect(installed(fixture)).toEqual(['sw1'])
    const sw1 = simEvents(fixture).filter((e) => e.device === 'sw1')
    expect(sw1.findLast((e) => e.type === 'down' || e.type === 'up')?.type).toBe('up')
  })
})
