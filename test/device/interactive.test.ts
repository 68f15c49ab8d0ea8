/**
 * Interactive sessions (device/interactive.ts) over real SSH: a tiny scripted PTY shell on ssh2's Server, the client
 * through connectDevice / SshDeviceSession as the steps use it. Timeouts run on a fake clock.
 */
import net from 'node:net'

import ssh2 from 'ssh2'
import type {ServerChannel} from 'ssh2'
import {afterEach, describe, expect, it} from 'vitest'

import {cleanTerminalText, commandOutput, InteractiveShell, PromptTimeoutError} from '../../src/device/interactive.js'
import {fingerprintOf} from '../../src/device/known-hosts.js'
import {connectDevice, Credentials, type SshDeviceSession} from '../../src/device/ssh-session.js'
import {FakeClock} from '../helpers/fake-clock.js'

const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private
const fingerprint = fingerprintOf((ssh2.utils.parseKey(hostKey) as ssh2.ParsedKey).getPublicSSH())

/** What the scripted device does with one command line: write text, then maybe wait for an answer line. */
type Script = (line: string, io: {write: (t: string) => void; prompt: () => void; ask: (q: string, then: (answer: string) => void) => void; drop: () => void; pagerOff: boolean}) => void

const LONG = Array.from({length: 30}, (_, i) => `line ${i + 1}`)

const script: Script = (line, io) => {
  switch (line) {
    case 'terminal length 0':
      io.pagerOff = true
      return io.prompt()
    case 'show version':
      io.write('\x1b[1mCisco IOS XE Software\x1b[0m, Version 17.06.05\r\nR1 uptime is 2 hours, 3 minutes\r\n')
      return io.prompt()
    case 'show long': {
      if (io.pagerOff) {
        io.write(LONG.join('\r\n') + '\r\n')
        return io.prompt()
      }
      // 10 lines a page, ` --More-- ` erased with backspaces when space comes (as IOS does).
      let at = 0
      const page = () => {
        io.write(LONG.slice(at, at + 10).join('\r\n') + '\r\n')
        at += 10
        if (at >= LONG.length) return io.prompt()
        io.ask(' --More-- ', () => {
          io.write('\b'.repeat(10) + ' '.repeat(10) + '\b'.repeat(10))
          page()
        })
      }
      return page()
    }
    case 'install all nxos bootflash:nxos.9.3.10.bin':
      io.write('Switch will be reloaded for disruptive upgrade.\r\n')
      return io.ask('Do you want to continue with the installation (y/n)?  [n] ', (answer) => {
        if (answer !== 'y') {
          io.write('Install is aborted\r\n')
          return io.prompt()
        }
        io.write('Install is in progress, please wait.\r\n\r\nFinishing the upgrade, switch will reboot in 10 seconds.\r\n')
        setTimeout(() => io.drop(), 50)
      })
    case 'reload':
      return io.ask('Proceed with reload? [confirm]', () => io.drop())
    case 'hang':
      io.write('Working...\r\nstill working\r\n')
      return
    default:
      io.write(`% Invalid command at '^' marker.\r\n`)
      return io.prompt()
  }
}

interface Scripted {
  port: number
  sent: string[]
  stop(): Promise<void>
}

