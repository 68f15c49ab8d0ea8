import {describe, expect, it} from 'vitest'

import {initialRound, NodeState, transition, type RoundEvent, type RoundSnapshot} from '../../src/protocol/state-machine.js'

const head = () => initialRound({hasPredecessor: false, hasSuccessor: true, extensions: true})
const middle = () => initialRound({hasPredecessor: true, hasSuccessor: true, extensions: true})
const tail = () => initialRound({hasPredecessor: true, hasSuccessor: false, extensions: true})

function run(s: RoundSnapshot, ...events: RoundEvent[]) {
  const actions = []
  for (const e of events) {
    const t = transition(s, e)
    s = t.snapshot
    actions.push(...t.actions)
  }
  return {s, actions}
}

const recv = (from: 'predecessor' | 'successor', command: 'READY' | 'START' | 'COMPLETE' | 'EXECUTING'): RoundEvent => ({type: 'received', from, command})

describe('ChainSync state machine (draft §4, §6)', () => {
  it('Head: SYNC → READY when locally ready, sends READY (§6.1)', () => {
    const {s, actions} = run(head(), {type: 'locallyReady'})
    expect(s.state).toBe(NodeState.READY)
    expect(actions).toEqual([{type: 'send', to: 'successor', command: 'READY'}])
  })

  it('middle: needs both READY from the predecessor and local readiness, in either order (§6.1)', () => {
    const a = run(middle(), recv('predecessor', 'READY'))
    expect(a.s.state).toBe(NodeState.SYNC)
    expect(run(a.s, {type: 'locallyReady'}).s.state).toBe(NodeState.READY)
    const b = run(middle(), {type: 'locallyReady'})
    expect(b.s.state).toBe(NodeState.SYNC)
    expect(b.actions).toEqual([])
    expect(run(b.s, recv('predecessor', 'READY')).s.state).toBe(NodeState.READY)
  })

  it('Tail: entering READY sends START back and moves to WATCH (§6.2)', () => {
    const {s, actions} = run(tail(), recv('predecessor', 'READY'), {type: 'locallyReady'})
    expect(s.state).toBe(NodeState.WATCH)
    expect(actions).toEqual([{type: 'send', to: 'predecessor', command: 'START'}])
  })

  it('middle: START from the successor is passed on, node watches (§6.2); COMPLETE from the predecessor starts it (§6.3)', () => {
    let {s, actions} = run(middle(), recv('predecessor', 'READY'), {type: 'locallyReady'}, recv('successor', 'START'))
    expect(s.state).toBe(NodeState.WATCH)
    expect(actions.at(-1)).toEqual({type: 'send', to: 'predecessor', command: 'START'})
    ;({s, actions} = run(s, recv('predecessor', 'EXECUTING'), recv('predecessor', 'COMPLETE')))
    expect(s.state).toBe(NodeState.START)
    expect(actions).toEqual([
      {type: 'watchPredecessor'},
      {type: 'unwatchPredecessor'},
      {type: 'send', to: 'successor', command: 'EXECUTING'},
      {type: 'startTask'},
    ])
  })

  it('Head: START from the successor starts the task at once (§6.2)', () => {
    const {s, actions} = run(head(), {type: 'locallyReady'}, recv('successor', 'START'))
    expect(s.state).toBe(NodeState.START)
    expect(actions.slice(1)).toEqual([{type: 'send', to: 'successor', command: 'EXECUTING'}, {type: 'startTask'}])
  })

  it('exit wave: Tail sends COMPLETE back and exits; middle passes it; Head learns the chain is done (§6.4)', () => {
    const t = run(tail(), recv('predecessor', 'READY'), {type: 'locallyReady'}, recv('predecessor', 'COMPLETE'), {type: 'taskFinished'})
    expect(t.s.exited).toBe(true)
    expect(t.actions.slice(-2)).toEqual([{type: 'send', to: 'predecessor', command: 'COMPLETE'}, {type: 'exit', chainDone: false}])
    const m = run(middle(), recv('predecessor', 'READY'), {type: 'locallyReady'}, recv('successor', 'START'), recv('predecessor', 'COMPLETE'), {type: 'taskFinished'})
    expect(m.s.state).toBe(NodeState.COMPLETE)
    expect(m.actions.at(-1)).toEqual({type: 'send', to: 'successor', command: 'COMPLETE'})
    const m2 = run(m.s, recv('successor', 'COMPLETE'))
    expect(m2.actions).toEqual([{type: 'send', to: 'predecessor', command: 'COMPLETE'}, {type: 'exit', chainDone: false}])
    const h = run(head(), {type: 'locallyReady'}, recv('successor', 'START'), {type: 'taskFinished'}, recv('successor', 'COMPLETE'))
    expect(h.actions.at(-1)).toEqual({type: 'exit', chainDone: true})
  })

  it('a chain of one node starts as soon as it is ready and exits when its task is done', () => {
    const solo = initialRound({hasPredecessor: false, hasSuccessor: false, extensions: true})
    const {s, actions} = run(solo, {type: 'locallyReady'}, {type: 'taskFinished'})
    expect(actions).toEqual([{type: 'startTask'}, {type: 'exit', chainDone: true}])
    expect(s.exited).toBe(true)
  })

  it('without extensions the successor arms its predecessor clock on entering WATCH and sends no EXECUTING', () => {
    const m = initialRound({hasPredecessor: true, hasSuccessor: true, extensions: false})
    const {actions} = run(m, recv('predecessor', 'READY'), {type: 'locallyReady'}, recv('successor', 'START'), recv('predecessor', 'COMPLETE'))
    expect(actions).toContainEqual({type: 'watchPredecessor'})
    expect(actions.filter((a) => a.type === 'send' && a.command === 'EXECUTING')).toEqual([])
  })

  // Every (state, illegal message) pair: a violation, and the snapshot is unchanged.
  const illegal: Array<[string, () => RoundSnapshot, RoundEvent]> = [
    ['START before READY (middle in SYNC)', middle, recv('successor', 'START')],
    ['READY from the successor', middle, recv('successor', 'READY')],
    ['START from the predecessor', middle, recv('predecessor', 'START')],
    ['COMPLETE from the predecessor in SYNC', middle, recv('predecessor', 'COMPLETE')],
    ['COMPLETE from the successor in SYNC', middle, recv('successor', 'COMPLETE')],
    ['EXECUTING outside WATCH', middle, recv('predecessor', 'EXECUTING')],
    ['anything from a predecessor the Head does not have', head, recv('predecessor', 'READY')],
    ['anything from a successor the Tail does not have', tail, recv('successor', 'COMPLETE')],
    ['a second READY', () => run(middle(), recv('predecessor', 'READY')).s, recv('predecessor', 'READY')],
    ['START twice', () => run(middle(), recv('predecessor', 'READY'), {type: 'locallyReady'}, recv('successor', 'START')).s, recv('successor', 'START')],
    ['ABORT from a missing neighbour', head, {type: 'receivedAbort', from: 'predecessor', reason: 'x'}],
  ]
  for (const [name, make, event] of illegal) {
    it(`refuses ${name} without changing state`, () => {
      const s = make()
      const t = transition(s, event)
      expect(t.snapshot).toEqual(s)
      expect(t.actions).toHaveLength(1)
      expect(t.actions[0]!.type).toBe('violation')
    })
  }

  it('a local abort sends ABORT both ways once, and ignores everything after', () => {
    const s = run(middle(), recv('predecessor', 'READY')).s
    const a = run(s, {type: 'abort', reason: 'veto'})
    expect(a.actions).toEqual([
      {type: 'sendAbort', to: 'predecessor', reason: 'veto'},
      {type: 'sendAbort', to: 'successor', reason: 'veto'},
      {type: 'unwatchPredecessor'},
      {type: 'halted', reason: 'veto', origin: 'local'},
    ])
    expect(run(a.s, {type: 'abort', reason: 'again'}, {type: 'locallyReady'}).actions).toEqual([])
  })

  it('an ABORT from a neighbour is passed on to the other side only', () => {
    const a = run(middle(), {type: 'receivedAbort', from: 'successor', reason: 'timeout'})
    expect(a.actions).toEqual([
      {type: 'sendAbort', to: 'predecessor', reason: 'timeout'},
      {type: 'unwatchPredecessor'},
      {type: 'halted', reason: 'timeout', origin: 'successor'},
    ])
  })
})
