/**
 * `chainup show RUN_ID --tree`'s drawing (`formatTree`) of runs written through the journal API: under each device its
 * steps and gates in the order they happened, and each node with its own duration.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {formatTree} from '../../src/cli/history.js'
import {openJournal, type Journal} from '../../src/journal/index.js'
import {chainRun, manualClock, step, tmpState, type ManualClock} from '../journal/helpers.js'

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})
async function fresh(clock = manualClock()): Promise<{j: Journal; clock: ManualClock}> {
  const s = tmpState('chainup-tree-')
  const j = await openJournal(s.stateDir, {now: clock.now})
  cleanups.push(s.cleanup, () => j.close())
  return {j, clock}
}

describe('formatTree', () => {
  it('draws steps and gates in the order they happened, each device with its own duration', async () => {
    const {j, clock} = await fresh()
    chainRun(j, clock)
    expect(formatTree(j.tree('run-T')).split('\n')).toEqual([
      'run run-T core failed 8.0s',
      '├─ gate before "change window": allow - inside the window',
      '├─ sw1 upgraded 3.8s',
      '│  ├─ facts completed 200ms',
      '│  ├─ gate before "maintenance mode": allow - set',
      '│  ├─ install completed 300ms',
      '│  ├─ wait for reload completed 3.0s',
      '│  ├─ verify version completed 100ms',
      '│  └─ gate after "ping": allow - 0% loss',
      '├─ sw2 upgraded 3.8s',
      '│  ├─ facts completed 200ms',
      '│  ├─ gate before "maintenance mode": allow - set',
      '│  ├─ install completed 300ms',
      '│  ├─ wait for reload completed 3.0s',
      '│  ├─ verify version completed 100ms',
      '│  └─ gate after "ping": allow - 0% loss',
      '├─ sw3 failed 600ms',
      '│  ├─ facts completed 200ms',
      '│  ├─ gate before "maintenance mode": allow - set',
      '│  ├─ install failed 300ms',
      '│  └─ gate on_error "go on": allow - exit 0',
      '└─ gate final "notify": allow - sent',
    ])
  })

  it('a run in progress: no duration for what has not finished; a gate stays after the step it judged', async () => {
    const {j, clock} = await fresh()
    j.createRun({id: 'r', stack: 'edge', devices: ['a', 'b'], target: {version: '2'}})
    step(j, clock, 'r', 'a', {name: 'install', ms: 1500})
    clock.tick(20)
    j.recordGate('r', {type: 'after', name: 'ping', device: 'a', decision: 'allow', reason: 'ok'})
    j.startStep('r', 'a', {name: 'notify', phase: 'upgrade', command: null})
    expect(formatTree(j.tree('r')).split('\n')).toEqual([
      'run r edge running',
      '├─ a running',
      '│  ├─ install completed 1.5s',
      '│  ├─ gate after "ping": allow - ok',
      '│  └─ notify running',
      '└─ b pending',
    ])
  })
})
