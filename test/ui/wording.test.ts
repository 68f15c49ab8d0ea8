/** ui/wording.ts: what every progress view says per device phase and per ChainSync state (issue #13). */
import {describe, expect, it} from 'vitest'

import {DevicePhase} from '../../src/model/status.js'
import {NodeState} from '../../src/protocol/state-machine.js'
import {nodeStateText, phaseText} from '../../src/ui/wording.js'

const ctx = {target: '17.09.05', versionBefore: '17.06.05'}

describe('phaseText', () => {
  it.each([
    ['readiness', 'connecting', 'checking readiness: connecting'],
    ['ready', 'ready, running 17.06.05', 'ready (running 17.06.05, target 17.09.05)'],
    ['ready', 'ready, running 17.09.05', 'ready (running 17.09.05, already the target)'],
    ['ready', 'resumed: its reload was sent, will wait for it', 'ready (resumed: its reload was sent, will wait for it)'],
    ['upgrading', 'install image', 'upgrading: install image'],
    ['booting', 'waiting for the device to reload and come back', 'booting: waiting for the device to reload and come back'],
    ['verifying', 'back on 17.09.05', 'verifying: back on 17.09.05'],
    ['gates', 'after gates', 'checking its after gates'],
    ['upgraded', 'running 17.09.05', 'upgraded 17.06.05 -> 17.09.05'],
    ['upgraded', 'resumed: done before the restart', 'upgraded (resumed: done before the restart)'],
    ['skipped', 'already on 17.09.05', 'skipped: already on 17.09.05, no upgrade needed'],
    ['skipped', 'running 17.09.05', 'skipped (running 17.09.05, already the target)'],
    ['failed', 'sw1: step "verify version" failed: output does not match', 'failed: step "verify version" failed: output does not match'],
    ['cancelled', 'sw1: cancelled by the operator', 'cancelled: cancelled by the operator'],
    ['rolling_back', 'back to 17.06.05', 'rolling back to 17.06.05'],
    ['rolling_back', 'reinstall the previous image', 'rolling back: reinstall the previous image'],
    ['rolled_back', 'running 17.06.05', 'rolled back (running 17.06.05)'],
    ['rollback_failed', 'sw1: step "verify previous version" failed', 'rollback failed: step "verify previous version" failed'],
  ] as const)('%s "%s" -> %s', (phase, detail, text) => {
    expect(phaseText('sw1', phase, detail, ctx)).toBe(text)
  })

  it('covers every phase, and no phrase says its first word twice in a row (not "ready: ready, …")', () => {
    for (const phase of Object.values(DevicePhase)) {
      const text = phaseText('sw1', phase, `${phase}, running 17.06.05`, ctx)
      const words = text.split(/[\s:,()]+/).filter(Boolean)
      expect(words[1], text).not.toBe(words[0])
      expect(text.startsWith(`${phase}: ${phase}`), text).toBe(false)
    }
  })
})

describe('nodeStateText', () => {
  const chain = ['sw1', 'sw2', 'sw3']
  it.each([
    ['sw2', 'SYNC', 'ChainSync SYNC: waiting until it and the devices before it are ready'],
    ['sw2', 'READY', 'ChainSync READY: this device and all before it are ready'],
    ['sw3', 'READY', 'ChainSync READY: every device of the chain is ready'],
    ['sw3', 'WATCH', 'ChainSync WATCH: waiting for sw2 to complete'],
    ['sw1', 'START', 'ChainSync START: its turn to upgrade'],
    ['sw1', 'COMPLETE', 'ChainSync COMPLETE: its turn is over; sw2 goes next'],
    ['sw3', 'COMPLETE', 'ChainSync COMPLETE: its turn is over; it was the last device'],
  ] as const)('%s %s', (device, state, text) => {
    expect(nodeStateText(device, state, chain)).toBe(text)
  })

  it.each([
    ['READY', 'ChainSync READY: this device and all before it are ready'],
    ['WATCH', 'ChainSync WATCH: waiting for its predecessor to complete'],
    ['COMPLETE', 'ChainSync COMPLETE: its turn is over'],
  ] as const)('a device whose position is not known (not in the list, or no list): %s names no neighbour', (state, text) => {
    expect(nodeStateText('sw9', state, chain)).toBe(text)
    expect(nodeStateText('sw2', state, [])).toBe(text)
  })

  it('says something for every state of draft §4', () => {
    for (const state of Object.values(NodeState)) expect(nodeStateText('sw2', state, chain)).toMatch(new RegExp(`^ChainSync ${state}: \\S`))
  })
})
