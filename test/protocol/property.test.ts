/**
 * Property-based conformance of ChainSync (draft-dohmeyer-chainsync-03 §1, §6): the pure state machine under an
 * adversarial scheduler, n = 2…50. Real nodes over TCP with randomly delayed writes:
 * test/integration/protocol/property-tcp.test.ts.
 */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {initialRound, NodeState, transition, type RoundAction, type RoundEvent, type RoundSnapshot, type Side} from '../../src/protocol/state-machine.js'
import {prng} from './support/prng.js'

type Wire = 'READY' | 'START' | 'COMPLETE' | 'EXECUTING'

interface SimResult {
  /** Problems found (empty = every property held). */
  problems: string[]
  draftSends: number
  executingSends: number
  steps: number
}

/**
 * Simulates one round of `n` nodes over the pure `transition`. Each directed link is a FIFO queue (TCP);
 * the scheduler picks, at every step, one enabled event at random: deliver the head of any non-empty link,
 * make any not-yet-ready node locally ready, or finish any task whose random duration (in steps) has elapsed.
 * `readyBias` is the probability of preferring a readiness event when one is enabled (varies how readiness
 * interleaves with the waves). Properties are checked as the run goes.
 */
function simulate(n: number, extensions: boolean, seed: number, readyBias: number, durations: readonly number[], step: typeof transition = transition): SimResult {
  const rand = prng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  const snaps: RoundSnapshot[] = Array.from({length: n}, (_, i) => initialRound({hasPredecessor: i > 0, hasSuccessor: i < n - 1, extensions}))
  // fwd[i]: i → i+1 (arrives "from predecessor"); bwd[i]: i+1 → i (arrives "from successor").
  const fwd: Wire[][] = Array.from({length: n - 1}, () => [])
  const bwd: Wire[][] = Array.from({length: n - 1}, () => [])
  const ready = new Set<number>()
  const started: number[] = []
  const finished = new Set<number>()
  const running = new Map<number, number>() // node → steps left
  const exited: Array<boolean | undefined> = Array.from({length: n}, () => undefined) // chainDone per exit
  const watches = Array.from({length: n}, () => 0)
  const problems: string[] = []
  let draftSends = 0
  let executingSends = 0

  const apply = (i: number, event: RoundEvent) => {
    const {snapshot, actions} = step(snaps[i]!, event)
    snaps[i] = snapshot
    for (const a of actions) perform(i, a)
  }
  const perform = (i: number, a: RoundAction) => {
    switch (a.type) {
      case 'send': {
        if (a.command === 'EXECUTING') executingSends++
        else draftSends++
        const queue = a.to === 'successor' ? fwd[i] : bwd[i - 1]
        if (!queue) problems.push(`node ${i} sent ${a.command} to a missing ${a.to}`)
        else queue.push(a.command)
        break
      }
      case 'startTask': {
        if (ready.size !== n) problems.push(`node ${i} started with only ${ready.size}/${n} nodes locally ready`)
        if (i !== started.length) problems.push(`node ${i} started as task #${started.length}`)
        if (i > 0 && !finished.has(i - 1)) problems.push(`node ${i} started before node ${i - 1} finished`)
        started.push(i)
        running.set(i, durations[i % durations.length] ?? 0)
        break
      }
      case 'exit':
        if (exited[i] !== undefined) problems.push(`node ${i} exited twice`)
        exited[i] = a.chainDone
        break
      case 'watchPredecessor':
        watches[i]!++
        break
      case 'unwatchPredecessor':
        break
      case 'sendAbort':
      case 'halted':
      case 'violation':
        problems.push(`node ${i}: unexpected ${a.type} ${JSON.stringify(a)}`)
        break
    }
  }

  let steps = 0
  for (; steps < 100_000; steps++) {
    type Choice = {kind: 'deliver'; link: number; dir: 'fwd' | 'bwd'} | {kind: 'ready'; node: number} | {kind: 'finish'; node: number}
    const readies: Choice[] = []
    const others: Choice[] = []
    for (let i = 0; i < n; i++) if (!ready.has(i)) readies.push({kind: 'ready', node: i})
    for (let l = 0; l < n - 1; l++) {
      if (fwd[l]!.length > 0) others.push({kind: 'deliver', link: l, dir: 'fwd'})
      if (bwd[l]!.length > 0) others.push({kind: 'deliver', link: l, dir: 'bwd'})
    }
    for (const [node, left] of running) if (left <= 0) others.push({kind: 'finish', node})
    if (readies.length === 0 && others.length === 0) {
      if (running.size === 0) break
      // Only tasks are running: let time pass until the first one is done.
      const min = Math.min(...running.values())
      for (const [node, left] of running) running.set(node, left - min)
      continue
    }
    const choice = readies.length > 0 && (others.length === 0 || rand() < readyBias) ? pick(readies) : pick(others)
    for (const [node, left] of running) running.set(node, left - 1)
    switch (choice.kind) {
      case 'ready':
        ready.add(choice.node)
        apply(choice.node, {type: 'locallyReady'})
        break
      case 'finish':
        running.delete(choice.node)
        finished.add(choice.node)
        apply(choice.node, {type: 'taskFinished'})
        break
      case 'deliver': {
        const queue = choice.dir === 'fwd' ? fwd[choice.link]! : bwd[choice.link]!
        const command = queue.shift()!
        const to = choice.dir === 'fwd' ? choice.link + 1 : choice.link
        const from: Side = choice.dir === 'fwd' ? 'predecessor' : 'successor'
        apply(to, {type: 'received', from, command})
        break
      }
    }
  }

  if (started.length !== n) problems.push(`only ${started.length}/${n} tasks started`)
  for (let i = 0; i < n; i++) {
    if (exited[i] === undefined) problems.push(`node ${i} did not exit`)
    else if (exited[i] !== (i === 0)) problems.push(`node ${i} exit chainDone=${exited[i]}`)
    if (snaps[i]!.state !== NodeState.COMPLETE || !snaps[i]!.exited || snaps[i]!.aborted !== undefined) problems.push(`node ${i} ended in ${JSON.stringify(snaps[i])}`)
    // The predecessor timeout is armed exactly once per non-Head node (on EXECUTING, or on entering WATCH without extensions).
    if (watches[i] !== (i === 0 ? 0 : 1)) problems.push(`node ${i} armed its predecessor watch ${watches[i]} times`)
  }
  if (draftSends !== 4 * (n - 1)) problems.push(`${draftSends} READY/START/COMPLETE sends, expected ${4 * (n - 1)}`)
  if (executingSends !== (extensions ? n - 1 : 0)) problems.push(`${executingSends} EXECUTING sends with extensions ${extensions}`)
  if ([...fwd, ...bwd].some((q) => q.length > 0)) problems.push('messages left in flight')
  return {problems, draftSends, executingSends, steps}
}

