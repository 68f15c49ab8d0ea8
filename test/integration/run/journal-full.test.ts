/**
 * Issue #8 §3: a journal that cannot write any more (a full disk: a tiny tmpfs under the state directory) stops the
 * run safely — no new device starts, the device in progress finishes its reload, a chainupChainHalted trap says the
 * journal failed, and the result still comes out with the reason — instead of an exception killing the process
 * mid-reload. Needs root (mount); skips with a message otherwise.
 */
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, statfsSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {openJournal} from '../../../src/journal/journal.js'
import {ChainupNotification, ChainupObject} from '../../../src/notify/oids.js'
import {installed, labStack, simEvents, type StackFixture} from '../../helpers/lab-stack.js'

const root = process.getuid?.() === 0
if (!root) console.warn('journal-full test skipped: mounting a tmpfs needs root (CI runs as root)')

describe.skipIf(!root)('a full disk under the journal', () => {
  const mnt = mkdtempSync(join(tmpdir(), 'chainup-full-'))
  let fixture: StackFixture | undefined
  beforeAll(() => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', mnt])
  })
  afterEach(async () => {
    await fixture?.stop()
    fixture = undefined
  })
  afterAll(() => {
    execFileSync('umount', ['-l', mnt])
    rmSync(mnt, {recursive: true, force: true})
  })

  it('stops the run safely with the reason, a trap, and a result; no device is left mid-reload or reloaded after it', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}, {name: 'sw2'}, {name: 'sw3'}, {name: 'sw4'}]})
    const stateDir = join(mnt, 'state')
    ;(await openJournal(stateDir)).close()
    // Leave the journal room for its start and some steps, not for the whole run.
    const free = statfsSync(mnt).bavail * statfsSync(mnt).bsize
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, free - 1600 * 1024)))
    const result = await fixture.run({stateDir})
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/journal write failed: .*(full|SQLITE_FULL)/i)
    // A trap names the journal as the reporter.
    const trap = await fixture.receiver.waitFor((t) => t.trapOid === ChainupNotification.chainupChainHalted, 5000)
    expect(trap.varbinds[ChainupObject.chainupReporter]).toBe('journal')
    expect(String(trap.varbinds[ChainupObject.chainupReason])).toMatch(/journal write failed/)
    // At most the device in progress when the journal failed was upgraded after it; none twice; none left down.
    const installs = installed(fixture)
    expect(new Set(installs).size).toBe(installs.length)
    const events = simEvents(fixture)
    for (const name of new Set(installs)) {
      const own = events.filter((e) => e.device === name)
      expect(own.findLast((e) => e.type === 'down' || e.type === 'up')?.type, `${name} came back`).toBe('up')
    }
    const upgradedAfterFailure = result.devices.filter((d) => d.status === 'upgraded').length
    expect(upgradedAfterFailure).toBe(installs.length)
  })
})
