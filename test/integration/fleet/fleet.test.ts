/**
 * Fleets against the built-in simulator: three small stacks (real SSH, real ChainSync over TLS, a real SQLite journal),
 * run as DEC-002's council through `runFleet`.
 */
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {runFleet, sharedDevices, type FleetStack} from '../../../src/fleet/fleet.js'
import {openJournal} from '../../../src/journal/journal.js'
import {RunEvents} from '../../../src/model/events.js'
import {resolveSecrets} from '../../../src/run/secrets.js'
import {labStack, installed, type StackFixture, type StackSpec} from '../../helpers/lab-stack.js'

const env = {...process.env, CHAINUP_TEST_PASSWORD: 'Te5t-secret-pa55word'}
let fixtures: StackFixture[] = []
afterEach(async () => {
  await Promise.all(fixtures.map((f) => f.stop()))
  fixtures = []
})

async function stacks(specs: Array<Partial<StackSpec> & {name: string}>): Promise<{fleet: FleetStack[]; fx: StackFixture[]; stateDir: string}> {
  const fx = await Promise.all(specs.map((s) => labStack({devices: [{name: 'sw1'}, {name: 'sw2'}], ...s, extra: {stack: s.name, ...s.extra}})))
  fixtures.push(...fx)
  // labStack wrote the stack name into the inventory; loadStack read it back
  const fleet = fx.map((f) => ({inventory: f.inventory, playbook: f.playbook, secrets: resolveSecrets(f.inventory, env)}))
  return {fleet, fx, stateDir: join(mkdtempSync(join(tmpdir(), 'chainup-fleet-')), 'state')}
}

const hostKeysOf = (fx: StackFixture[]) => async (i: number) => ({hostKeys: fx[i]!.lab.hostKeys})

