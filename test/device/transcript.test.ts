/** Session transcripts (device/transcript.ts): the file, its lines, redaction; and the replay server catching a client that strays. */
import {mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {connectDevice, Credentials} from '../../src/device/ssh-session.js'
import {DeviceTranscript, parseTranscript} from '../../src/device/transcript.js'
import {replayServer, type ReplayServer} from '../fixtures/transcripts/replay-server.js'
import {ROOT} from '../helpers/lab-stack.js'

let server: ReplayServer | undefined
afterEach(async () => {
  await server?.stop()
  server = undefined
})

describe('DeviceTranscript', () => {
  it('writes DIR/<run>/<device>.log (0600) with one timestamped, JSON-quoted, redacted line per event', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainup-transcript-'))
    let now = Date.parse('2026-11-25T20:40:01.123Z')
    const t = new DeviceTranscript(dir, 'run-1', 'sw1', ['s3cret-pw', undefined, 'ab'], () => undefined, () => now++)
    const log = t.connection('127.0.0.1:22')
    log.shell()
    log.received('\x1b[1mPassword s3cret-pw\x1b[0m\r\nsw1# ')
    log.sent('y\r', 'answer to /\\(y\\/n\\)/')
    log.exec('show version')
    log.exit(0)
    log.exit(undefined)
    log.close(true)
    t.connection('127.0.0.1:22').close(false)
    expect(t.file).toBe(join(dir, 'run-1', 'sw1.log'))
    expect(statSync(t.file).mode & 0o777).toBe(0o600)
    const text = readFileSync(t.file, 'utf8')
    expect(text).not.toContain('s3cret-pw')
    expect(text).not.toMatch(/\x1b/)
    expect(text.split('\n')[0]).toBe('2026-11-25T20:40:01.123Z s1 connect "127.0.0.1:22"')
    expect(parseTranscript(text).map((e) => [e.session, e.kind, e.data])).toEqual([
      [1, 'connect', '127.0.0.1:22'],
      [1, 'shell', ''],
      [1, '<', '\x1b[1mPassword [redacted]\x1b[0m\r\nsw1# '],
      [1, 'note', 'answer to /\\(y\\/n\\)/'],
      [1, '>', 'y\r'],
      [1, 'exec', 'show version'],
      [1, 'exit', '0'],
      [1, 'exit', 'dropped'],
      [1, 'close', 'dropped'],
      [2, 'connect', '127.0.0.1:22'],
      [2, 'close', 'closed'],
    ])
  })

  it('warns once and stops writing when the file cannot be written', () => {
    const warnings: string[] = []
    // The directory is a file: nothing can be made under it.
    const file = join(mkdtempSync(join(tmpdir(), 'chainup-transcript-')), 'plain-file')
    writeFileSync(file, '')
    const t = new DeviceTranscript(file, 'r', 'sw1', [], (m) => warnings.push(m))
    t.connection('h:22').exec('x')
    expect(warnings).toHaveLength(1)
  })

  it('refuses a malformed line with its number', () => {
    expect(() => parseTranscript('2026-11-25T20:40:01.123Z s1 connect "a"\nnonsense\n')).toThrow(/line 2/)
  })
})

describe('replay server', () => {
  it('records a mismatch and cuts the connection when the client answers differently from the recording', async () => {
    const events = parseTranscript(readFileSync(join(ROOT, 'test/fixtures/transcripts/nxos.transcript'), 'utf8')).filter((e) => e.session === 2)
    server = await replayServer(events.map((e) => ({...e, session: 1})))
    const session = await connectDevice({
      device: 'nx1',
      host: '127.0.0.1',
      port: server.port,
      credentials: new Credentials('netops', {password: 'x'}),
      hostKey: {kind: 'fingerprint', fingerprint: server.fingerprint},
      timeoutMs: 5000,
      session: 'interactive',
      interactive: {prompt: '^[\\w.-]+(\\(config[\\w-]*\\))?# ?$', pager: 'terminal length 0'},
    })
    try {
      const commands = events.filter((e) => e.kind === '>' && e.data.startsWith('install all')).map((e) => e.data.trim())
      expect((await session.exec('show version', 5000)).output).toContain('NXOS: version 9.3(8)')
      const r = await session.exec(commands[0]!, 5000, {answers: [{prompt: 'Do you want to continue', send: 'n'}]})
      expect(r.dropped).toBe(true)
      expect(server.mismatches.join('\n')).toMatch(/sent "n\\r"/)
    } finally {
      session.close()
    }
  })
})

describe('a resumed run appends to the transcript', () => {
  it('numbers its connections on from the last one in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'chainup-transcript-'))
    new DeviceTranscript(dir, 'run-1', 'sw1', []).connection('h:22').close(true)
    const again = new DeviceTranscript(dir, 'run-1', 'sw1', [])
    again.connection('h:22').exec('show version')
    expect(parseTranscript(readFileSync(again.file, 'utf8')).map((e) => `s${e.session} ${e.kind}`)).toEqual(['s1 connect', 's1 close', 's2 connect', 's2 exec'])
  })
})
