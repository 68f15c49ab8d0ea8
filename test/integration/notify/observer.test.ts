/** notify/observer.ts: run events become traps on a real UDP receiver, each reported back as `trapSent`. */
import {afterEach, describe, expect, it} from 'vitest'

import {TrapReceiver} from '../../../src/lab/trap-receiver.js'
import {RunEvents} from '../../../src/model/events.js'
import type {TrapRecord} from '../../../src/model/result.js'
import {attachTrapNotifier} from '../../../src/notify/observer.js'
import {ChainupNotification, ChainupObject, ENUMS} from '../../../src/notify/oids.js'
import type {DeviceOutcome} from '../../../src/model/status.js'
import type {ChainExecutionResult} from '../../../src/model/result.js'

const receivers: TrapReceiver[] = []
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()))
})

describe('attachTrapNotifier', () => {
  it('sends chainupPredecessorTimeout and chainupChainHalted for the matching events and reports each as trapSent', async () => {
    const receiver = new TrapReceiver({port: 0, community: 'noc'})
    receivers.push(receiver)
    await receiver.start()
    const events = new RunEvents()
    const sent: TrapRecord[] = []
    events.on('trapSent', (t) => sent.push(t))
    const notifier = attachTrapNotifier(events, {runId: 'run-7', stack: 'core'}, [{host: '127.0.0.1', port: receiver.port, community: 'noc'}])
    events.emit('predecessorTimeout', {device: 'sw3', predecessor: 'sw2', waitedMs: 61_400, reason: 'predecessor sw2 did not complete its task within 61s (timeouts.predecessor)'})
    events.emit('chainHalted', {device: 'sw2', reason: 'sw2: connection to predecessor sw1 lost for more than 30s', predecessor: 'sw1'})
    await notifier.flush()
    expect(sent.map((t) => [t.kind, t.reporter, t.receivers.map((r) => r.ok)])).toEqual([
      ['predecessor_timeout', 'sw3', [true]],
      ['chain_halted', 'sw2', [true]],
    ])
    const timeout = await receiver.waitFor((t) => t.trapOid === ChainupNotification.chainupPredecessorTimeout, 3000)
    expect(timeout.varbinds[ChainupObject.chainupRunId]).toBe('run-7')
    expect(timeout.varbinds[ChainupObject.chainupStack]).toBe('core')
    expect(timeout.varbinds[ChainupObject.chainupPredecessor]).toBe('sw2')
    expect(timeout.varbinds[ChainupObject.chainupWaitedSeconds]).toBe(61)
    const halted = await receiver.waitFor((t) => t.trapOid === ChainupNotification.chainupChainHalted, 3000)
    expect(halted.varbinds[ChainupObject.chainupReporter]).toBe('sw2')
    expect(halted.varbinds[ChainupObject.chainupPredecessor]).toBe('sw1')
  })

  it('an event with no receiver configured sends nothing and flush still resolves', async () => {
    const events = new RunEvents()
    const sent: TrapRecord[] = []
    events.on('trapSent', (t) => sent.push(t))
    const notifier = attachTrapNotifier(events, {runId: 'r', stack: 's'}, [])
    events.emit('chainHalted', {device: 'sw1', reason: 'x'})
    await notifier.flush()
    expect(sent).toEqual([{kind: 'chain_halted', reporter: 'sw1', reason: 'x', receivers: []}])
  })

  describe('notifications derived from the run\'s events', () => {
    async function setup() {
      const receiver = new TrapReceiver({port: 0, community: 'noc'})
      receivers.push(receiver)
      await receiver.start()
      const events = new RunEvents()
      const sent: TrapRecord[] = []
      events.on('trapSent', (t) => sent.push(t))
      const notifier = attachTrapNotifier(events, {runId: 'run-8', stack: 'core'}, [{host: '127.0.0.1', port: receiver.port, community: 'noc'}])
      return {receiver, events, sent, notifier}
    }
    const outcome = (device: string, o: DeviceOutcome) => ({device, outcome: o, versionBefore: '17.06.05', versionAfter: null})

    it('a vetoing gate becomes chainupGateVetoed (reporter: its device, or run for a stack gate); an allowing one nothing', async () => {
      const {receiver, events, sent, notifier} = await setup()
      events.emit('gateEvaluated', {type: 'after', name: 'bgp up', device: 'sw2', decision: 'allow', reason: 'ok'})
      events.emit('gateEvaluated', {type: 'on_error', name: 'ask the NOC', device: 'sw2', decision: 'veto', reason: 'NOC said no'})
      events.emit('gateEvaluated', {type: 'before', name: 'change ticket', device: null, decision: 'veto', reason: 'no ticket'})
      await notifier.flush()
      expect(sent.map((t) => [t.kind, t.reporter, t.reason])).toEqual([
        ['gate_vetoed', 'sw2', 'NOC said no'],
        ['gate_vetoed', null, 'no ticket'],
      ])
      const onError = await receiver.waitFor((t) => t.varbinds[ChainupObject.chainupGateName] === 'ask the NOC', 3000)
      expect(onError.trapOid).toBe(ChainupNotification.chainupGateVetoed)
      expect(onError.varbinds[ChainupObject.chainupGateType]).toBe(ENUMS.chainupGateType.onError)
      expect(onError.varbinds[ChainupObject.chainupReporter]).toBe('sw2')
      const stack = await receiver.waitFor((t) => t.varbinds[ChainupObject.chainupGateName] === 'change ticket', 3000)
      expect(stack.varbinds[ChainupObject.chainupGateType]).toBe(ENUMS.chainupGateType.before)
      expect(stack.varbinds[ChainupObject.chainupReporter]).toBe('run')
    })

    it('a failed wait for the boot becomes chainupDeviceDidNotReturn with the seconds waited', async () => {
      const {receiver, events, sent, notifier} = await setup()
      const step = {order: 4, device: 'sw3', action: 'wait for reload', output: null, command: null, started_at: '2026-11-25T20:00:00.000Z'} as const
      events.emit('stepFinished', {...step, status: 'completed', error: null, phase: 'reboot', duration_ms: 1000})
      events.emit('stepFinished', {...step, status: 'failed', error: 'install image: FAILED', phase: 'upgrade', duration_ms: 1000})
      events.emit('stepFinished', {...step, status: 'failed', error: 'sw3 did not come back within 15m 00s', phase: 'reboot', duration_ms: 900_400})
      await notifier.flush()
      expect(sent.map((t) => [t.kind, t.reporter])).toEqual([['device_did_not_return', 'sw3']])
      const t = await receiver.waitFor((x) => x.trapOid === ChainupNotification.chainupDeviceDidNotReturn, 3000)
      expect(t.varbinds).toMatchObject({
        [ChainupObject.chainupReporter]: 'sw3',
        [ChainupObject.chainupReason]: 'sw3 did not come back within 15m 00s',
        [ChainupObject.chainupWaitedSeconds]: 900,
      })
    })

    it('the rollback: started with the devices in wave order (failed first, then upgraded ones reversed), finished when the last one is back', async () => {
      const {receiver, events, sent, notifier} = await setup()
      events.emit('runStarted', {runId: 'run-8', stack: 'core', devices: ['sw1', 'sw2', 'sw3', 'sw4'], target: {version: '17.09.05', image: 'x.bin'}})
      events.emit('deviceOutcome', outcome('sw1', 'upgraded'))
      events.emit('deviceOutcome', outcome('sw2', 'upgraded'))
      events.emit('deviceOutcome', outcome('sw3', 'failed'))
      events.emit('deviceOutcome', outcome('sw4', 'not_started'))
      for (const d of ['sw3', 'sw2', 'sw1']) {
        events.emit('deviceOutcome', outcome(d, 'rolling_back'))
        events.emit('deviceOutcome', outcome(d, 'rolled_back'))
      }
      await notifier.flush()
      expect(sent.map((t) => [t.kind, t.reporter, t.reason])).toEqual([
        ['rollback_started', null, 'rolling back sw3 -> sw2 -> sw1'],
        ['rollback_finished', null, 'rolled back sw3, sw2, sw1'],
      ])
      const started = await receiver.waitFor((t) => t.trapOid === ChainupNotification.chainupRollbackStarted, 3000)
      expect(started.varbinds[ChainupObject.chainupDevices]).toBe('sw3,sw2,sw1')
      const finished = await receiver.waitFor((t) => t.trapOid === ChainupNotification.chainupRollbackFinished, 3000)
      expect(finished.varbinds[ChainupObject.chainupRollbackResult]).toBe(ENUMS.chainupRollbackResult.rolledBack)
    })

    it('a failed compensating action finishes the rollback at once (rollbackFailed, reporter: that device)', async () => {
      const {receiver, events, sent, notifier} = await setup()
      events.emit('runStarted', {runId: 'run-8', stack: 'core', devices: ['sw1', 'sw2'], target: {version: '17.09.05', image: 'x.bin'}})
      events.emit('deviceOutcome', outcome('sw1', 'upgraded'))
      events.emit('deviceOutcome', outcome('sw2', 'failed'))
      events.emit('deviceOutcome', outcome('sw2', 'rolling_back'))
      events.emit('deviceOutcome', outcome('sw2', 'rolled_back'))
      events.emit('deviceOutcome', outcome('sw1', 'rolling_back'))
      events.emit('deviceOutcome', outcome('sw1', 'rollback_failed'))
      events.emit('chainHalted', {device: 'sw1', reason: 'rollback failed: boot system: % Invalid input'})
      await notifier.flush()
      expect(sent.map((t) => [t.kind, t.reporter])).toEqual([
        ['rollback_started', null],
        ['rollback_finished', 'sw1'],
        ['chain_halted', 'sw1'],
      ])
      const finished = await receiver.waitFor((t) => t.trapOid === ChainupNotification.chainupRollbackFinished, 3000)
      expect(finished.varbinds[ChainupObject.chainupRollbackResult]).toBe(ENUMS.chainupRollbackResult.rollbackFailed)
      expect(finished.varbinds[ChainupObject.chainupReason]).toBe('rollback failed on sw1; rolled back before it: sw2')
    })

    it('the run\'s end becomes chainupRunCompleted or chainupRunFailed, sent after the journal closed: not reported as trapSent, awaited by flush', async () => {
      const {receiver, events, sent, notifier} = await setup()
      const result = (status: ChainExecutionResult['status'], reason: string | null): ChainExecutionResult => ({
        execution_id: 'run-8',
        chain_id: 'core',
        status,
        started_at: '2026-11-25T20:00:00.000Z',
        completed_at: '2026-11-25T20:21:40.600Z',
        duration_ms: 1_300_600,
        steps: [],
        gates: [],
        reason,
        devices: [
          {name: 'sw1', status: 'upgraded', version_before: '17.06.05', version_after: '17.09.05'},
          {name: 'sw2', status: 'skipped', version_before: '17.09.05', version_after: '17.09.05'},
        ],
        traps: [],
      })
      events.emit('runFinished', result('completed', null))
      await notifier.flush()
      expect(sent).toEqual([])
      const done = await receiver.waitFor((t) => t.trapOid === ChainupNotification.chainupRunCompleted, 3000)
      expect(done.varbinds).toMatchObject({
        [ChainupObject.chainupReporter]: 'run',
        [ChainupObject.chainupReason]: 'completed: 1 of 2 devices upgraded',
        [ChainupObject.chainupRunStatus]: ENUMS.chainupRunStatus.completed,
        [ChainupObject.chainupDurationSeconds]: 1301,
      })

      const second = await setup()
      second.events.emit('runFinished', result('vetoed', 'on_error gate "ask the NOC" vetoed: NOC said no'))
      await second.notifier.flush()
      const failed = await second.receiver.waitFor((t) => t.trapOid === ChainupNotification.chainupRunFailed, 3000)
      expect(failed.varbinds[ChainupObject.chainupRunStatus]).toBe(ENUMS.chainupRunStatus.vetoed)
      expect(failed.varbinds[ChainupObject.chainupReason]).toBe('on_error gate "ask the NOC" vetoed: NOC said no')
    })
  })
})