async function scriptedDevice(pagerOffInitially = false): Promise<Scripted> {
  const sockets = new Set<net.Socket>()
  const sent: string[] = []
  const server = new ssh2.Server({hostKeys: [hostKey]}, (client) => {
    client.on('error', () => {})
    client.on('authentication', (ctx) => (ctx.method === 'password' && ctx.password === 'pw' ? ctx.accept() : ctx.reject(['password'])))
    client.on('ready', () => {
      client.on('session', (accept) => {
        const session = accept()
        session.on('pty', (ok) => ok?.())
        session.on('shell', (ok) => {
          const ch = ok() as ServerChannel
          ch.on('error', () => {})
          let line = ''
          let waiting: ((answer: string) => void) | undefined
          const io = {
            pagerOff: pagerOffInitially,
            write: (t: string) => ch.writable && ch.write(t),
            prompt: () => void (ch.writable && ch.write('\r\nR1#')),
            ask: (q: string, then: (answer: string) => void) => {
              ch.write(q)
              waiting = then
            },
            drop: () => {
              for (const s of sockets) s.destroy()
            },
          }
          ch.write('\r\nWelcome to the lab\r\n\r\nR1#')
          ch.on('data', (d: Buffer) => {
            for (const c of d.toString('utf8')) {
              if (waiting && (c === ' ' || c === '\r')) {
                sent.push(`answer:${line}${c === ' ' ? '<space>' : ''}`)
                const then = waiting
                waiting = undefined
                const answer = line
                line = ''
                if (c === '\r') ch.write(`${answer}\r\n`)
                then(answer)
                continue
              }
              if (c === '\r') {
                ch.write('\r\n')
                const command = line.trim()
                line = ''
                sent.push(command)
                if (command === '') io.prompt()
                else script(command, io)
              } else if (c !== '\n') {
                line += c
                if (!waiting) ch.write(c)
              }
            }
          })
        })
      })
    })
  })
  const tcp = net.createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    server.injectSocket(s)
  })
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r))
  return {
    port: (tcp.address() as net.AddressInfo).port,
    sent,
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((r) => tcp.close(r))
    },
  }
}

let device: Scripted | undefined
let session: SshDeviceSession | undefined
afterEach(async () => {
  session?.close()
  session = undefined
  await device?.stop()
  device = undefined
})

async function open(config: {pager?: string; prompt?: string} = {pager: 'terminal length 0'}): Promise<SshDeviceSession> {
  device ??= await scriptedDevice()
  session = await connectDevice({
    device: 'R1',
    host: '127.0.0.1',
    port: device.port,
    credentials: new Credentials('netops', {password: 'pw'}),
    hostKey: {kind: 'fingerprint', fingerprint},
    timeoutMs: 5000,
    session: 'interactive',
    interactive: config,
  })
  return session
}

