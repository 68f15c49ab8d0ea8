/** src/model/status.ts is the one vocabulary: the journal's final statuses and docs/runs.md agree with it. */
import {readFileSync} from 'node:fs'
import {resolve} from 'node:path'

import {describe, expect, it} from 'vitest'

import {DeviceStatus, FINAL_STATUSES, RunStatus, StepStatus} from '../../src/model/status.js'

const runsDoc = readFileSync(resolve(import.meta.dirname, '../../docs/runs.md'), 'utf8')

describe('status vocabulary', () => {
  it('a run, device or step never ends in a transient status, and every finished one is final', () => {
    for (const transient of ['running', 'pending', 'rolling_back']) expect(FINAL_STATUSES.has(transient)).toBe(false)
    for (const status of Object.values(RunStatus).filter((s) => s !== 'running')) expect(FINAL_STATUSES.has(status)).toBe(true)
    for (const status of Object.values(StepStatus).filter((s) => s !== 'running')) expect(FINAL_STATUSES.has(status)).toBe(true)
    for (const status of ['upgraded', 'skipped', 'not_started', 'rolled_back', 'rollback_failed']) expect(FINAL_STATUSES.has(status)).toBe(true)
  })

  it('docs/runs.md "Statuses" names every status the journal stores', () => {
    const table = runsDoc.slice(runsDoc.indexOf('## Statuses'), runsDoc.indexOf('## Transactions'))
    const documented = new Set([...table.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]))
    // `remote` exists only in a result file (a device whose node ran elsewhere), never in the journal.
    const stored = [...Object.values(RunStatus), ...Object.values(DeviceStatus).filter((s) => s !== 'remote'), ...Object.values(StepStatus)]
    expect(stored.filter((s) => !documented.has(s))).toEqual([])
  })
})
