/** notify/observer.ts: run events become traps on a real UDP receiver, each reported back as `trapSent`. */
import {afterEach, describe, expect, it} from 'vitest'

import {TrapReceiver} from '../../../src/lab/trap-receiver.js'
import {RunEvents} from '../../../src/model/events.js'
import type {TrapRecord} from '../../../src/model/result.js'
import {attachTrapNotifier} from '../../../src/notify/observer.js'
import {ChainupNotification, ChainupObject} from '../../../src/notify/oids.js'

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
})
