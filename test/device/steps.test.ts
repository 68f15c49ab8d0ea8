/**
 * What a device reports, on its way into chainup (issue #8 §2): facts are validated before they become a value
 * (`{{ previous.version }}`), a failed step quotes device output without its control characters, and the text a
 * command gate gets (`CHAINUP_ERROR`) has the run's secrets redacted. In-memory devices, no SSH.
 */
import {resolve} from 'node:path'

import {beforeAll, describe, expect, it} from 'vitest'

import {loadStack} from '../../src/config/load.js'
import type {Gate, Inventory, Playbook} from '../../src/config/types.js'
import {DeviceTaskError} from '../../src/device/errors.js'
import {Credentials, type DeviceConnection} from '../../src/device/ssh-session.js'
import {DeviceWorker} from '../../src/device/worker.js'
import {FakeClock} from '../helpers/fake-clock.js'
import {recordingReport} from '../helpers/fake-device.js'

const PASSWORD = 'Dev1ce-pa55word'
const HIDDEN_ENV = 'CHAINUP_STEPS_TEST_COMMUNITY'
const CONTROL = /[\x00-\x1f\x7f-\x9f]/
let inventory: Inventory
let playbook: Playbook

beforeAll(async () => {
  ;({inventory, playbook} = await loadStack(resolve(import.meta.dirname, '../../inventories/lab.yml')))
})

/** A device that answers with `answer(command)`; records what it was sent. */
function setUp(answer: (command: string) => string) {
  const sent: string[] = []
  const connection = (): DeviceConnection => ({
    isClosed: false,
    close: () => undefined,
    exec: async (command: string) => {
      sent.push(command)
      const output = answer(command)
      return {output, exitCode: output.startsWith('%') ? 1 : 0, dropped: false}
    },
  })
  const report = recordingReport()
  const worker = new DeviceWorker({
    runId: 'run-1',
    inventory,
    playbook,
    device: inventory.devices[0]!,
    credentials: new Credentials('netops', {password: PASSWORD}),
    hostKey: {kind: 'fingerprint', fingerprint: 'SHA256:not-used'},
    report,
    hiddenEnv: [HIDDEN_ENV],
    signal: new AbortController().signal,
    clock: new FakeClock(),
    dial: async () => connection(),
  })
  return {worker, report, sent}
}

const showVersion = (version: string, uptime = '1 week, 2 minutes') =>
  `Cisco IOS XE Software, Version ${version}\r\nsw1 uptime is ${uptime}\r\nSystem restarted at 10:11:12 UTC Mon Mar 4 2024\r\n`
const dirFlash = '  1  -rw-  123456789  cat9k_iosxe.17.09.05.SPA.bin\r\n  2  -rw-  123456789  cat9k_iosxe.17.06.05.SPA.bin\r\n'

async function failure(work: Promise<unknown>): Promise<Error> {
  try {
    await work
  } catch (error) {
    return error as Error
  }
  throw new Error('expected it to fail')
}

describe('device facts and output on their way into the run (issue #8 §2)', () => {
  it('a device whose version carries shell syntax and escapes is not ready: an error naming it, never a value', async () => {
    const hostile = '17.06.05;touch${IFS}pwned;$(touch${IFS}pwned2)\x1b]0;owned\x07\x1b[2J\x9b31m'
    const {worker, report, sent} = setUp((c) => (c === 'show version' ? showVersion(hostile) : c === 'dir flash:' ? dirFlash : '% Invalid input\r\n'))
    const error = await failure(worker.prepare())
    expect(error).toBeInstanceOf(DeviceTaskError)
    expect(error.message).toBe(
      'sw1: show version reports version "17.06.05;touch${IFS}pwned;$(touch${IFS}pwned2)\\x1b]0;owned\\x07\\x1b[2J\\x9b31m" which does not look like a version (a letter or digit, then up to 63 of: letters, digits, . _ - + ( ))',
    )
    // Nothing after the facts was sent, {{ previous.* }} never got a value, and the failed step says why.
    expect(sent).toEqual(['show version'])
    expect(worker.steps.vars.previous).toBeUndefined()
    expect(report.entries.filter((e) => e.kind === 'facts')).toEqual([])
    const step = report.entries.find((e) => e.kind === 'stepFinished' && e.action === 'facts')
    expect(step).toMatchObject({status: 'failed', error: error.message})
    expect(JSON.stringify(report.entries)).not.toMatch(/\\u001b|\\u0007|\\u009b/)
  })

  it('a device whose uptime carries escapes is not ready either', async () => {
    const {worker} = setUp((c) => (c === 'show version' ? showVersion('17.06.05', '1 week\x1b[8m`touch pwned`\x07') : dirFlash))
    expect((await failure(worker.prepare())).message).toMatch(/^sw1: show version reports uptime "1 week\\x1b\[8m`touch pwned`\\x07" which is not printable text/)
  })

  it('a failed step quotes the device error line with its control characters escaped', async () => {
    const {worker, report} = setUp((c) => (c === 'show version' ? showVersion('17.06.05') : `% Invalid input detected at '^' marker. $(touch pwned)\x1b[31m\x07\r\x1b[2Kall good\r\n`))
    const error = await failure(worker.steps.runStep({name: 'bogus', command: 'show bogus'}, 'upgrade'))
    expect(error.message).toBe(`sw1: step "bogus" failed: device reported an error: % Invalid input detected at '^' marker. $(touch pwned)\\x1b[31m\\x07\\r\\x1b[2Kall good`)
    const step = report.entries.find((e) => e.kind === 'stepFinished' && e.action === 'bogus')!
    expect(String(step.error)).not.toMatch(CONTROL)
  })

  it('CHAINUP_ERROR reaches an on_error gate without the run\'s secrets (the SSH password, hidden variables) and without control characters', async () => {
    process.env[HIDDEN_ENV] = 'snmp-c0mmunity'
    try {
      const {worker} = setUp(() => '')
      const gate: Gate = {kind: 'command', name: 'ticket', run: 'echo "$CHAINUP_ERROR"; exit 1'}
      const veto = await worker.firstVeto('on_error', [gate], {CHAINUP_ERROR: `sw1: login banner said ${PASSWORD} and snmp-c0mmunity\x1b[2J`})
      expect(veto?.reason).toBe('sw1: login banner said [redacted] and [redacted]\\x1b[2J')
    } finally {
      delete process.env[HIDDEN_ENV]
    }
  })
})

describe('the output cap from the inventory (issue #8 §3)', () => {
  it('every SSH session a device worker opens is capped at ssh.max_output_bytes', async () => {
    const caps: (number | undefined)[] = []
    const capped: Inventory = {...inventory, ssh: {...inventory.ssh, max_output_bytes: 128 * 1024}}
    const worker = new DeviceWorker({
      runId: 'run-1',
      inventory: capped,
      playbook,
      device: capped.devices[0]!,
      credentials: new Credentials('netops', {password: PASSWORD}),
      hostKey: {kind: 'fingerprint', fingerprint: 'SHA256:not-used'},
      report: recordingReport(),
      hiddenEnv: [],
      signal: new AbortController().signal,
      clock: new FakeClock(),
      dial: async (options) => {
        caps.push(options.maxOutputBytes)
        return {isClosed: false, close: () => undefined, exec: async () => ({output: showVersion('17.06.05'), exitCode: 0, dropped: false})}
      },
    })
    await worker.prepare().catch(() => undefined)
    expect(caps.length).toBeGreaterThan(0)
    expect(new Set(caps)).toEqual(new Set([128 * 1024]))
  })
})
