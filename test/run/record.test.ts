/** run/record.ts: what a run records about its inputs in a real journal file (resume and estimates read it back). */
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {describe, expect, it} from 'vitest'

import {loadStack} from '../../src/config/load.js'
import {openJournal} from '../../src/journal/journal.js'
import {createRunRecord} from '../../src/run/record.js'

describe('createRunRecord', () => {
  it('records the inventory, the playbook and its platform, the inputs digest, pid and host in runConfig', async () => {
    const {inventory, playbook} = await loadStack(resolve(import.meta.dirname, '../../inventories/lab.yml'))
    const journal = await openJournal(mkdtempSync(join(tmpdir(), 'chainup-record-')))
    try {
      const devices = createRunRecord(journal, 'run-rec-1', inventory, playbook)
      expect(Object.keys(devices)).toEqual(inventory.devices.map((d) => d.name))
      const config = journal.events('run-rec-1').find((e) => e.type === 'runConfig')
      expect(config?.data).toMatchObject({inventory: inventory.file, playbook: playbook.file, platform: 'ios-xe', pid: process.pid})
      expect(String((config?.data as {inputs_sha256?: unknown}).inputs_sha256)).toMatch(/^[0-9a-f]{64}$/)
    } finally {
      journal.close()
    }
  })
})
