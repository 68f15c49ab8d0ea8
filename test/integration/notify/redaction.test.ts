/**
 * Issue #8 §4: redaction covers the terminal and trap reasons too, not only the journal. A device that echoes the
 * login password back (in an error line, a step's output) or a reason that quotes it: the plain progress lines
 * (terminal, cron, `--log-file`) and the SNMP trap a real UDP receiver gets show `[redacted]`, never the secret.
 */
import {Writable} from 'node:stream'

import {afterEach, describe, expect, it} from 'vitest'

import {TrapReceiver} from '../../../src/lab/trap-receiver.js'
import {RunEvents} from '../../../src/model/events.js'
import {attachTrapNotifier} from '../../../src/notify/observer.js'
import {ChainupNotification, ChainupObject} from '../../../src/notify/oids.js'
import {attachPlainReporter} from '../../../src/ui/plain.js'
import {labStack, TEST_PASSWORD, type StackFixture} from '../../helpers/lab-stack.js'

const PASSWORD = 'S3cret-enable-pw'

function sink(): {out: Writable; text: () => string} {
  const chunks: string[] = []
  return {out: new Writable({write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb())}), text: () => chunks.join('')}
}

const receivers: TrapReceiver[] = []
let fixture: StackFixture | undefined
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()))
  await fixture?.stop()
  fixture = undefined
})

describe('secrets in terminal lines and trap reasons', () => {
  it('every observer of the run events sees [redacted] where a device or a reason carried a secret', async () => {
    const receiver = new TrapReceiver({port: 0, community: 'noc'})
    receivers.push(receiver)
    await receiver.start()
    const events = new RunEvents()
    events.redactSecrets([PASSWORD, 'abc'])
    const terminal = sink()
    attachPlainReporter(events, terminal.out)
    const notifier = attachTrapNotifier(events, {runId: 'run-9', stack: 'core'}, [{host: '127.0.0.1', port: receiver.port, community: 'noc'}])
    events.emit('stepFinished', {
      order: 1,
      device: 'sw1',
      action: 'install image',
      status: 'failed',
      output: `% Bad secret ${PASSWORD}\r\n`,
      error: `install image: % Bad secret ${PASSWORD}`,
      phase: 'upgrade',
      command: 'install add file flash:x.bin activate commit',
      started_at: '2026-11-25T20:00:00.000Z',
      duration_ms: 12,
    })
    events.emit('log', {level: 'warn', device: 'sw1', message: `device said: enable secret ${PASSWORD}`})
    events.emit('chainHalted', {device: 'sw1', reason: `sw1: install image: % Bad secret ${PASSWORD}`})
    await notifier.flush()

    const text = terminal.text()
    expect(text).toContain('[redacted]')
    expect(text).not.toContain(PASSWORD)
    const trap = await receiver.waitFor((t) => t.trapOid === ChainupNotification.chainupChainHalted, 3000)
    expect(trap.varbinds[ChainupObject.chainupReason]).toBe('sw1: install image: % Bad secret [redacted]')
  })

  it('a secret shorter than 4 characters is not used for redaction (the loader refuses those)', () => {
    const events = new RunEvents()
    events.redactSecrets(['abc'])
    const seen: string[] = []
    events.on('log', (e) => seen.push(e.message))
    events.emit('log', {level: 'info', device: null, message: 'abc def'})
    expect(seen).toEqual(['abc def'])
  })

  it('a run redacts its resolved secrets (the SSH password) from the events it emits', async () => {
    fixture = await labStack({devices: [{name: 'sw1'}]})
    await fixture.run()
    const password = TEST_PASSWORD
    const seen: string[] = []
    fixture.events.on('log', (e) => seen.push(e.message))
    fixture.events.emit('log', {level: 'info', device: 'sw1', message: `echo ${password}`})
    expect(seen.filter((m) => m.startsWith('echo'))).toEqual(['echo [redacted]'])
  })
})
