/**
 * What the journal reads back: `buildResult` (the DEC-002 ChainExecutionResult), `history`, and the operation-run
 * `tree` of a vetoed run (its order and own durations in detail: tree.test.ts).
 */
import {afterEach, describe, expect, expectTypeOf, it} from 'vitest'

import {InputError} from '../../src/errors.js'
import {openJournal, type Journal} from '../../src/journal/index.js'
import type {ChainExecutionResult} from '../../src/model/result.js'
import {manualClock, step, tmpState, type ManualClock} from './helpers.js'

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})
async function fresh(clock = manualClock()): Promise<{j: Journal; clock: ManualClock}> {
  const s = tmpState()
  const j = await openJournal(s.stateDir, {now: clock.now})
  cleanups.push(s.cleanup, () => j.close())
  return {j, clock}
}

/** sw1 upgrades, sw2 fails its install and the on_error gate vetoes, sw3 never starts. */
function vetoedRun(j: Journal, clock: ManualClock): {devices: Record<string, string>} {
  const {devices} = j.createRun({id: 'run-A', stack: 'core', devices: ['sw1', 'sw2', 'sw3'], target: {version: '17.9.5', image: 'cat9k.bin'}})
  clock.tick(100)
  j.recordGate('run-A', {type: 'before', name: 'change window', device: null, decision: 'allow', reason: 'inside the window'})
  step(j, clock, 'run-A', 'sw1', {name: 'check version', phase: 'readiness', command: 'show version', output: 'Version 17.9.4'})
  j.appendEvent('run-A', {type: 'nodeState', device: 'sw1', data: {state: 'WORKING'}})
  step(j, clock, 'run-A', 'sw1', {name: 'install', command: 'install add file flash:cat9k.bin activate commit', output: 'done', ms: 2000})
  step(j, clock, 'run-A', 'sw1', {name: 'wait for reload', phase: 'reboot', output: null, ms: 60_000, detail: {version_after: '17.9.5'}})
  j.recordGate('run-A', {type: 'after', name: 'ping', device: 'sw1', decision: 'allow', reason: '0% loss'})
  j.setStatus(devices.sw1!, 'upgraded', {version_before: '17.9.4'})
  step(j, clock, 'run-A', 'sw2', {name: 'check version', phase: 'readiness', command: 'show version', output: 'Version 17.9.4'})
  step(j, clock, 'run-A', 'sw2', {name: 'install', command: 'install add file flash:cat9k.bin activate commit', status: 'failed', output: '%Error', error: 'no space left', ms: 1500})
  j.recordGate('run-A', {type: 'on_error', name: 'stop on error', device: 'sw2', decision: 'veto', reason: 'exit 1'})
  j.setStatus(devices.sw2!, 'failed', {version_before: '17.9.4', version_after: '17.9.4'})
  j.appendEvent('run-A', {
    type: 'trap',
    device: 'sw2',
    data: {kind: 'chain_halted', reporter: 'sw2', reason: 'install failed', receivers: [{target: '127.0.0.1:162', ok: true}, {target: '10.9.9.9:162', ok: false, error: 'timeout'}]},
  })
  clock.tick(250)
  j.finishRun('run-A', 'vetoed', 'on_error gate "stop on error" vetoed: exit 1')
  return {devices}
}

