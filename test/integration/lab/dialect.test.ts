/**
 * The lab's dialects (src/lab/dialects) over real SSH: each platform's show version and errors in an exec channel,
 * its prompt and pager in a PTY shell (through chainup's interactive session), its questions, and the faults an
 * inventory may name (never_returns, old_version, no_reload, missing_image).
 */
import {afterEach, describe, expect, it} from 'vitest'

import {connectDevice, Credentials, type SshDeviceSession} from '../../../src/device/ssh-session.js'
import {dialectFor} from '../../../src/lab/dialects/index.js'
import {SimSwitch, type SimFault} from '../../../src/lab/sim-switch.js'

let sim: SimSwitch | undefined
let session: SshDeviceSession | undefined
afterEach(async () => {
  session?.close()
  session = undefined
  await sim?.stop()
  sim = undefined
})

const PLATFORMS = {
  eos: {version: '4.28.3M', target: 'EOS-4.30.1F.swi', facts: /Software image version: 4\.28\.3M/, uptime: /^Uptime: 3 weeks, 2 days, 4 hours and 17 minutes$/m, invalid: /^% Invalid input/m, prompt: '^[\\w.-]+(\\(config[\\w-]*\\))?[>#] ?$', pager: 'terminal length 0', list: 'dir flash:'},
  junos: {version: '21.2R3-S4.8', target: 'jinstall-ex-4300-21.4R3-S5.4-signed.tgz', facts: /^Junos: 21\.2R3-S4\.8$/m, uptime: null, invalid: /^syntax error\.$/m, prompt: '^[\\w.-]+@[\\w.-]+[>#%] ?$', pager: 'set cli screen-length 0', list: 'file list /var/tmp/'},
  nxos: {version: '9.3.8', target: 'nxos.9.3.10.bin', facts: /NXOS: version 9\.3\(8\)\n {2}BIOS compile time/, uptime: /^Kernel uptime is 23 day\(s\), 4 hour\(s\), 17 minute\(s\), \d+ second\(s\)$/m, invalid: /^% Invalid command at '\^' marker\.$/m, prompt: '^[\\w.-]+(\\(config[\\w-]*\\))?# ?$', pager: 'terminal length 0', list: 'dir bootflash:'},
  sonic: {version: '202205.1', target: 'sonic-broadcom-202305.1.bin', facts: /^SONiC Software Version: SONiC\.202205\.1-[0-9a-f]{7}$/m, uptime: /^Uptime: \d\d:\d\d:\d\d up 23 days, 4:17, {2}1 user/m, invalid: /^bash: frobnicate: command not found$/m, prompt: '^[\\w.-]+@[\\w.-]+:[^\\n]*[$#] ?$', pager: undefined, list: 'ls'},
} as const
type Platform = keyof typeof PLATFORMS

async function start(platform: Platform, faults: SimFault[] = [], extra: {bootTimeMs?: number} = {}): Promise<SimSwitch> {
  const p = PLATFORMS[platform]
  sim = new SimSwitch({
    name: 'sw1',
    port: 0,
    username: 'netops',
    password: 'pw',
    version: p.version,
    extraImages: [p.target],
    bootTimeMs: extra.bootTimeMs ?? 200,
    installDelayMs: 50,
    faults,
    bootedAt: new Date(Date.now() - ((23 * 24 + 4) * 60 + 17) * 60_000),
    dialect: dialectFor(platform)!,
  })
  await sim.start()
  return sim
}

async function connect(platform: Platform, mode: 'exec' | 'interactive' = 'exec'): Promise<SshDeviceSession> {
  const p = PLATFORMS[platform]
  session = await connectDevice({
    device: 'sw1',
    host: '127.0.0.1',
    port: sim!.port,
    credentials: new Credentials('netops', {password: 'pw'}),
    hostKey: {kind: 'fingerprint', fingerprint: sim!.hostKeyFingerprint},
    timeoutMs: 5000,
    session: mode,
    interactive: {prompt: p.prompt, ...(p.pager ? {pager: p.pager} : {})},
  })
  return session
}

