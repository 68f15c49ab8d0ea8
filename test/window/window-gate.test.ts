/**
 * The built-in `window` gate (src/run/window-gate.ts) without a lab: its decision at the boundaries, its reasons, the
 * estimate it uses, and what it journals (a real SQLite journal).
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {loadStack} from '../../src/config/load.js'
import type {DeviceEntry} from '../../src/config/types.js'
import {openJournal} from '../../src/journal/journal.js'
import {RunEvents} from '../../src/model/events.js'
import {timeoutBound} from '../../src/run/estimate.js'
import {estimateTask, runWindowGate, windowGate, type TaskEstimate} from '../../src/run/window-gate.js'
import type {Window} from '../../src/window/window.js'
import {ROOT} from '../helpers/lab-stack.js'

const M = 60_000
const H = 60 * M
const SATURDAY: Window = {cron: '0 2 * * 6', duration: 4 * H, timezone: 'Europe/Berlin'}
const OPENS = Date.parse('2026-11-28T01:00:00Z')
const CLOSES = OPENS + 4 * H
const sw3 = {name: 'sw3', host: '127.0.0.1', port: 22, remote: false} as DeviceEntry
const SIX_RUNS: TaskEstimate = {ms: 25 * M, basis: 'P95 of 6 past runs', source: 'history:device'}

describe('windowGate', () => {
  it('vetoes when the time left does not cover the estimate, naming both and the close', () => {
    const parked: unknown[] = []
    const gate = windowGate({window: SATURDAY, now: () => new Date(CLOSES - 12 * M), estimate: () => SIX_RUNS, onPark: (d, data) => parked.push({d, ...data})})
    expect(gate(sw3)).toEqual({
      type: 'before',
      name: 'window',
      device: 'sw3',
      decision: 'veto',
      reason: '12m left in the maintenance window (closes 2026-11-28T06:00:00+01:00), sw3 needs an estimated 25m (P95 of 6 past runs)',
    })
    expect(parked).toEqual([
      {d: 'sw3', remaining_ms: 12 * M, estimate_ms: 25 * M, estimate_source: 'history:device', closes_at: '2026-11-28T05:00:00.000Z', next_opens_at: '2026-12-05T01:00:00.000Z'},
    ])
  })

  it('allows when the time left covers the estimate exactly, and asks the clock once per device', () => {
    let calls = 0
    const gate = windowGate({
      window: SATURDAY,
      now: () => {
        calls++
        return new Date(CLOSES - 25 * M)
      },
      estimate: () => SIX_RUNS,
      onPark: () => {
        throw new Error('not parked')
      },
    })
    expect(gate(sw3)).toMatchObject({decision: 'allow', reason: '25m left in the maintenance window (closes 2026-11-28T06:00:00+01:00), sw3 needs an estimated 25m (P95 of 6 past runs)'})
    expect(calls).toBe(1)
    expect(windowGate({window: SATURDAY, now: () => new Date(CLOSES - 25 * M + 1), estimate: () => SIX_RUNS})(sw3).decision).toBe('veto')
  })

  it('vetoes outside the window, naming the next opening in the window time zone', () => {
    const gate = windowGate({window: SATURDAY, now: () => new Date(CLOSES), estimate: () => SIX_RUNS})
    expect(gate(sw3)).toMatchObject({decision: 'veto', reason: 'outside the maintenance window (next opens 2026-12-05T02:00:00+01:00), sw3 needs an estimated 25m (P95 of 6 past runs)'})
  })
})

describe('runWindowGate and estimateTask with a journal', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
  })

  async function setup(window: string) {
    const dir = mkdtempSync(join(tmpdir(), 'chainup-window-gate-'))
    dirs.push(dir)
    const file = join(dir, 'stack.yml')
    writeFileSync(
      file,
      `stack: gate-stack
playbook: ${join(ROOT, 'playbooks/ios-xe-install.yml')}
target: {version: "17.09.05", image: cat9k_iosxe.17.09.05.SPA.bin}
ssh: {username: netops, password_env: PW, known_hosts: ${join(ROOT, 'inventories/lab_known_hosts')}}
${window}
devices:
  - {name: sw1, host: 127.0.0.1, port: 10021}
`,
    )
    const {inventory, playbook} = await loadStack(file)
    const journal = await openJournal(join(dir, 'state'))
    journal.createRun({id: 'run-1', stack: 'gate-stack', devices: ['sw1'], target: inventory.target})
    const logs: string[] = []
    const events = new RunEvents()
    events.on('log', (l) => logs.push(`${l.level} ${l.device ?? '-'} ${l.message}`))
    return {inventory, playbook, journal, events, logs}
  }

  it('no window: no gate', async () => {
    const s = await setup('')
    try {
      expect(runWindowGate({...s, runId: 'run-1'})).toBeUndefined()
    } finally {
      s.journal.close()
    }
  })

  it('without history the estimate is the sum of the timeouts, and a veto is journaled as windowParked', async () => {
    const s = await setup('window: {cron: "0 2 * * 6", duration: PT4H, timezone: Europe/Berlin}')
    try {
      const device = s.inventory.devices[0]!
      expect(estimateTask(s.journal, s.inventory, s.playbook, device)).toEqual({ms: timeoutBound(s.inventory, s.playbook), basis: 'no past runs: the sum of its timeouts', source: 'timeouts'})
      const gate = runWindowGate({...s, runId: 'run-1', now: () => new Date(CLOSES - M)})!
      expect(gate(device)).toMatchObject({decision: 'veto', device: 'sw1'})
      const parked = s.journal.events('run-1').filter((e) => e.type === 'windowParked')
      expect(parked).toHaveLength(1)
      expect(parked[0]).toMatchObject({device: 'sw1', data: {remaining_ms: M, estimate_source: 'timeouts', next_opens_at: '2026-12-05T01:00:00.000Z'}})
      expect(s.logs).toEqual([expect.stringMatching(/^warn sw1 parked: not enough of the maintenance window left to start sw1; the next chainup upgrade of stack gate-stack inside a window \(next opens 2026-12-05T02:00:00\+01:00\) continues run run-1$/)])
    } finally {
      s.journal.close()
    }
  })

  it('--ignore-window: no gate, one windowIgnored event and a warning', async () => {
    const s = await setup('window: {cron: "0 2 * * 6", duration: PT4H, timezone: Europe/Berlin}')
    try {
      expect(runWindowGate({...s, runId: 'run-1', ignore: true, now: () => new Date(OPENS + H)})).toBeUndefined()
      expect(s.journal.events('run-1').filter((e) => e.type === 'windowIgnored').map((e) => e.data)).toEqual([{inside: true, next_opens_at: '2026-12-05T01:00:00.000Z'}])
      expect(s.logs).toEqual(['warn - --ignore-window: the maintenance window "0 2 * * 6" for 4h (Europe/Berlin) is not enforced for this run (inside it now)'])
    } finally {
      s.journal.close()
    }
  })
})