describe('buildResult: the ChainExecutionResult from rows', () => {
  it('has exactly the DEC-002 shape: steps in start order, gates in order, devices in chain order, traps', async () => {
    const {j, clock} = await fresh()
    vetoedRun(j, clock)
    const r = j.buildResult('run-A')
    expectTypeOf(r).toEqualTypeOf<ChainExecutionResult>()
    const t0 = Date.parse('2026-03-01T10:00:00.000Z')
    const at = (ms: number) => new Date(t0 + ms).toISOString()
    expect(r).toEqual({
      execution_id: 'run-A',
      chain_id: 'core',
      status: 'vetoed',
      started_at: at(0),
      completed_at: at(100 + 1000 + 2000 + 60_000 + 1000 + 1500 + 250),
      duration_ms: 65_850,
      steps: [
        {order: 1, device: 'sw1', action: 'check version', status: 'completed', output: 'Version 17.9.4', error: null, phase: 'readiness', command: 'show version', started_at: at(100), duration_ms: 1000},
        {order: 2, device: 'sw1', action: 'install', status: 'completed', output: 'done', error: null, phase: 'upgrade', command: 'install add file flash:cat9k.bin activate commit', started_at: at(1100), duration_ms: 2000},
        {order: 3, device: 'sw1', action: 'wait for reload', status: 'completed', output: null, error: null, phase: 'reboot', command: null, started_at: at(3100), duration_ms: 60_000},
        {order: 4, device: 'sw2', action: 'check version', status: 'completed', output: 'Version 17.9.4', error: null, phase: 'readiness', command: 'show version', started_at: at(63_100), duration_ms: 1000},
        {order: 5, device: 'sw2', action: 'install', status: 'failed', output: '%Error', error: 'no space left', phase: 'upgrade', command: 'install add file flash:cat9k.bin activate commit', started_at: at(64_100), duration_ms: 1500},
      ],
      gates: [
        {type: 'before', name: 'change window', device: null, decision: 'allow', reason: 'inside the window'},
        {type: 'after', name: 'ping', device: 'sw1', decision: 'allow', reason: '0% loss'},
        {type: 'on_error', name: 'stop on error', device: 'sw2', decision: 'veto', reason: 'exit 1'},
      ],
      reason: 'on_error gate "stop on error" vetoed: exit 1',
      devices: [
        {name: 'sw1', status: 'upgraded', version_before: '17.9.4', version_after: '17.9.5'},
        {name: 'sw2', status: 'failed', version_before: '17.9.4', version_after: '17.9.4'},
        {name: 'sw3', status: 'not_started', version_before: null, version_after: null},
      ],
      traps: [{kind: 'chain_halted', reporter: 'sw2', reason: 'install failed', receivers: [{target: '127.0.0.1:162', ok: true}, {target: '10.9.9.9:162', ok: false, error: 'timeout'}]}],
    } satisfies ChainExecutionResult)
    // exactly the keys of the type, in the type's order (the JSON the CLI prints)
    expect(Object.keys(r)).toEqual(['execution_id', 'chain_id', 'status', 'started_at', 'completed_at', 'duration_ms', 'steps', 'gates', 'reason', 'devices', 'traps'])
  })

  it('survives a restart: a second process builds the same result from the file', async () => {
    const s = tmpState()
    cleanups.push(s.cleanup)
    const clock = manualClock()
    const j = await openJournal(s.stateDir, {now: clock.now})
    vetoedRun(j, clock)
    const first = j.buildResult('run-A')
    j.close()
    const again = await openJournal(s.stateDir)
    expect(again.buildResult('run-A')).toEqual(first)
    again.close()
  })

  it('refuses an unfinished run; reports a cancelled run as cancelled with its reason', async () => {
    const {j} = await fresh()
    j.createRun({id: 'r', stack: 's', devices: ['a'], target: {version: '1'}})
    expect(() => j.buildResult('r')).toThrow(expect.objectContaining({code: 'RUN_NOT_FINISHED'}))
    expect(() => j.buildResult('nope')).toThrow(expect.objectContaining({code: 'UNKNOWN_RUN'}))
    j.finishRun('r', 'cancelled', 'cancelled by the operator (SIGINT)')
    const r = j.buildResult('r')
    expect(r.status).toBe('cancelled')
    expect(r.reason).toBe('cancelled by the operator (SIGINT)')
    expect(r.devices).toEqual([{name: 'a', status: 'not_started', version_before: null, version_after: null}])
  })
})