describe('interactive sessions (PTY shell over real SSH)', () => {
  it('sends the pager-off command first, then returns output without echo, prompt or ANSI escapes', async () => {
    const s = await open()
    const r = await s.exec('show version', 5000)
    expect(r).toEqual({output: 'Cisco IOS XE Software, Version 17.06.05\nR1 uptime is 2 hours, 3 minutes\n', exitCode: 0, dropped: false})
    expect(device!.sent).toEqual(['terminal length 0', 'show version'])
    const long = await s.exec('show long', 5000)
    expect(long.output.trim().split('\n')).toEqual(LONG)
  })

  it('answers --More-- with a space when the pager is still on (fallback) and strips the markers', async () => {
    const s = await open({})
    const r = await s.exec('show long', 5000)
    expect(r.output.trim().split('\n')).toEqual(LONG)
    expect(device!.sent.filter((x) => x.startsWith('answer:'))).toEqual(['answer:<space>', 'answer:<space>'])
  })

  it("answers a confirmation prompt from the step's answers, and reports the reload's drop as dropped", async () => {
    const s = await open()
    const r = await s.exec('install all nxos bootflash:nxos.9.3.10.bin', 5000, {answers: [{prompt: '\\(y/n\\)\\?', send: 'y'}]})
    expect(r.dropped).toBe(true)
    expect(r.exitCode).toBeUndefined()
    expect(r.output).toContain('Do you want to continue with the installation (y/n)?  [n] y')
    expect(r.output).toContain('switch will reboot in 10 seconds')
    expect(device!.sent).toContain('answer:y')
    expect(s.isClosed).toBe(true)
  })

  it("presses Enter for '[confirm]' (send: '')", async () => {
    const s = await open()
    const r = await s.exec('reload', 5000, {answers: [{prompt: '\\[confirm\\]', send: ''}]})
    expect(r.dropped).toBe(true)
    expect(device!.sent).toContain('answer:')
  })

  it('a step with session: interactive on an exec connection runs in the shell (pager first), other commands stay exec', async () => {
    device ??= await scriptedDevice()
    session = await connectDevice({
      device: 'R1',
      host: '127.0.0.1',
      port: device.port,
      credentials: new Credentials('netops', {password: 'pw'}),
      hostKey: {kind: 'fingerprint', fingerprint},
      timeoutMs: 5000,
      interactive: {pager: 'terminal length 0'},
    })
    const r = await session.exec('show version', 5000, {session: 'interactive'})
    expect(r.output).toContain('Version 17.06.05')
    expect(device.sent).toEqual(['terminal length 0', 'show version'])
    // The scripted device has no exec: the default mode is exec, so this fails rather than reaching the shell.
    await expect(session.exec('show version', 2000)).rejects.toThrow()
  })

  it('a prompt pattern that never matches fails the command with PromptTimeoutError (never taken as a dropped connection)', async () => {
    const s = await open({prompt: '^NEVER>$'})
    const error = await s.exec('show version', 5000).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(PromptTimeoutError)
    expect((error as Error).message).toMatch(/R1: no prompt after login within 5s: waited for \/\^NEVER>\$\/; last lines seen: "Welcome to the lab" \/ "R1#"/)
    expect(s.isClosed).toBe(true)
  })

  it('an exec-mode command on an interactive connection still uses exec (per step session)', async () => {
    const s = await open()
    await expect(s.exec('show version', 2000, {session: 'exec'})).rejects.toThrow()
  })

  it('a command that never gets its prompt back fails at its timeout naming the pattern and the last lines (fake clock)', async () => {
    device = await scriptedDevice()
    const {Client} = ssh2
    const client = new Client()
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve())
      client.once('error', reject)
      client.connect({host: '127.0.0.1', port: device!.port, username: 'netops', password: 'pw', hostVerifier: () => true})
    })
    try {
      const channel = await new Promise<ssh2.ClientChannel>((resolve, reject) => client.shell({term: 'vt100', cols: 511, rows: 24}, (err, ch) => (err ? reject(err) : resolve(ch))))
      const clock = new FakeClock()
      const shell = await InteractiveShell.open(channel, {device: 'R1', maxOutputBytes: 1 << 20, limitError: () => new Error('limit'), clock, prompt: '[\\w.-]+[>#]\\s*$'}, 5000)
      const pending = shell.run('hang', 30_000, [{prompt: '\\(y/n\\)', send: 'y'}])
      const failed = pending.then(() => undefined, (e: unknown) => e)
      // Let the device print its two lines, then jump past the timeout.
      for (let i = 0; i < 50 && !device.sent.includes('hang'); i++) await new Promise((r) => setTimeout(r, 20))
      await new Promise((r) => setTimeout(r, 100))
      await clock.advance(29_999)
      expect(shell.isClosed).toBe(false)
      await clock.advance(1)
      const error = await failed
      expect(error).toBeInstanceOf(PromptTimeoutError)
      const message = (error as Error).message
      expect(message).toBe('R1: "hang" did not return to the prompt within 30s: waited for /[\\w.-]+[>#]\\s*$/ or /\\(y/n\\)/; last lines seen: "Working..." / "still working"')
      expect((error as PromptTimeoutError).partialOutput).toBe('Working...\nstill working\n')
      expect(shell.isClosed).toBe(true)
    } finally {
      client.end()
    }
  })
})

describe('terminal text cleaning', () => {
  it('strips ANSI (CSI, 8-bit CSI, OSC), handles backspaces and lone CRs, normalises CR-LF', () => {
    expect(cleanTerminalText('\x1b[31mred\x1b[0m\r\n\x1b]0;title\x07ok\r\nabc\b\bX\r\n50%\r100%\r\n\x9b2Kz\x07')).toBe('red\nok\naX\n100%\nz')
  })

  it('drops the echo, the prompt and the pager markers from a command output', () => {
    expect(commandOutput('show clock\r\n*10:02:03 UTC\r\n --More-- \r\nnext\r\nsw1#', 'show clock', true)).toBe('*10:02:03 UTC\n\nnext')
    expect(commandOutput('show x\r\n---(more 42%)---\r\nrest\r\nuser@ex1> ', 'show x', true)).toBe('\nrest')
  })

  it('makes the last lines of a timeout printable (escapes what a terminal would act on)', () => {
    const e = new PromptTimeoutError('sw1', 'x', 1000, 'p', ['bad\\x1b[2J'], '')
    expect(e.message).not.toMatch(/\x1b/)
  })
})
