import {execFileSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import ssh2 from 'ssh2'
import {afterEach, describe, expect, it} from 'vitest'

import type {LabFault} from '../../../src/config/types.js'
import {HOSTILE} from '../../../src/lab/ios-output.js'
import {SimSwitch, type SimEvent, type SimSwitchOptions} from '../../../src/lab/sim-switch.js'
import {FakeClock, until} from '../../helpers/fake-clock.js'

const TARGET = 'cat9k_iosxe.17.09.05.SPA.bin'
const running: SimSwitch[] = []

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()))
})

async function startSim(over: Partial<SimSwitchOptions> = {}): Promise<SimSwitch> {
  const sim = new SimSwitch({
    name: 'sw1',
    port: 0,
    username: 'admin',
    password: 'secret',
    version: '17.06.05',
    extraImages: [TARGET],
    bootTimeMs: 200,
    installDelayMs: 150,
    ...over,
  })
  running.push(sim)
  await sim.start()
  return sim
}

function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '')
}

interface Login {
  password?: string
  privateKey?: string
  username?: string
}

function connect(sim: SimSwitch, login: Login = {password: 'secret'}): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client()
    let settled = false
    c.on('ready', () => {
      settled = true
      resolve(c)
    })
    c.on('error', (err) => {
      if (!settled) {
        settled = true
        reject(err)
      }
    })
    c.connect({
      host: '127.0.0.1',
      port: sim.port,
      username: login.username ?? 'admin',
      readyTimeout: 5000,
      hostVerifier: (key: Buffer) => fingerprint(key) === sim.hostKeyFingerprint,
      ...(login.password === undefined ? {} : {password: login.password}),
      ...(login.privateKey === undefined ? {} : {privateKey: login.privateKey}),
    })
  })
}

interface ExecResult {
  stdout: string
  /** undefined when the channel closed without an exit status (connection dropped). */
  code: number | undefined
  clientClosed: boolean
}

/** Runs one exec command; resolves when the channel closes (normally or because the connection drops). */
function exec(client: ssh2.Client, command: string, onData?: (all: string) => void): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    let clientClosed = false
    client.once('close', () => {
      clientClosed = true
    })
    client.exec(command, (err, stream) => {
      if (err) return reject(err)
      let stdout = ''
      stream.on('data', (d: Buffer) => {
        stdout += d.toString()
        onData?.(stdout)
      })
      stream.stderr.resume()
      stream.on('close', (code: number | undefined) => {
        setTimeout(() => resolve({stdout, code, clientClosed}), 50)
      })
    })
  })
}

async function run(sim: SimSwitch, command: string): Promise<ExecResult> {
  const c = await connect(sim)
  try {
    return await exec(c, command)
  } finally {
    c.end()
  }
}

function nextEvent(sim: SimSwitch, type: SimEvent['type'], timeoutMs = 5000): Promise<SimEvent> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      sim.off('event', on)
      reject(new Error(`no ${type} event within ${timeoutMs} ms`))
    }, timeoutMs)
    const on = (e: SimEvent): void => {
      if (e.type !== type) return
      clearTimeout(t)
      sim.off('event', on)
      resolve(e)
    }
    sim.on('event', on)
  })
}

function tcpRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({host: '127.0.0.1', port})
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Parses `System restarted at 10:01:59 UTC Sat Nov 21 2026` back into a Date. */
function restartedAt(showVersion: string): Date {
  const m = /^System restarted at (\d\d):(\d\d):(\d\d) UTC \w{3} (\w{3}) (\d{1,2}) (\d{4})\r?$/m.exec(showVersion)
  if (!m) throw new Error('no System restarted at line')
  const [, hh, mm, ss, mon, day, year] = m
  return new Date(`${mon} ${day} ${year} ${hh}:${mm}:${ss} UTC`)
}