describe('history', () => {
  async function fiveRuns() {
    const {j, clock} = await fresh()
    const plan: Array<[string, string, 'completed' | 'failed' | 'vetoed' | null]> = [
      ['r1', 'core', 'completed'],
      ['r2', 'edge', 'failed'],
      ['r3', 'core', 'vetoed'],
      ['r4', 'core', 'completed'],
      ['r5', 'edge', null],
    ]
    for (const [id, stack, status] of plan) {
      j.createRun({id, stack, devices: ['a', 'b'], target: {version: '2'}})
      clock.tick(90_000)
      if (status) j.finishRun(id, status, status === 'completed' ? null : 'because')
      clock.tick(3_600_000)
    }
    return j
  }

  it('lists runs newest first with their devices; a running run has no end yet', async () => {
    const j = await fiveRuns()
    const h = j.history()
    expect(h.runs.map((r) => r.execution_id)).toEqual(['r5', 'r4', 'r3', 'r2', 'r1'])
    expect({total: h.total, page: h.page, pages: h.pages}).toEqual({total: 5, page: 1, pages: 1})
    expect(h.runs[1]).toEqual({
      execution_id: 'r4',
      chain_id: 'core',
      status: 'completed',
      started_at: '2026-03-01T13:04:30.000Z',
      completed_at: '2026-03-01T13:06:00.000Z',
      duration_ms: 90_000,
      devices: [
        {name: 'a', status: 'not_started'},
        {name: 'b', status: 'not_started'},
      ],
    })
    expect(h.runs[0]).toMatchObject({execution_id: 'r5', status: 'running', completed_at: null, duration_ms: null})
  })

  it('filters by stack and by status', async () => {
    const j = await fiveRuns()
    expect(j.history({stack: 'core'}).runs.map((r) => r.execution_id)).toEqual(['r4', 'r3', 'r1'])
    expect(j.history({status: 'completed'}).runs.map((r) => r.execution_id)).toEqual(['r4', 'r1'])
    expect(j.history({stack: 'edge', status: 'failed'})).toMatchObject({total: 1, pages: 1, runs: [{execution_id: 'r2'}]})
    expect(j.history({stack: 'nowhere'})).toEqual({runs: [], total: 0, page: 1, pages: 0})
  })

  it('pages: limit and page, total and pages count the whole filter', async () => {
    const j = await fiveRuns()
    const page = (n: number) => j.history({limit: 2, page: n})
    expect(page(1)).toMatchObject({total: 5, page: 1, pages: 3})
    expect(page(1).runs.map((r) => r.execution_id)).toEqual(['r5', 'r4'])
    expect(page(2).runs.map((r) => r.execution_id)).toEqual(['r3', 'r2'])
    expect(page(3).runs.map((r) => r.execution_id)).toEqual(['r1'])
    expect(page(4).runs).toEqual([])
    expect(() => j.history({limit: 0})).toThrow(InputError)
    expect(() => j.history({limit: 1001})).toThrow(expect.objectContaining({code: 'HISTORY_QUERY_INVALID', exitCode: 2}))
    expect(() => j.history({page: 0})).toThrow(InputError)
  })

  it('runs started in the same millisecond: the later one is newer', async () => {
    const {j} = await fresh()
    j.createRun({id: 'first', stack: 's', devices: [], target: {version: '1'}})
    j.createRun({id: 'second', stack: 's', devices: [], target: {version: '1'}})
    expect(j.history().runs.map((r) => r.execution_id)).toEqual(['second', 'first'])
  })
})

describe('tree', () => {
  it('nests run → devices (chain order) → steps (start order) with statuses, durations and gates where they apply', async () => {
    const {j, clock} = await fresh()
    const {devices} = vetoedRun(j, clock)
    const t = j.tree('run-A')
    expect(t).toMatchObject({id: 'run-A', kind: 'run', name: 'core', device: null, status: 'vetoed', duration_ms: 65_850})
    expect(t.gates).toEqual([{type: 'before', name: 'change window', device: null, decision: 'allow', reason: 'inside the window', at: '2026-03-01T10:00:00.100Z', seq: 2}])
    expect(t.children.map((c) => [c.id, c.kind, c.name, c.status])).toEqual([
      [devices.sw1, 'device', 'sw1', 'upgraded'],
      [devices.sw2, 'device', 'sw2', 'failed'],
      [devices.sw3, 'device', 'sw3', 'not_started'],
    ])
    const [sw1, sw2, sw3] = t.children as [typeof t, typeof t, typeof t]
    expect(sw1.gates.map((g) => g.name)).toEqual(['ping'])
    expect(sw2.gates.map((g) => [g.name, g.decision])).toEqual([['stop on error', 'veto']])
    expect(sw1.children.map((s) => [s.kind, s.name, s.status, s.duration_ms])).toEqual([
      ['step', 'check version', 'completed', 1000],
      ['step', 'install', 'completed', 2000],
      ['step', 'wait for reload', 'completed', 60_000],
    ])
    expect(sw1.duration_ms).toBe(63_000)
    expect(sw2.children.map((s) => s.status)).toEqual(['completed', 'failed'])
    expect(sw3).toMatchObject({started_at: null, duration_ms: null, children: []})
    expect(sw1.children[0]!.children).toEqual([])
    expect(() => j.tree('nope')).toThrow(expect.objectContaining({code: 'UNKNOWN_RUN'}))
  })
})
