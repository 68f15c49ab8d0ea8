/**
 * chainup's two copy paths against OpenSSH's real sshd (docs/staging.md "Methods"): the SCP push talks to OpenSSH's
 * own `scp -t` sink, the SFTP path to its sftp-server. One sshd on a free loopback port with its own host key and
 * authorized key, stopped by its pid. The host key is verified by fingerprint like on a device.
 *
 * Needs root (PermitRootLogin for the current user without PAM) and /usr/sbin/sshd; skipped otherwise.
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir, userInfo} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {fingerprintOf} from '../../src/device/known-hosts.js'
import {ScpError} from '../../src/device/scp.js'
import {Credentials} from '../../src/device/ssh-session.js'
import {connectTransfer, type TransferSession} from '../../src/device/staging-ssh.js'
import {freePorts} from '../helpers/lab-stack.js'

const SSHD = '/usr/sbin/sshd'
const SFTP_SERVER = ['/usr/lib/openssh/sftp-server', '/usr/libexec/sftp-server'].find((p) => existsSync(p))
const skip = !existsSync(SSHD) || process.getuid?.() !== 0 || !SFTP_SERVER
if (skip) console.warn('staging sshd test skipped: needs root, /usr/sbin/sshd and sftp-server (apt-get install openssh-server)')

let dir: string
let port: number
let sshd: ChildProcess | undefined
let fingerprint: string
let image: Buffer
const log: string[] = []

beforeAll(async () => {
  if (skip) return
  dir = mkdtempSync(join(tmpdir(), 'chainup-staging-sshd-'))
  for (const k of ['host_key', 'client_key']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', k, '-f', join(dir, k)], {stdio: 'ignore'})
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')))
  ;[port] = (await freePorts(1)) as [number]
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin yes',
      `AllowUsers ${userInfo().username}`,
      `Subsystem sftp ${SFTP_SERVER}`,
      'UseDNS no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  )
  mkdirSync('/run/sshd', {recursive: true})
  mkdirSync(join(dir, 'flash'))
  image = randomBytes(6 * 1024 * 1024 + 123)
  writeFileSync(join(dir, 'image.bin'), image)
  const child = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], {stdio: ['ignore', 'ignore', 'pipe']})
  sshd = child
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()))
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), res(true)))
      s.on('error', () => res(false))
    })
    if (up) break
    await sleep(25)
  }
  fingerprint = fingerprintOf(Buffer.from(readFileSync(join(dir, 'host_key.pub'), 'utf8').split(/\s+/)[1]!, 'base64'))
}, 30_000)

afterAll(async () => {
  if (sshd && sshd.exitCode === null && sshd.signalCode === null) {
    const exited = new Promise((r) => sshd!.once('exit', r))
    process.kill(sshd.pid!, 'SIGTERM')
    await exited
  }
  if (dir) rmSync(dir, {recursive: true, force: true})
})

async function connect(): Promise<TransferSession> {
  return connectTransfer({
    device: 'sshd',
    host: '127.0.0.1',
    port,
    credentials: new Credentials(userInfo().username, {privateKey: readFileSync(join(dir, 'client_key'))}),
    hostKey: {kind: 'fingerprint', fingerprint},
    timeoutMs: 10_000,
  })
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex')

describe.skipIf(skip)('image copies to OpenSSH sshd', () => {
  it.each(['scp', 'sftp'] as const)('%s: the file arrives byte for byte, progress up to its size', async (method) => {
    const session = await connect()
    const remote = join(dir, 'flash', `${method}.bin`)
    const seen: number[] = []
    try {
      await session[method]({file: join(dir, 'image.bin'), size: image.length, remotePath: remote, name: `${method}.bin`, onBytes: (n) => seen.push(n)})
    } finally {
      session.close()
    }
    expect(md5(readFileSync(remote)), log.join('')).toBe(md5(image))
    expect(seen.at(-1)).toBe(image.length)
    expect(seen).toEqual([...seen].sort((a, b) => a - b))
  })

  it('scp: OpenSSH\'s sink refusing the destination is a refusal with its message, not an interruption', async () => {
    const session = await connect()
    try {
      const error = await session.scp({file: join(dir, 'image.bin'), size: image.length, remotePath: join(dir, 'no-such-dir', 'x.bin'), name: 'x.bin'}).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ScpError)
      expect((error as ScpError).interrupted).toBe(false)
      expect((error as ScpError).message).toMatch(/refused .*No such file or directory/)
    } finally {
      session.close()
    }
  })

  it('refuses a host key other than the pinned one before logging in', async () => {
    const error = await connectTransfer({
      device: 'sshd',
      host: '127.0.0.1',
      port,
      credentials: new Credentials(userInfo().username, {privateKey: readFileSync(join(dir, 'client_key'))}),
      hostKey: {kind: 'fingerprint', fingerprint: 'SHA256:' + 'A'.repeat(43)},
      timeoutMs: 10_000,
    }).catch((e: unknown) => e)
    expect((error as {kind?: string}).kind).toBe('host_key')
  })
})