function versionOf(showVersion: string): string | undefined {
  return /^Cisco IOS XE Software, Version (\S+)\r?$/m.exec(showVersion)?.[1]
}

describe('SimSwitch', () => {
  it('verifies its host key like ssh-keygen -lf and answers show version', async () => {
    const sim = await startSim()
    const c = await connect(sim)
    const r = await exec(c, 'show version')
    c.end()
    expect(r.code).toBe(0)
    expect(versionOf(r.stdout)).toBe('17.06.05')
    expect(r.stdout).toContain('Cisco IOS Software [Bengaluru], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.6.5, RELEASE SOFTWARE (fc2)')
    expect(r.stdout).toContain('sw1 uptime is 3 weeks, 2 days, 4 hours, 17 minutes\r\n')
    expect(r.stdout).toContain('System image file is "flash:packages.conf"')
    expect(r.stdout).toMatch(/^\*\s+1 \d+\s+C9300-48P\s+17\.06\.05\s+CAT9K_IOSXE\s+INSTALL\r$/m)
    expect(r.stdout).not.toContain('returned to ROM by Reload Command')
    expect(Math.abs(restartedAt(r.stdout).getTime() - sim.bootedAt.getTime())).toBeLessThan(1000)
    expect(sim.events.map((e) => e.type)).toEqual(['listening', 'login', 'exec'])
    expect(sim.events[2]?.detail).toBe('show version')
  })

  it('reports the same fingerprint as ssh-keygen -lf for a given host key', async () => {
    const {private: hostKey} = ssh2.utils.generateKeyPairSync('ed25519')
    const dir = mkdtempSync(join(tmpdir(), 'simkey-'))
    try {
      writeFileSync(join(dir, 'key'), hostKey, {mode: 0o600})
      const printed = execFileSync('ssh-keygen', ['-lf', join(dir, 'key')], {encoding: 'utf8'})
      const sim = await startSim({hostKey})
      expect(printed.split(' ')[1]).toBe(sim.hostKeyFingerprint)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('rejects a client that pins another host key', async () => {
    const sim = await startSim()
    const c = new ssh2.Client()
    const err = await new Promise<Error & {level?: string}>((resolve) => {
      c.on('error', resolve)
      c.connect({host: '127.0.0.1', port: sim.port, username: 'admin', password: 'secret', hostVerifier: () => false})
    })
    c.end()
    expect(err.message).toMatch(/Host denied/)
  })

  it('answers show clock, running-config filters, install summary and terminal length', async () => {
    const sim = await startSim()
    const c = await connect(sim)
    const clock = await exec(c, 'show clock')
    expect(clock.stdout).toMatch(/^\*\d\d:\d\d:\d\d\.\d{3} UTC \w{3} \w{3} \d{1,2} \d{4}\r\n$/)
    const host = await exec(c, 'show running-config | include hostname')
    expect(host).toMatchObject({stdout: 'hostname sw1\r\n', code: 0})
    const abbreviated = await exec(c, 'sh ver | i ^Cisco IOS XE')
    expect(abbreviated.stdout).toBe('Cisco IOS XE Software, Version 17.06.05\r\n')
    const summary = await exec(c, 'show install summary')
    expect(summary.stdout).toMatch(/IMG\s+C\s+17\.06\.05\.0\.\d+/)
    const term = await exec(c, 'terminal length 0')
    expect(term).toMatchObject({stdout: '', code: 0})
    c.end()
  })

  it('marks invalid input with a caret and exit status 1', async () => {
    const sim = await startSim()
    const c = await connect(sim)
    const bad = await exec(c, 'show versoin')
    expect(bad.code).toBe(1)
    // caret under the bad word, counted from the start of the `sw1#` prompt
    expect(bad.stdout).toBe(`${' '.repeat('sw1#show '.length)}^\r\n% Invalid input detected at '^' marker.\r\n\r\n`)
    const bogus = await exec(c, 'frobnicate')
    expect(bogus.stdout.split('\r\n')[0]).toBe('    ^')
    expect(bogus.code).toBe(1)
    const incomplete = await exec(c, 'show')
    expect(incomplete).toMatchObject({stdout: '% Incomplete command.\r\n\r\n', code: 1})
    c.end()
  })

  it('lists the running and target images on flash:', async () => {
    const sim = await startSim()
    const r = await run(sim, 'dir flash:')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^Directory of flash:\/\r\n/)
    expect(r.stdout).toMatch(/^\s+\d+\s+-rw-\s+\d+\s+\w{3}\s+\d{1,2} \d{4} \d\d:\d\d:\d\d \+00:00\s+cat9k_iosxe\.17\.06\.05\.SPA\.bin\r$/m)
    expect(r.stdout).toContain(TARGET)
    expect(r.stdout).toContain('packages.conf')
    expect(r.stdout).toMatch(/^\d+ bytes total \(\d+ bytes free\)\r\n$/m)
  })

  it('installs, drops the connection without an exit status, refuses while booting and comes back upgraded', async () => {
    const sim = await startSim({bootTimeMs: 300})
    const before = sim.bootedAt
    const c = await connect(sim)
    const downSeen = nextEvent(sim, 'down')
    const upSeen = nextEvent(sim, 'up')
    const r = await exec(c, `install add file flash:${TARGET} activate commit prompt-level none`)
    expect(r.code).toBeUndefined()
    expect(r.clientClosed).toBe(true)
    expect(r.stdout).toMatch(/^install_add_activate_commit: START \w{3} \w{3} \d+ \d\d:\d\d:\d\d UTC \d{4}\r$/m)
    expect(r.stdout).toContain('install_add_activate_commit: Adding PACKAGE')
    expect(r.stdout).toContain('--- Starting initial file syncing ---')
    expect(r.stdout).toContain('Finished Activate')
    expect(r.stdout).toContain('Finished Commit')
    await downSeen
    expect(sim.isUp).toBe(false)
    expect(await tcpRefused(sim.port)).toBe(true)
    await upSeen
    expect(sim.isUp).toBe(true)
    expect(sim.reloads).toBe(1)
    expect(sim.version).toBe('17.09.05')

    const after = await run(sim, 'show version')
    expect(versionOf(after.stdout)).toBe('17.09.05')
    expect(after.stdout).toContain('Version 17.9.5, RELEASE SOFTWARE')
    expect(after.stdout).toContain('sw1 uptime is 0 minutes\r\n')
    expect(after.stdout).toMatch(/^System returned to ROM by Reload Command at \d\d:\d\d:\d\d UTC /m)
    expect(after.stdout).toContain('Last reload reason: Reload Command')
    const restarted = restartedAt(after.stdout)
    expect(restarted.getTime()).toBeGreaterThan(before.getTime())
    expect(Math.abs(restarted.getTime() - Date.now())).toBeLessThan(5000)

    const types = sim.events.map((e) => e.type)
    const order = ['install_started', 'reload', 'down', 'up'].map((t) => types.indexOf(t as SimEvent['type']))
    expect(order.every((i) => i >= 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    const reloadAt = sim.events.find((e) => e.type === 'reload')?.at ?? 0
    const upAt = sim.events.find((e) => e.type === 'up')?.at ?? 0
    expect(upAt - reloadAt).toBeGreaterThanOrEqual(290)
  })

  it('reload without an install comes back on the same version', async () => {
    const sim = await startSim({bootTimeMs: 100})
    const c = await connect(sim)
    const upSeen = nextEvent(sim, 'up')
    const r = await exec(c, 'reload')
    expect(r.code).toBeUndefined()
    await upSeen
    expect(sim.version).toBe('17.06.05')
    expect(sim.reloads).toBe(1)
  })

  it('refuses an image that is not on flash: without reloading', async () => {
    const sim = await startSim()
    const r = await run(sim, 'install add file flash:cat9k_iosxe.17.12.04.SPA.bin activate commit prompt-level none')
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/^%Error/m)
    await sleep(400)
    expect(sim.events.map((e) => e.type)).not.toContain('install_started')
    expect(sim.events.map((e) => e.type)).not.toContain('reload')
    expect(sim.isUp).toBe(true)
  })

  it('authenticates passwords and logs failures', async () => {
    const sim = await startSim()
    await expect(connect(sim, {password: 'wrong'})).rejects.toThrow(/authentication methods failed/)
    await expect(connect(sim, {password: 'secret', username: 'root'})).rejects.toThrow(/authentication methods failed/)
    const failed = sim.events.filter((e) => e.type === 'login_failed')
    expect(failed.length).toBeGreaterThanOrEqual(2)
    expect(failed[0]?.detail).toMatch(/^password admin from 127\.0\.0\.1$/)
    expect(sim.events.some((e) => e.type === 'login')).toBe(false)
  })

  it('authenticates a public key and rejects another one', async () => {
    const allowed = ssh2.utils.generateKeyPairSync('ed25519')
    const other = ssh2.utils.generateKeyPairSync('ed25519')
    const sim = await startSim({publicKey: allowed.public})
    const c = await connect(sim, {privateKey: allowed.private})
    const r = await exec(c, 'show running-config | include hostname')
    c.end()
    expect(r.stdout).toBe('hostname sw1\r\n')
    expect(sim.events.find((e) => e.type === 'login')?.detail).toBe('admin (publickey) from 127.0.0.1')
    await expect(connect(sim, {privateKey: other.private})).rejects.toThrow(/authentication methods failed/)
    expect(sim.events.filter((e) => e.type === 'login_failed').at(-1)?.detail).toMatch(/^publickey admin/)
  })

  it('accepts only public keys when no password is configured', async () => {
    const allowed = ssh2.utils.generateKeyPairSync('ecdsa', {bits: 256})
    const sim = new SimSwitch({name: 'sw2', port: 0, username: 'admin', publicKey: allowed.public, version: '17.06.05', bootTimeMs: 100})
    running.push(sim)
    await sim.start()
    await expect(connect(sim, {password: 'secret'})).rejects.toThrow(/authentication methods failed/)
    const c = await connect(sim, {privateKey: allowed.private})
    c.end()
  })

  it('gives an interactive shell a prompt', async () => {
    const sim = await startSim()
    const c = await connect(sim)
    const output = await new Promise<string>((resolve, reject) => {
      c.shell((err, stream) => {
        if (err) return reject(err)
        let out = ''
        stream.on('data', (d: Buffer) => {
          out += d.toString()
          if (out.endsWith('sw1#') && out.includes('hostname sw1')) stream.write('exit\r')
        })
        stream.on('close', () => resolve(out))
        stream.write('show running-config | include hostname\r')
      })
    })
    c.end()
    expect(output).toContain('hostname sw1\r\nsw1#')
  })
})

describe('SimSwitch faults', () => {
  const install = `install add file flash:${TARGET} activate commit prompt-level none`

  async function faulty(fault: LabFault, over: Partial<SimSwitchOptions> = {}): Promise<SimSwitch> {
    return startSim({faults: [fault], bootTimeMs: 100, ...over})
  }

  it('never_returns: reloads and never listens again', async () => {
    const sim = await faulty('never_returns')
    const down = nextEvent(sim, 'down')
    const r = await run(sim, install)
    expect(r.code).toBeUndefined()
    await down
    await sleep(400)
    expect(await tcpRefused(sim.port)).toBe(true)
    expect(sim.isUp).toBe(false)
    expect(sim.reloads).toBe(0)
    expect(sim.events.map((e) => e.type)).not.toContain('up')
  })

  it('old_version: comes back on the version it had', async () => {
    const sim = await faulty('old_version')
    const before = sim.bootedAt
    const up = nextEvent(sim, 'up')
    await run(sim, install)
    await up
    expect(sim.reloads).toBe(1)
    expect(sim.version).toBe('17.06.05')
    const r = await run(sim, 'show version')
    expect(versionOf(r.stdout)).toBe('17.06.05')
    expect(restartedAt(r.stdout).getTime()).toBeGreaterThan(before.getTime())
  })

  it('hang_install: prints START and nothing more, never reloads', async () => {
    const sim = await faulty('hang_install')
    const c = await connect(sim)
    let seen = ''
    const result = exec(c, install, (all) => {
      seen = all
    })
    await sleep(600)
    expect(seen).toMatch(/^install_add_activate_commit: START .*\r\n$/)
    expect(sim.events.map((e) => e.type)).toContain('install_started')
    expect(sim.events.map((e) => e.type)).not.toContain('reload')
    expect(sim.isUp).toBe(true)
    await sim.stop() // must also end the hanging exec
    const r = await result
    expect(r.code).toBeUndefined()
  })

  it('slow_boot: stays down bootTimeMs × slowBootFactor', async () => {
    const sim = await faulty('slow_boot', {bootTimeMs: 100, slowBootFactor: 5})
    const down = nextEvent(sim, 'down')
    const up = nextEvent(sim, 'up')
    await run(sim, install)
    const d = await down
    await sleep(250)
    expect(await tcpRefused(sim.port)).toBe(true)
    const u = await up
    expect(u.at - d.at).toBeGreaterThanOrEqual(495)
    expect(sim.version).toBe('17.09.05')
  })

  it('no_reload: prints success, exits 0 and never reloads (a later reload boots the new version)', async () => {
    const sim = await faulty('no_reload')
    const r = await run(sim, install)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('Finished Commit')
    expect(r.stdout).toMatch(/SUCCESS: install_add_activate_commit/)
    await sleep(400)
    expect(sim.events.map((e) => e.type)).not.toContain('reload')
    expect(sim.version).toBe('17.06.05')
    const summary = await run(sim, 'show install summary')
    expect(summary.stdout).toMatch(/IMG\s+U\s+17\.09\.05/)
    const up = nextEvent(sim, 'up')
    await run(sim, 'reload')
    await up
    expect(sim.version).toBe('17.09.05')
  })

  it('missing_image: only the running image is on flash:', async () => {
    const sim = await faulty('missing_image')
    const dir = await run(sim, 'dir flash:')
    expect(dir.stdout).toContain('cat9k_iosxe.17.06.05.SPA.bin')
    expect(dir.stdout).not.toContain(TARGET)
    const r = await run(sim, install)
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/^%Error opening flash:\/cat9k_iosxe\.17\.09\.05\.SPA\.bin \(No such file or directory\)/m)
  })

  it('hostile_output: show version and error output carry shell syntax and escape sequences (HOSTILE), the rest works', async () => {
    const sim = await startSim({faults: ['hostile_output']})
    const version = await run(sim, 'show version')
    expect(version.code).toBe(0)
    expect(version.stdout).toContain(`Cisco IOS XE Software, Version 17.06.05${HOSTILE.version}\r\n`)
    expect(version.stdout).toMatch(/^sw1 uptime is .*minutes?\x1b\[8m`touch pwned3`\x07\r$/m)
    expect(version.stdout).toContain('System restarted at ')
    const bad = await run(sim, 'show bogus')
    expect(bad.code).toBe(1)
    expect(bad.stdout).toContain(`% Invalid input detected at '^' marker.${HOSTILE.error}\r\n`)
    const missing = await run(sim, 'install add file flash:nope.bin activate commit prompt-level none')
    expect(missing.stdout).toContain(`%Error opening flash:/nope.bin (No such file or directory)${HOSTILE.error}`)
    // Anything else is as usual: it still installs and comes back on the target.
    const up = nextEvent(sim, 'up')
    await run(sim, install)
    await up
    expect(sim.version).toBe('17.09.05')
    expect((await run(sim, 'show version')).stdout).toContain(`Version 17.09.05${HOSTILE.version}`)
  })
})

describe('SimSwitch on an injected clock', () => {
  it('times the install, the boot, the events and show version on that clock', async () => {
    const t0 = Date.parse('2026-11-21T10:00:00Z')
    const clock = new FakeClock(t0)
    const sim = await startSim({clock, bootTimeMs: 120_000, installDelayMs: 5000, bootedAt: new Date('2026-11-01T00:00:00Z')})
    const c = await connect(sim)
    const result = exec(c, `install add file flash:${TARGET} activate commit prompt-level none`)
    await until(() => sim.events.some((e) => e.type === 'install_started'), 'install_started')
    await clock.advance(4999)
    expect(sim.isUp).toBe(true)
    await clock.advance(1)
    expect(sim.isUp).toBe(false)
    const r = await result
    expect(r.code).toBeUndefined()
    expect(r.stdout).toContain('install_add_activate_commit: START Sat Nov 21 10:00:00 UTC 2026\r\n')
    expect(r.stdout).toContain('SUCCESS: install_add_activate_commit  Sat Nov 21 10:00:05 UTC 2026\r\n')
    await clock.advance(119_999)
    expect(await tcpRefused(sim.port)).toBe(true)
    expect(sim.isUp).toBe(false)
    await clock.advance(1)
    await until(() => sim.isUp, 'the switch to come back')
    expect(sim.bootedAt.getTime()).toBe(t0 + 125_000)
    expect(sim.version).toBe('17.09.05')
    const at = (type: SimEvent['type']): number | undefined => sim.events.find((e) => e.type === type)?.at
    expect([at('install_started'), at('reload'), at('down'), at('up')]).toEqual([t0, t0 + 5000, t0 + 5000, t0 + 125_000])

    await clock.advance(61 * 60_000)
    const v = await run(sim, 'show version')
    expect(v.stdout).toContain('sw1 uptime is 1 hour, 1 minute\r\n')
    expect(v.stdout).toContain('System restarted at 10:02:05 UTC Sat Nov 21 2026\r\n')
    expect(v.stdout).toContain('System returned to ROM by Reload Command at 10:00:05 UTC Sat Nov 21 2026\r\n')
    expect((await run(sim, 'show clock')).stdout).toBe('*11:03:05.000 UTC Sat Nov 21 2026\r\n')
  })
})

describe('SimSwitch.stop', () => {
  function handles(): string[] {
    return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap' || r === 'TCPSocketWrap' || r === 'Timeout')
  }

  it('leaves no sockets, servers or timers behind, even mid-boot, and is idempotent', async () => {
    await sleep(50)
    const baseline = handles().length
    const sim = new SimSwitch({name: 'sw9', port: 0, username: 'admin', password: 'secret', version: '17.06.05', extraImages: [TARGET], bootTimeMs: 60_000, installDelayMs: 50})
    await sim.start()
    const c = await connect(sim)
    await exec(c, 'show version')
    const idle = await connect(sim) // stays connected
    const down = nextEvent(sim, 'down')
    void exec(c, `install add file flash:${TARGET} activate commit prompt-level none`)
    await down // now a 60 s boot timer is pending
    expect(handles().length).toBeGreaterThan(baseline)
    await Promise.all([sim.stop(), sim.stop()])
    await sim.stop()
    idle.end()
    c.end()
    await sleep(100)
    expect(handles().length).toBeLessThanOrEqual(baseline)
    expect(await tcpRefused(sim.port)).toBe(true)
  })

  it('closes live client connections', async () => {
    const sim = await startSim()
    const c = await connect(sim)
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
    await sim.stop()
    await closed
    await expect(sim.start()).rejects.toThrow(/start\(\) may be called once/)
  })
})