describe('a fleet of three lab stacks', () => {
  it('upgrades every stack, two at a time, and journals the fleet above its stack runs', async () => {
    const {fleet, fx, stateDir} = await stacks([{name: 'edge-1'}, {name: 'edge-2'}, {name: 'edge-3'}])
    const slots: number[] = []
    const result = await runFleet({stacks: fleet, stateDir, concurrency: 2, beforeStack: hostKeysOf(fx), onStart: (_i, slot) => slots.push(slot)})
    expect(result).toMatchObject({status: 'completed', reason: null, not_started: []})
    expect(result.stacks.map((s) => [s.chain_id, s.status])).toEqual([
      ['edge-1', 'completed'],
      ['edge-2', 'completed'],
      ['edge-3', 'completed'],
    ])
    expect(new Set(slots)).toEqual(new Set([0, 1]))
    for (const f of fx) expect(installed(f)).toEqual(['sw1', 'sw2'])
    const j = await openJournal(stateDir)
    try {
      const record = j.fleet(result.execution_id)!
      expect(record).toMatchObject({status: 'completed', concurrency: 2, max_failed: null})
      expect(record.stacks.map((s) => [s.stack, s.state, s.run_status, s.run_id])).toEqual(result.stacks.map((s) => [s.chain_id, 'started', 'completed', s.execution_id]))
      expect(j.fleetOf(result.stacks[0]!.execution_id)).toBe(result.execution_id)
      expect(j.verify()).toMatchObject({ok: true})
    } finally {
      j.close()
    }
  })

  it('a vetoed stack halts the fleet: the stack running beside it parks after its device in progress; resume continues it', async () => {
    const veto = {before: [{name: 'change board', scope: 'stack', run: 'echo "change board said no"; exit 1'}]}
    const {fleet, fx, stateDir} = await stacks([{name: 'slow', bootTime: 'PT1.5S'}, {name: 'vetoed', gates: veto}, {name: 'later'}])
    const events = fleet.map(() => new RunEvents())
    // the vetoed stack starts once the slow one's first device is booting
    const booting = new Promise<void>((resolve) => events[0]!.on('devicePhase', (e) => e.phase === 'booting' && resolve()))
    const beforeStack = async (i: number) => {
      if (i === 1) await booting
      return {hostKeys: fx[i]!.lab.hostKeys}
    }
    const result = await runFleet({stacks: fleet, stateDir, concurrency: 2, beforeStack, eventsFor: (i) => events[i]!})
    expect(result.status).toBe('vetoed')
    expect(result.reason).toMatch(/^stack vetoed vetoed: before gate "change board" vetoed: change board said no/)
    const [slow, vetoed] = result.stacks
    expect(vetoed).toMatchObject({chain_id: 'vetoed', status: 'vetoed'})
    expect(slow).toMatchObject({chain_id: 'slow', status: 'cancelled', reason: 'parked: the fleet halted because stack vetoed was vetoed'})
    // the device in progress finished; the next one never started
    expect(slow!.devices.map((d) => d.status)).toEqual(['upgraded', 'not_started'])
    expect(installed(fx[0]!)).toEqual(['sw1'])
    expect(result.not_started).toEqual([expect.objectContaining({chain_id: 'later', reason: expect.stringMatching(/^not started: the fleet halted/)})])
    expect(installed(fx[2]!)).toEqual([])

    const resumed = await runFleet({stacks: fleet, stateDir, concurrency: 2, resume: result.execution_id, beforeStack: hostKeysOf(fx)})
    expect(resumed.execution_id).toBe(result.execution_id)
    expect(resumed.stacks.map((s) => [s.chain_id, s.status])).toEqual([
      ['slow', 'completed'],
      ['vetoed', 'vetoed'],
      ['later', 'completed'],
    ])
    expect(resumed.stacks[0]!.execution_id).toBe(slow!.execution_id)
    expect(installed(fx[0]!)).toEqual(['sw1', 'sw2'])
    expect(resumed).toMatchObject({status: 'vetoed', reason: 'earlier in this fleet: stack vetoed vetoed', not_started: []})
  })

  it('a failed stack is reported and the others go on; --max-failed 1 stops the fleet; a locked stack is reported', async () => {
    const {fleet, fx, stateDir} = await stacks([{name: 'bad', devices: [{name: 'sw1', faults: ['missing_image']}, {name: 'sw2'}]}, {name: 'locked'}, {name: 'good'}])
    // another run holds stack "locked" (this live process, another run id)
    const j = await openJournal(stateDir)
    expect(j.acquireLock('locked', 'someone-else')).toMatchObject({ok: true})
    j.close()
    const goesOn = await runFleet({stacks: fleet, stateDir, concurrency: 1, beforeStack: hostKeysOf(fx)})
    expect(goesOn.stacks.map((s) => [s.chain_id, s.status])).toEqual([
      ['bad', 'failed'],
      ['good', 'completed'],
    ])
    expect(goesOn.not_started).toEqual([expect.objectContaining({chain_id: 'locked', reason: expect.stringContaining('stack locked is being upgraded by run someone-else')})])
    expect(goesOn).toMatchObject({status: 'failed', reason: '2 of 3 stacks did not complete: stack bad failed, stack locked not started'})

    const stopped = await runFleet({stacks: [fleet[0]!, fleet[2]!], stateDir, concurrency: 1, maxFailed: 1, beforeStack: async (i) => ({hostKeys: fx[i === 0 ? 0 : 2]!.lab.hostKeys})})
    expect(stopped).toMatchObject({status: 'failed', reason: '1 failed stack reached --max-failed 1'})
    expect(stopped.stacks.map((s) => s.chain_id)).toEqual(['bad'])
    expect(stopped.not_started.map((s) => s.chain_id)).toEqual(['good'])
  })

  it('cancel: running stacks finish the device in progress and park; the fleet resumes to completion', async () => {
    const {fleet, fx, stateDir} = await stacks([{name: 'a', bootTime: 'PT1S'}, {name: 'b', bootTime: 'PT1S'}, {name: 'c'}])
    const cancel = new AbortController()
    const events = fleet.map(() => new RunEvents())
    events[0]!.on('devicePhase', (e) => e.device === 'sw1' && e.phase === 'booting' && cancel.abort('SIGINT'))
    const result = await runFleet({stacks: fleet, stateDir, concurrency: 2, cancel: cancel.signal, beforeStack: hostKeysOf(fx), eventsFor: (i) => events[i]!})
    expect(result.status).toBe('cancelled')
    expect(result.stacks[0]).toMatchObject({status: 'cancelled', reason: 'parked: the fleet was cancelled by the operator'})
    expect(result.stacks[0]!.devices.map((d) => d.status)).toEqual(['upgraded', 'not_started'])
    expect(result.not_started.map((s) => s.chain_id)).toEqual(['c'])
    const resumed = await runFleet({stacks: fleet, stateDir, concurrency: 2, resume: result.execution_id, beforeStack: hostKeysOf(fx)})
    expect(resumed).toMatchObject({status: 'completed', reason: null})
    expect(resumed.stacks.map((s) => s.status)).toEqual(['completed', 'completed', 'completed'])
    for (const f of fx) expect(installed(f)).toEqual(['sw1', 'sw2'])
  })

  it('refuses devices shared between inventories (host:port) and a stack twice', async () => {
    const {fleet} = await stacks([{name: 'x'}, {name: 'y'}])
    expect(sharedDevices(fleet)).toEqual([])
    const y = fleet[1]!
    const clash = {...y, inventory: {...y.inventory, devices: [{...y.inventory.devices[0]!, port: fleet[0]!.inventory.devices[1]!.port}]}}
    expect(sharedDevices([fleet[0]!, clash])).toEqual([`127.0.0.1:${fleet[0]!.inventory.devices[1]!.port} is in two inventories: ${fleet[0]!.inventory.file} sw2 and ${y.inventory.file} sw1`])
    expect(sharedDevices([fleet[0]!, fleet[0]!])[0]).toMatch(/^stack x appears twice/)
  })
})
