import {describe, expect, it} from 'vitest'

import {fleetExitCode, outsideWindow} from '../../src/cli/fleet.js'
import type {Inventory} from '../../src/config/types.js'

const inventory = (window?: Inventory['window']) => ({stack: 's', ...(window ? {window} : {})}) as unknown as Inventory

describe('a fleet stack and its maintenance window', () => {
  const saturday2am = {cron: '0 2 * * 6', duration: 4 * 3600_000, timezone: 'UTC'}
  it('is not started outside its window, with when the next one opens', () => {
    expect(outsideWindow(inventory(saturday2am), new Date('2026-11-25T12:00:00Z'))).toBe('not started: outside the maintenance window; next window opens at 2026-11-28T02:00:00+00:00')
  })
  it('starts inside its window or without one', () => {
    expect(outsideWindow(inventory(saturday2am), new Date('2026-11-28T03:00:00Z'))).toBeNull()
    expect(outsideWindow(inventory(), new Date('2026-11-25T12:00:00Z'))).toBeNull()
  })
  it('maps the fleet status to the exit code', () => {
    expect(['completed', 'failed', 'vetoed', 'cancelled'].map((s) => fleetExitCode(s as 'completed'))).toEqual([0, 1, 3, 130])
  })
})