const waitFor = async (what: () => boolean, ms = 5000) => {
  const until = Date.now() + ms
  while (!what() && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
  return what()
}

describe.each(Object.keys(PLATFORMS) as Platform[])('%s dialect', (platform) => {
  const p = PLATFORMS[platform]

  it('answers show version in an exec channel (version, uptime), and an unknown command with its error and exit 1 or more', async () => {
    await start(platform)
    const s = await connect(platform)
    const version = await s.exec('show version', 5000)
    expect(version.exitCode).toBe(0)
    expect(version.output).toMatch(p.facts)
    if (p.uptime) expect(version.output).toMatch(p.uptime)
    const bad = await s.exec(platform === 'sonic' ? 'frobnicate' : 'show frobnicate', 5000)
    expect(bad.output).toMatch(p.invalid)
    expect(bad.exitCode).toBeGreaterThanOrEqual(1)
    expect(sim!.events.filter((e) => e.type === 'exec').map((e) => e.detail)).toContain('show version')
  })

  it('speaks the same in the PTY shell through the interactive session (prompt, pager off, no echo in the output)', async () => {
    await start(platform)
    const s = await connect(platform, 'interactive')
    const version = await s.exec('show version', 5000)
    expect(version.exitCode).toBe(0)
    expect(version.output).toMatch(p.facts)
    expect(version.output).not.toMatch(/[\r\x1b]|show version/)
    const listing = await s.exec(p.list, 5000)
    expect(listing.output).toContain(p.target)
    const typed = sim!.events.filter((e) => e.type === 'exec').map((e) => e.detail)
    expect(typed).toEqual([...(p.pager ? [p.pager] : []), 'show version', p.list])
  })

  it('missing_image: only the running image is there', async () => {
    await start(platform, ['missing_image'])
    const s = await connect(platform)
    expect((await s.exec(p.list, 5000)).output).not.toContain(p.target)
  })
})

describe('pager and questions in the shell', () => {
  it('pages long output with the platform marker when nobody turned the pager off; the session presses space and strips it', async () => {
    await start('nxos')
    session = await connectDevice({
      device: 'sw1',
      host: '127.0.0.1',
      port: sim!.port,
      credentials: new Credentials('netops', {password: 'pw'}),
      hostKey: {kind: 'fingerprint', fingerprint: sim!.hostKeyFingerprint},
      timeoutMs: 5000,
      session: 'interactive',
      interactive: {prompt: PLATFORMS.nxos.prompt},
    })
    // show version is 25 lines: one page of 23 and the marker, then the rest after a space.
    const r = await session.exec('show version', 5000)
    expect(r.output).toMatch(/^ {2}Service: $/m)
    expect(r.output).toMatch(/^Cisco Nexus Operating System/)
    expect(r.output).not.toContain('More')
    expect(r.output.split('\n').filter((l) => l !== '')).toHaveLength(21)
  })

  it('NX-OS install all in an exec channel waits on its (y/n) question until the command times out (why the playbook is interactive)', async () => {
    await start('nxos')
    const s = await connect('nxos')
    await expect(s.exec('install all nxos bootflash:nxos.9.3.10.bin', 1500)).rejects.toThrow(/did not finish within/)
    expect(sim!.events.some((e) => e.type === 'reload')).toBe(false)
  })

  it('NX-OS install all answered "n" is aborted; answered "y" installs and reloads onto the new version', async () => {
    await start('nxos')
    const s = await connect('nxos', 'interactive')
    const no = await s.exec('install all nxos bootflash:nxos.9.3.10.bin', 5000, {answers: [{prompt: '\\(y/n\\)\\?', send: 'n'}]})
    expect(no.output).toMatch(/^Install is aborted$/m)
    const yes = await s.exec('install all nxos bootflash:nxos.9.3.10.bin', 5000, {answers: [{prompt: '\\(y/n\\)\\?', send: 'y'}]})
    expect(yes.dropped).toBe(true)
    expect(yes.output).toContain('Finishing the upgrade, switch will reboot in 10 seconds.')
    expect(await waitFor(() => sim!.isUp && sim!.reloads === 1)).toBe(true)
    expect(sim!.version).toBe('9.3.10')
  })

  it('EOS reload asks [confirm]; boot system only in configuration mode', async () => {
    await start('eos')
    const s = await connect('eos', 'interactive')
    expect((await s.exec('boot system flash:EOS-4.30.1F.swi', 5000)).output).toMatch(/^% Invalid input/m)
    await s.exec('configure', 5000)
    expect((await s.exec('boot system flash:EOS-4.99.9F.swi', 5000)).output).toMatch(/^% Error: image file flash:EOS-4.99.9F.swi does not exist$/m)
    expect((await s.exec('boot system flash:EOS-4.30.1F.swi', 5000)).output).toBe('')
    await s.exec('end', 5000)
    const r = await s.exec('reload', 5000, {answers: [{prompt: '\\[confirm\\]', send: ''}]})
    expect(r.dropped).toBe(true)
    expect(await waitFor(() => sim!.isUp && sim!.reloads === 1)).toBe(true)
    expect(sim!.version).toBe('4.30.1F')
  })
})

describe('faults', () => {
  it('never_returns: the reload drops every connection and the device never listens again', async () => {
    await start('sonic', ['never_returns'])
    const s = await connect('sonic')
    await s.exec('sudo sonic-installer install -y sonic-broadcom-202305.1.bin', 5000)
    expect((await s.exec('sudo reboot', 5000)).dropped).toBe(true)
    await new Promise((r) => setTimeout(r, 600))
    expect(sim!.isUp).toBe(false)
    expect(sim!.reloads).toBe(0)
  })

  it('old_version: it reloads and comes back on the version it had, with a new boot time', async () => {
    await start('junos', ['old_version'])
    const before = sim!.bootedAt
    const s = await connect('junos')
    expect((await s.exec('request system software add /var/tmp/jinstall-ex-4300-21.4R3-S5.4-signed.tgz reboot', 5000)).dropped).toBe(true)
    expect(await waitFor(() => sim!.isUp && sim!.reloads === 1)).toBe(true)
    expect(sim!.version).toBe('21.2R3-S4.8')
    expect(sim!.bootedAt.getTime()).toBeGreaterThan(before.getTime())
  })

  it('no_reload: the install reports success and the device stays up on its version', async () => {
    await start('sonic', ['no_reload'])
    const s = await connect('sonic')
    await s.exec('sudo sonic-installer install -y sonic-broadcom-202305.1.bin', 5000)
    const r = await s.exec('sudo reboot', 5000)
    expect(r).toMatchObject({dropped: false, exitCode: 0})
    expect(sim!.reloads).toBe(0)
    expect((await s.exec('sudo sonic-installer list', 5000)).output).toContain('Next: SONiC-OS-202305.1')
  })
})