describe('property: the pure state machine under any FIFO-per-link schedule (draft §6)', () => {
  const round = fc.record({
    n: fc.integer({min: 2, max: 50}),
    extensions: fc.boolean(),
    seed: fc.noShrink(fc.integer()),
    readyBias: fc.double({min: 0.02, max: 1, noNaN: true}),
    durations: fc.array(fc.nat({max: 40}), {minLength: 1, maxLength: 50}),
  })

  it('orders tasks Head→Tail after the readiness barrier, exits every node, and sends exactly 4(n-1) draft messages (300 schedules)', () => {
    let maxSteps = 0
    fc.assert(
      fc.property(round, ({n, extensions, seed, readyBias, durations}) => {
        const r = simulate(n, extensions, seed, readyBias, durations)
        maxSteps = Math.max(maxSteps, r.steps)
        expect(r.problems).toEqual([])
      }),
      {numRuns: 300},
    )
    expect(maxSteps).toBeGreaterThan(0)
  })

  it.each([true, false])('holds at both ends of the size range with extensions=%s (n = 2 and n = 50, 50 schedules each)', (extensions) => {
    fc.assert(
      fc.property(fc.constantFrom(2, 50), fc.noShrink(fc.integer()), fc.double({min: 0.02, max: 1, noNaN: true}), (n, seed, bias) => {
        expect(simulate(n, extensions, seed, bias, [0, 3, 17]).problems).toEqual([])
      }),
      {numRuns: 50},
    )
  })

  it('the oracle is not vacuous: it catches a Tail that starts early and a Head that never sends READY', () => {
    // Sanity check of the oracle: feed a machine where the Tail starts as soon as it enters WATCH.
    const broken: typeof transition = (s, e) => {
      const t = transition(s, e)
      if (!s.hasSuccessor && t.snapshot.state === NodeState.WATCH && s.state !== NodeState.WATCH) return {snapshot: {...t.snapshot, state: NodeState.START}, actions: [...t.actions, {type: 'startTask'}]}
      return t
    }
    const {problems} = simulate(4, true, 7, 0.5, [0], broken)
    expect(problems.some((p) => /started before node|started as task|started with only/.test(p))).toBe(true)
    // … and one that forgets a message (the Head never sends READY): the round does not finish.
    const silent: typeof transition = (s, e) => {
      const t = transition(s, e)
      return s.hasPredecessor ? t : {...t, actions: t.actions.filter((a) => !(a.type === 'send' && a.command === 'READY'))}
    }
    expect(simulate(3, false, 7, 0.5, [0], silent).problems).toContain('only 0/3 tasks started')
  })
})
