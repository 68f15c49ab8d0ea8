/**
 * A device that prints without end cannot exhaust chainup's memory: one command's output is capped (16 MiB by
 * default, `maxOutputBytes` per connection or per command), the command fails with OutputLimitError, its channel is
 * closed (the device stops sending), and the connection stays usable. Against a real ssh2 server on loopback.
 */
import type {AddressInfo} from 'node:net'

import ssh2, {type Connection, type ServerChannel} from 'ssh2'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {fingerprintOf} from '../../../src/device/known-hosts.js'
import {connectDevice, Credentials, DEFAULT_MAX_OUTPUT_BYTES, OutputLimitError, type SshDeviceSession} from '../../../src/device/ssh-session.js'

const PASSWORD = 'flood-test-pa55'
const CHUNK = Buffer.alloc(64 * 1024, 'y\n')

/** What the server saw of each `flood` channel: bytes written, and whether the client closed it. */
interface Flood {
  sent: number
  closed: boolean
  closedAt?: number
}

let server: ssh2.Server
let port: number
let fingerprint: string
const floods: Flood[] = []
const clients = new Set<Connection>()

function hostKey(): string {
  for (let attempt = 0; ; attempt++) {
    const key = ssh2.utils.generateKeyPairSync('ed25519').private
    if (!(ssh2.utils.parseKey(key) instanceof Error) || attempt >= 20) return key
  }
}

/** `flood`: prints "y" lines forever (respecting flow control) until the channel closes; `print N`: N bytes then exit 0. */
function run(command: string, ch: ServerChannel): void {
  if (command === 'flood') {
    const f: Flood = {sent: 0, closed: false}
    floods.push(f)
    // ssh2 emits a channel's 'close' only once its readable side ended: read it
    ch.resume()
    ch.on('close', () => {
      f.closed = true
      f.closedAt = f.sent
    })
    const pump = () => {
      while (!f.closed) {
        f.sent += CHUNK.length
        if (!ch.write(CHUNK)) return void ch.once('drain', pump)
      }
    }
    pump()
    return
  }
  const print = /^print (\d+)$/.exec(command)
  if (print) {
    ch.write(Buffer.alloc(Number(print[1]), 'x'))
    ch.exit(0)
    ch.end()
    return
  }
  ch.write(`unknown command ${command}\n`)
  ch.exit(1)
  ch.end()
}

beforeAll(async () => {
  const key = hostKey()
  fingerprint = fingerprintOf((ssh2.utils.parseKey(key) as ssh2.ParsedKey).getPublicSSH())
  server = new ssh2.Server({hostKeys: [key]}, (client) => {
    clients.add(client)
    client.on('close', () => clients.delete(client))
    client.on('error', () => {})
    client.on('authentication', (ctx) => (ctx.method === 'password' && ctx.username === 'netops' && ctx.password === PASSWORD ? ctx.accept() : ctx.reject(['password'])))
    client.on('ready', () =>
      client.on('session', (accept) => {
        const session = accept()
        session.on('exec', (acceptExec, _reject, info) => {
          const ch = acceptExec?.()
          if (ch) run(info.command, ch)
        })
      }),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  for (const c of clients) c.end()
  await new Promise((r) => server.close(r))
})

function connect(maxOutputBytes?: number): Promise<SshDeviceSession> {
  return connectDevice({
    device: 'sw-flood',
    host: '127.0.0.1',
    port,
    credentials: new Credentials('netops', {password: PASSWORD}),
    hostKey: {kind: 'fingerprint', fingerprint},
    timeoutMs: 10_000,
    ...(maxOutputBytes === undefined ? {} : {maxOutputBytes}),
  })
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => new Error('expected the command to fail'),
    (e: unknown) => e,
  )
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('SSH output cap', () => {
  it('a device that streams forever fails the command at the default 16 MiB, long before the command timeout', async () => {
    expect(DEFAULT_MAX_OUTPUT_BYTES).toBe(16 * 1024 * 1024)
    const session = await connect()
    try {
      const started = Date.now()
      const error = await failure(session.exec('flood', 60_000))
      expect(error).toBeInstanceOf(OutputLimitError)
      expect((error as OutputLimitError).message).toBe('sw-flood: command "flood" printed more than 16 MiB; chainup stopped reading it and closed its channel')
      expect((error as OutputLimitError).code).toBe('OUTPUT_LIMIT')
      expect((error as OutputLimitError).partialOutput).toHaveLength(64 * 1024)
      expect((error as OutputLimitError).partialOutput.startsWith('y\ny\n')).toBe(true)
      expect(Date.now() - started).toBeLessThan(30_000)
      // the channel is closed: the device stops sending
      const flood = floods.at(-1)!
      await until(() => flood.closed)
    } finally {
      session.close()
    }
  })

  it('the cap per connection and per command; the channel closes, the connection stays usable', async () => {
    const session = await connect(1024 * 1024)
    try {
      const error = await failure(session.exec('flood', 60_000))
      expect((error as Error).message).toBe('sw-flood: command "flood" printed more than 1 MiB; chainup stopped reading it and closed its channel')
      const flood = floods.at(-1)!
      await until(() => flood.closed)
      const sentAtClose = flood.sent
      await new Promise((r) => setTimeout(r, 200))
      expect(flood.sent).toBe(sentAtClose) // nothing more after the close
      expect(session.isClosed).toBe(false)
      // the next command on the same connection works, and exactly the cap is still allowed
      const exact = await session.exec('print 1048576', 10_000)
      expect({...exact, output: exact.output.length}).toEqual({exitCode: 0, dropped: false, output: 1024 * 1024})
      // one byte more is not
      expect(await failure(session.exec('print 1048577', 10_000))).toBeInstanceOf(OutputLimitError)
      // a per-command cap overrides the connection's
      const small = await failure(session.exec('flood', 60_000, {maxOutputBytes: 64 * 1024}))
      expect((small as Error).message).toMatch(/printed more than 64 KiB;/)
      expect(await session.exec('print 5', 10_000)).toMatchObject({exitCode: 0, output: 'xxxxx'})
    } finally {
      session.close()
    }
  })
})
