/**
 * run/node-round.ts (`chainup node`'s round) with a fake node, an in-memory switch and a real journal: the result is
 * built from the node's journal, a round re-joined after a resume gets its own record, and a journal that cannot
 * record the round aborts it instead of leaving the chain waiting.
 */
import {resolve} from 'node:path'

import {afterEach, beforeAll, describe, expect, it} from 'vitest'

import {loadStack} from '../../src/config/load.js'
import type {Inventory, Playbook} from '../../src/config/types.js'
import {Credentials} from '../../src/device/ssh-session.js'
import {openJournal, type Journal} from '../../src/journal/journal.js'
import {RunEvents} from '../../src/model/events.js'
import type {ChainExecutionResult} from '../../src/model/result.js'
import {runNodeRound} from '../../src/run/node-round.js'
import {FakeClock, until} from '../helpers/fake-clock.js'
import {FakeSwitch} from '../helpers/fake-device.js'
import {FakeNode} from '../helpers/fake-node.js'
import {tmpState} from '../journal/helpers.js'

let inventory: Inventory
let playbook: Playbook
beforeAll(async () => {
  ;({inventory, playbook} = await loadStack(resolve(import.meta.dirname, '../../inventories/lab.yml')))
})
const cleanups: Array<() => void> = []
afterEach(() => {
  for (const c of cleanups.splice(0)) c()
})

async function journal(): Promise<Journal> {
  const state = tmpState('chainup-node-round-')
  const j = await openJournal(state.stateDir)
  cleanups.push(() => {
    j.close()
    state.cleanup()
  })
  return j
}

/** One round of sw2's node: ready, START, the task on the in-memory switch, then the Head's exit. */
async function playRound(j: Journal, runId: string): Promise<{result: ChainExecutionResult; node: FakeNode; device: FakeSwitch}> {
  const clock = new FakeClock()
  const device = new FakeSwitch(clock, {name: 'sw2', version: '17.06.05', images: ['cat9k_iosxe.17.09.05.SPA.bin'], bootMs: 10_000})
  const node = new FakeNode('sw2')
  const round = runNodeRound({
    runId,
    inventory,
    playbook,
    device: inventory.devices[1]!,
    node: node.asNode,
    secrets: {credentials: new Credentials('netops', {password: 'x'}), trapTargets: [], hiddenEnv: []},
    events: new RunEvents(),
    journal: j,
    clock,
    dial: device.dial,
    probe: device.probe,
    hostKey: {kind: 'fingerprint', fingerprint: 'SHA256:x'},
  })
  await until(() => node.calls.includes(`locallyReady ${runId}`), 'readiness')
  node.emit('startTask', {roundId: runId})
  while (!node.calls.includes(`taskFinished ${runId}`)) if (!(await clock.runNext())) await clock.settle()
  node.emit('exit', {roundId: runId, chainDone: false})
  return {result: await round.done, node, device}
}

describe('runNodeRound', () => {
  it('journals its device and builds the result from the journal: execution id = run id, the others remote', async () => {
    const j = await journal()
    const {result, node, device} = await playRound(j, 'run-1')
    expect(result).toMatchObject({execution_id: 'run-1', chain_id: 'lab-stack', status: 'completed', reason: null})
    expect(result.devices.map((d) => `${d.name} ${d.status}`)).toEqual(['sw1 remote', 'sw2 upgraded', 'sw3 remote', 'sw4 remote'])
    expect(result.steps.map((s) => s.action)).toEqual(['facts', 'show version', 'image on flash', 'facts', 'install image', 'wait for reload', 'verify version'])
    expect(device.reloads).toBe(1)
    expect(j.history({}).runs.map((r) => `${r.execution_id} ${r.status}`)).toEqual(['run-1/sw2 completed'])
    // The agent left no listener behind on the long-lived node, and the round was forgotten.
    expect(node.listenerCount('startTask') + node.listenerCount('halted') + node.listenerCount('exit')).toBe(0)
    expect(node.calls.at(-1)).toBe('forget run-1')
  })

  it('a round re-joined with the same run id (a resumed run) gets its own record, #2', async () => {
    const j = await journal()
    await playRound(j, 'run-2')
    const second = await playRound(j, 'run-2')
    expect(second.result.execution_id).toBe('run-2')
    expect(j.history({}).runs.map((r) => r.execution_id).sort()).toEqual(['run-2/sw2', 'run-2/sw2#2'])
  })

  it('a journal that cannot record the round aborts it at once (ABORT to the neighbours) and touches no device', async () => {
    const j = await journal()
    j.close()
    const node = new FakeNode('sw2')
    const round = runNodeRound({
      runId: 'run-3',
      inventory,
      playbook,
      device: inventory.devices[1]!,
      node: node.asNode,
      secrets: {credentials: new Credentials('netops', {password: 'x'}), trapTargets: [], hiddenEnv: []},
      events: new RunEvents(),
      journal: j,
    })
    await expect(round.done).rejects.toThrow(/^node sw2 cannot journal the round: /)
    expect(node.calls[0]).toBe('join run-3')
    expect(node.calls[1]).toMatch(/^abort run-3: node sw2 cannot journal the round: /)
    expect(node.calls).not.toContain('locallyReady run-3')
  })
})
