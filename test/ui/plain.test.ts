import {Writable} from 'node:stream'

import {describe, expect, it} from 'vitest'

import {RunEvents} from '../../src/model/events.js'
import {attachPlainReporter} from '../../src/ui/plain.js'
import {RUN, RUN_ID, replay, steppingNow, type RecordedEvent} from './run-events.js'

/** A stream that keeps what is written to it. */
function sink(): {out: Writable; text: () => string; writes: () => string[]} {
  const writes: string[] = []
  const out = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      writes.push(chunk.toString())
      cb()
    },
  })
  return {out, text: () => writes.join(''), writes: () => writes}
}

function report(sequence: readonly RecordedEvent[]): {text: string; writes: string[]} {
  const events = new RunEvents()
  const {out, text, writes} = sink()
  attachPlainReporter(events, out, steppingNow())
  void replay(events, sequence)
  return {text: text(), writes: writes()}
}

describe('plain reporter (cron, CI)', () => {
  it('writes one timestamped line per event of a three-device run (upgraded, skipped, failed)', () => {
    const {text, writes} = report(RUN)
    // One write per line, each a whole line: lines from concurrent devices never interleave.
    for (const w of writes) expect(w).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ [^\n]*\n$/)
    expect(text).not.toMatch(/\x1b\[/)
    expect(text).toMatchInlineSnapshot(`
      "2026-11-21T05:40:00.000Z - run 6ab91ddc-43e7-45b9-9e8c-84b1b50cbf98: upgrade stack lab-stack (sw1 -> sw2 -> sw3) to 17.09.05
      2026-11-21T05:40:00.010Z sw1 checking readiness: connecting
      2026-11-21T05:40:00.020Z sw1 step 1 facts: completed in 65ms
      2026-11-21T05:40:00.030Z sw1 checking readiness: show version
      2026-11-21T05:40:00.040Z sw1 step 2 show version: completed in 83ms
      2026-11-21T05:40:00.050Z sw1 checking readiness: image on flash
      2026-11-21T05:40:00.060Z sw1 step 3 image on flash: completed in 90ms
      2026-11-21T05:40:00.070Z sw1 ready (running 17.06.05, target 17.09.05)
      2026-11-21T05:40:00.080Z sw1 ChainSync READY: this device and all before it are ready
      2026-11-21T05:40:00.090Z sw2 checking readiness: connecting
      2026-11-21T05:40:00.100Z sw2 step 4 facts: completed in 65ms
      2026-11-21T05:40:00.110Z sw2 checking readiness: show version
      2026-11-21T05:40:00.120Z sw2 step 5 show version: completed in 83ms
      2026-11-21T05:40:00.130Z sw2 checking readiness: image on flash
      2026-11-21T05:40:00.140Z sw2 step 6 image on flash: completed in 90ms
      2026-11-21T05:40:00.150Z sw2 ready (running 17.09.05, already the target)
      2026-11-21T05:40:00.160Z sw2 ChainSync READY: this device and all before it are ready
      2026-11-21T05:40:00.170Z sw3 checking readiness: connecting
      2026-11-21T05:40:00.180Z sw3 step 7 facts: completed in 65ms
      2026-11-21T05:40:00.190Z sw3 checking readiness: show version
      2026-11-21T05:40:00.200Z sw3 step 8 show version: completed in 83ms
      2026-11-21T05:40:00.210Z sw3 checking readiness: image on flash
      2026-11-21T05:40:00.220Z sw3 step 9 image on flash: completed in 90ms
      2026-11-21T05:40:00.230Z sw3 ready (running 17.06.05, target 17.09.05)
      2026-11-21T05:40:00.240Z sw3 ChainSync WATCH: waiting for sw2 to complete
      2026-11-21T05:40:00.250Z sw2 ChainSync WATCH: waiting for sw1 to complete
      2026-11-21T05:40:00.260Z sw1 ChainSync START: its turn to upgrade
      2026-11-21T05:40:00.270Z sw1 upgrading: connecting
      2026-11-21T05:40:00.280Z sw1 step 10 facts: completed in 46ms
      2026-11-21T05:40:00.290Z sw1 upgrading: install image
      2026-11-21T05:40:00.300Z sw1 step 11 install image: completed in 325ms
      2026-11-21T05:40:00.310Z sw1 booting: waiting for the device to reload and come back
      2026-11-21T05:40:00.320Z sw1 step 12 wait for reload: completed in 3.5s
      2026-11-21T05:40:00.330Z sw1 verifying: back on 17.09.05
      2026-11-21T05:40:00.340Z sw1 upgrading: verify version
      2026-11-21T05:40:00.350Z sw1 step 13 verify version: completed in 74ms
      2026-11-21T05:40:00.360Z sw1 checking its after gates
      2026-11-21T05:40:00.370Z sw1 after gate "running target": allow - "show version" output matches /Version 17\\.09\\.05/
      2026-11-21T05:40:00.380Z sw1 upgraded 17.06.05 -> 17.09.05
      2026-11-21T05:40:00.390Z sw1 ChainSync COMPLETE: its turn is over; sw2 goes next
      2026-11-21T05:40:00.400Z sw2 ChainSync START: its turn to upgrade
      2026-11-21T05:40:00.410Z sw2 upgrading: connecting
      2026-11-21T05:40:00.420Z sw2 step 14 facts: completed in 48ms
      2026-11-21T05:40:00.430Z sw2 step 15 upgrade: skipped in 3ms
      2026-11-21T05:40:00.440Z sw2 skipped: already on 17.09.05, no upgrade needed
      2026-11-21T05:40:00.450Z sw2 checking its after gates
      2026-11-21T05:40:00.460Z sw2 after gate "running target": allow - "show version" output matches /Version 17\\.09\\.05/
      2026-11-21T05:40:00.470Z sw2 skipped (running 17.09.05, already the target)
      2026-11-21T05:40:00.480Z sw2 ChainSync COMPLETE: its turn is over; sw3 goes next
      2026-11-21T05:40:00.490Z sw3 ChainSync START: its turn to upgrade
      2026-11-21T05:40:00.500Z sw3 upgrading: connecting
      2026-11-21T05:40:00.510Z sw3 step 16 facts: completed in 44ms
      2026-11-21T05:40:00.520Z sw3 upgrading: install image
      2026-11-21T05:40:00.530Z sw3 step 17 install image: completed in 342ms
      2026-11-21T05:40:00.540Z sw3 booting: waiting for the device to reload and come back
      2026-11-21T05:40:00.550Z sw3 step 18 wait for reload: completed in 964ms
      2026-11-21T05:40:00.560Z sw3 verifying: back on 17.06.05
      2026-11-21T05:40:00.570Z sw3 upgrading: verify version
      2026-11-21T05:40:00.580Z sw3 step 19 verify version: failed in 80ms - output does not match /Version 17\\.09\\.05/
      2026-11-21T05:40:00.590Z sw3 failed: step "verify version" failed: output does not match /Version 17\\.09\\.05/
      2026-11-21T05:40:00.600Z sw3 error: halting the chain: sw3: step "verify version" failed: output does not match /Version 17\\.09\\.05/
      2026-11-21T05:40:00.610Z sw3 SNMP trap chain_halted sent to 127.0.0.1:10162, 192.0.2.10:162 (failed: send EHOSTUNREACH 192.0.2.10:162)
      2026-11-21T05:40:00.620Z - info: result saved to /var/lib/chainup/runs/6ab91ddc-43e7-45b9-9e8c-84b1b50cbf98.json
      2026-11-21T05:40:00.630Z - run 6ab91ddc-43e7-45b9-9e8c-84b1b50cbf98 failed in 3.3s: sw3: step "verify version" failed: output does not match /Version 17\\.09\\.05/
      "
    `)
  })

  it('prints nothing for events it does not show (deviceFacts, deviceOutcome, stepStarted, predecessorTimeout, chainHalted)', () => {
    const {text} = report([
      ['deviceFacts', {device: 'sw1', versionBefore: '17.06.05'}],
      ['deviceOutcome', {device: 'sw1', outcome: 'upgraded', versionBefore: '17.06.05', versionAfter: '17.09.05'}],
      ['stepStarted', {device: 'sw1', order: 1, action: 'facts', phase: 'readiness', command: 'show version'}],
      ['predecessorTimeout', {device: 'sw2', predecessor: 'sw1', waitedMs: 60_000, reason: 'sw1 did not complete within 1m 00s'}],
      ['chainHalted', {device: 'sw2', reason: 'link to sw1 lost'}],
    ])
    expect(text).toBe('')
  })

  it('uses the current time when no clock is given', () => {
    const events = new RunEvents()
    const {out, text} = sink()
    attachPlainReporter(events, out)
    const before = Date.now()
    events.emit('log', {level: 'info', device: null, message: 'x'})
    const stamp = Date.parse(text().split(' ')[0]!)
    expect(stamp).toBeGreaterThanOrEqual(before)
    expect(stamp).toBeLessThanOrEqual(Date.now())
  })

  it('escapes control characters and escape sequences a device put into any text, one line per event (issue #8 §2)', () => {
    const hostile = '17.06.05;touch${IFS}pwned\x1b]0;owned\x07\x1b[2J\x9b31m\r\x1b[2Kall good\nsecond line\u202e'
    const {text, writes} = report([
      ['devicePhase', {device: 'sw1', phase: 'ready', detail: `ready, running ${hostile}`}],
      ['stepFinished', {order: 1, device: 'sw1', action: 'bogus', status: 'failed', output: hostile, error: `device reported an error: ${hostile}`, phase: 'upgrade', command: 'show bogus', started_at: '2026-11-21T05:40:00.000Z', duration_ms: 5}],
      ['gateEvaluated', {type: 'after', name: `g${hostile}`, device: 'sw1', decision: 'veto', reason: hostile}],
      ['log', {level: 'error', device: `sw\x1b[1m1`, message: hostile}],
    ])
    expect(writes).toHaveLength(4)
    for (const w of writes) expect(w).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ [^\n]*\n$/)
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/)
    const shown = '17.06.05;touch${IFS}pwned\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\r\\x1b[2Kall good\\nsecond line\\u202e'
    expect(writes[0]).toContain(`sw1 ready (running ${shown})\n`)
    expect(writes[1]).toContain(`sw1 step 1 bogus: failed in 5ms - device reported an error: ${shown}\n`)
    expect(writes[2]).toContain(`after gate "g${shown}": veto - ${shown}\n`)
    expect(writes[3]).toContain(` sw\\x1b[1m1 error: ${shown}\n`)
  })
})
