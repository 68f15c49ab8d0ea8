/**
 * `Journal.tree` against a real SQLite journal: each node's own duration, gates placed where they happened
 * (`treeTimeline`), in the order the journal's sequence gives even when timestamps tie.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {openJournal, treeTimeline, type Journal, type TreeNode} from '../../src/journal/index.js'
import {chainRun, manualClock, step, tmpState, type ManualClock} from './helpers.js'

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

const t0 = Date.parse('2026-03-01T10:00:00.000Z')
const at = (ms: number) => new Date(t0 + ms).toISOString()

/** A node's timeline as short labels: `gate TYPE NAME` or the child's name. */
const labels = (n: TreeNode) => treeTimeline(n).map((i) => (i.kind === 'gate' ? `gate ${i.gate.type} ${i.gate.name}` : i.node.name))

describe('tree: the order things happened', () => {
  it("lists a device's steps and gates as they happened: a gate after the step it judged, before the steps after it", async () => {
    const {j, clock} = await fresh()
    chainRun(j, clock)
    const t = j.tree('run-T')
    const [sw1, sw2, sw3] = t.children as [TreeNode, TreeNode, TreeNode]
    expect(labels(sw1)).toEqual(['facts', 'gate before maintenance mode', 'install', 'wait for reload', 'verify version', 'gate after ping'])
    expect(labels(sw2)).toEqual(['facts', 'gate before maintenance mode', 'install', 'wait for reload', 'verify version', 'gate after ping'])
    expect(labels(sw3)).toEqual(['facts', 'gate before maintenance mode', 'install', 'gate on_error go on'])
  })

  it('puts stack-wide gates around the devices: a before gate ahead of them, a final gate after them; devices stay in chain order', async () => {
    const {j, clock} = await fresh()
    chainRun(j, clock)
    expect(labels(j.tree('run-T'))).toEqual(['gate before change window', 'sw1', 'sw2', 'sw3', 'gate final notify'])
  })

  it('gives gates the time they were decided and every node its place in the journal (seq), which orders ties', async () => {
    const {j, clock} = await fresh()
    chainRun(j, clock)
    const t = j.tree('run-T')
    const sw1 = t.children[0]!
    const gate = sw1.gates[0]!
    const install = sw1.children[1]!
    // sw1's before gate and its install share a millisecond; the journal's sequence says the gate came first
    expect(gate).toEqual({type: 'before', name: 'maintenance mode', device: 'sw1', decision: 'allow', reason: 'set', at: at(350), seq: expect.any(Number)})
    expect(install).toMatchObject({name: 'install', started_at: at(350)})
    expect(gate.seq).toBeLessThan(install.seq!)
    expect(sw1.children[0]!.seq).toBeLessThan(gate.seq)
    expect(t.seq).toBe(1)
    expect(sw1.seq).toBe(sw1.children[0]!.seq)
    const events = j.events('run-T')
    expect(events.find((e) => e.seq === gate.seq)).toMatchObject({type: 'journal.gate', device: 'sw1', at: at(350)})
    expect(events.find((e) => e.seq === install.seq)).toMatchObject({type: 'journal.step_started', operation_run_id: install.id})
  })

  it('a device that never started has no seq and no duration, and the gates still find their place', async () => {
    const {j, clock} = await fresh()
    j.createRun({id: 'r', stack: 's', devices: ['a', 'b'], target: {version: '2'}})
    clock.tick(10)
    j.recordGate('r', {type: 'before', name: 'window', device: null, decision: 'veto', reason: 'closed'})
    clock.tick(10)
    j.finishRun('r', 'vetoed', 'before gate "window" vetoed: closed')
    const t = j.tree('r')
    expect(t.children.map((d) => [d.name, d.status, d.seq, d.duration_ms])).toEqual([
      ['a', 'not_started', null, null],
      ['b', 'not_started', null, null],
    ])
    expect(labels(t)).toEqual(['gate before window', 'a', 'b'])
  })
})

describe('tree: each node its own duration', () => {
  it('a device: the time it was worked on (its steps and gates), not the time since its readiness at the start of the run', async () => {
    const {j, clock} = await fresh()
    chainRun(j, clock)
    const t = j.tree('run-T')
    expect(t.duration_ms).toBe(8000)
    expect(t.children.map((d) => [d.name, d.started_at, d.finished_at, d.duration_ms])).toEqual([
      ['sw1', at(100), at(3900), 3800],
      ['sw2', at(100), at(7450), 3800],
      ['sw3', at(100), at(7800), 600],
    ])
    expect(t.children[1]!.children.map((s) => [s.name, s.duration_ms])).toEqual([
      ['facts', 200],
      ['install', 300],
      ['wait for reload', 3000],
      ['verify version', 100],
    ])
  })

  it('a rolled-back device: the wait for the backward wave is not its time either', async () => {
    const {j, clock} = await fresh()
    const {devices} = j.createRun({id: 'r', stack: 's', devices: ['a', 'b'], target: {version: '2'}})
    step(j, clock, 'r', 'a', {name: 'install', ms: 400})
    j.setStatus(devices.a!, 'upgraded', {version_before: '1', version_after: '2'})
    step(j, clock, 'r', 'b', {name: 'install', status: 'failed', error: 'boom', ms: 5000})
    j.setStatus(devices.b!, 'failed')
    clock.tick(2000)
    j.setStatus(devices.a!, 'rolling_back')
    expect(j.tree('r').children[0]!.duration_ms).toBeNull()
    step(j, clock, 'r', 'a', {name: 'reinstall previous', phase: 'rollback', ms: 700})
    j.setStatus(devices.a!, 'rolled_back', {version_after: '1'})
    j.finishRun('r', 'failed', 'b failed; rolled back a')
    const [a, b] = j.tree('r').children as [TreeNode, TreeNode]
    expect([a.status, a.duration_ms, a.finished_at]).toEqual(['rolled_back', 1100, at(8100)])
    expect([b.status, b.duration_ms]).toEqual(['failed', 5000])
  })

  it('a run in progress: what has not finished has no duration yet', async () => {
    const {j, clock} = await fresh()
    j.createRun({id: 'r', stack: 's', devices: ['a'], target: {version: '2'}})
    step(j, clock, 'r', 'a', {name: 'facts', phase: 'readiness', ms: 100})
    j.startStep('r', 'a', {name: 'install', phase: 'upgrade', command: null})
    clock.tick(300)
    const t = j.tree('r')
    expect([t.status, t.duration_ms]).toEqual(['running', null])
    expect([t.children[0]!.status, t.children[0]!.duration_ms]).toEqual(['running', null])
    expect(t.children[0]!.children.map((s) => [s.name, s.status, s.duration_ms])).toEqual([
      ['facts', 'completed', 100],
      ['install', 'running', null],
    ])
  })
})
