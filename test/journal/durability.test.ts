/**
 * Selective durability (issue #12, docs/journal.md "Durability"): the journal connection runs with
 * synchronous=NORMAL (a commit survives a crash of chainup), and the writes that must survive a power loss too —
 * reload fences, stack locks, a device's outcome with its COMPLETE (Journal.transaction), a run's start and end —
 * commit with synchronous=FULL. Checked on a real SQLite file by reading the pragma inside and outside.
 */
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {openDatabase} from '../../src/journal/open.js'
import {JournalStore} from '../../src/journal/store.js'

const FULL = 2
const NORMAL = 1

describe('journal durability', () => {
  it('NORMAL by default, FULL inside durable(), back to NORMAL after it (also when it throws); nested durable() leaves it to the outer commit', async () => {
    const {db, Database, file} = await openDatabase(mkdtempSync(join(tmpdir(), 'chainup-durable-')), {})
    const store = new JournalStore(db, Database, file, {})
    try {
      const level = () => db.pragma('synchronous', {simple: true})
      expect(level()).toBe(NORMAL)
      expect(store.durable(level)).toBe(FULL)
      expect(level()).toBe(NORMAL)
      expect(() => store.durable(() => {
        throw new Error('boom')
      })).toThrow('boom')
      expect(level()).toBe(NORMAL)
      // Inside an open transaction the pragma cannot change: the outer (durable) commit decides.
      expect(store.durable(() => store.transaction(() => store.durable(level)))).toBe(FULL)
      expect(level()).toBe(NORMAL)
    } finally {
      db.close()
    }
  })
})
