/**
 * `npm run bench:staging`: image staging throughput (issue #10). Uploads one 512 MiB file to OpenSSH's sshd on
 * loopback (started here on a free port with its own host key and authorized key, stopped by pid) with chainup's two
 * copy paths — the SCP sink protocol over exec (`scp -t`) and SFTP `fastPut` — and with OpenSSH's own `scp`, all
 * with the same cipher (aes128-gcm@openssh.com), in interleaved rounds (each round runs every method once, in a
 * rotated order). Each copy is timed from connect to the closed channel (OpenSSH's `scp` is timed as a process, its
 * handshake included), and every copy's remote MD5 is checked. Writes MB/s (median, min, max) and the ratio to
 * OpenSSH's scp into docs/benchmarks.md ("Image staging").
 *
 * Options: `--runs N` (default 5), `--mib N` (default 512), `--only scp|sftp|openssh-scp|openssh-sftp` (one method,
 * e.g. under `node --cpu-prof`), `--no-write` (do not touch docs/benchmarks.md), and the tuning knobs
 * `--scp-chunk BYTES`, `--sftp-concurrency N`, `--sftp-chunk BYTES`.
 */
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {createHash, randomBytes} from 'node:crypto'
import {closeSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync} from 'node:fs'
import net from 'node:net'
import {cpus, release, tmpdir, totalmem, userInfo} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {fingerprintOf} from '../src/device/known-hosts.js'
import {Credentials} from '../src/device/ssh-session.js'
import {connectTransfer, type TransferTuning} from '../src/device/staging-ssh.js'

const CIPHER = 'aes128-gcm@openssh.com'
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
const METHODS = ['chainup-scp', 'chainup-sftp', 'openssh-scp', 'openssh-sftp'] as const
type Method = (typeof METHODS)[number]
const LABEL: Record<Method, string> = {
  'chainup-scp': 'chainup SCP (scp -t over exec, ssh2)',
  'chainup-sftp': 'chainup SFTP (ssh2 fastPut)',
  'openssh-scp': 'OpenSSH scp -O (SCP protocol)',
  'openssh-sftp': 'OpenSSH scp (SFTP protocol, the 9.x default)',
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = net.createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => res(port))
    })
  })
}

/** Writes `mib` MiB of random bytes in 8 MiB pieces; returns its MD5. */
function makeImage(file: string, mib: number): string {
  const md5 = createHash('md5')
  const fd = openSync(file, 'w')
  try {
    for (let left = mib; left > 0; left -= 8) {
      const chunk = randomBytes(Math.min(8, left) * 1024 * 1024)
      md5.update(chunk)
      writeSync(fd, chunk)
    }
  } finally {
    closeSync(fd)
  }
  return md5.digest('hex')
}

async function md5Of(file: string): Promise<string> {
  const h = createHash('md5')
  for await (const chunk of createReadStream(file, {highWaterMark: 4 * 1024 * 1024}) as AsyncIterable<Buffer>) h.update(chunk)
  return h.digest('hex')
}

interface Sshd {
  port: number
  hostKeyFingerprint: string
  clientKey: string
  child: ChildProcess
  stop(): Promise<void>
}

/** sshd -D on 127.0.0.1:port with its own host key; pubkey login for the current user; SFTP via sftp-server. */
async function startSshd(dir: string): Promise<Sshd> {
  const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', file], {stdio: 'ignore'})
  keygen(join(dir, 'host_key'))
  keygen(join(dir, 'client_key'))
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')))
  const port = await freePort()
  const sftpServer = ['/usr/lib/openssh/sftp-server', '/usr/libexec/sftp-server'].find((p) => existsSync(p)) ?? 'internal-sftp'
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
      'PubkeyAuthentication yes',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin yes',
      `AllowUsers ${userInfo().username}`,
      `Ciphers ${CIPHER}`,
      `Subsystem sftp ${sftpServer}`,
      'UseDNS no',
      'PrintMotd no',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  )
  mkdirSync('/run/sshd', {recursive: true})
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], {stdio: ['ignore', 'ignore', 'pipe']})
  let log = ''
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()))
  // Wait until the port accepts connections.
  for (let i = 0; ; i++) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy()
        res(true)
      })
      s.on('error', () => res(false))
    })
    if (ok) break
    if (i > 100 || child.exitCode !== null) throw new Error(`sshd did not start: ${log}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  const pub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(/\s+/)[1]!
  return {
    port,
    hostKeyFingerprint: fingerprintOf(Buffer.from(pub, 'base64')),
    clientKey: join(dir, 'client_key'),
    child,
    stop: () =>
      new Promise<void>((res) => {
        if (child.exitCode !== null || child.signalCode !== null) return res()
        child.once('exit', () => res())
        // sshd's per-connection children exit with their connections; the listener is our child, stopped by its pid.
        process.kill(child.pid!, 'SIGTERM')
      }),
  }
}

/** One copy; resolves with its duration in ms. */
async function copyOnce(method: Method, sshd: Sshd, file: string, size: number, remote: string, tuning: TransferTuning): Promise<number> {
  const started = process.hrtime.bigint()
  if (method === 'chainup-scp' || method === 'chainup-sftp') {
    const session = await connectTransfer({
      device: 'bench',
      host: '127.0.0.1',
      port: sshd.port,
      credentials: new Credentials(userInfo().username, {privateKey: readFileSync(sshd.clientKey)}),
      hostKey: {kind: 'fingerprint', fingerprint: sshd.hostKeyFingerprint},
      timeoutMs: 10_000,
      ciphers: [CIPHER],
      tuning,
    })
    try {
      const request = {file, size, remotePath: remote, name: 'image.bin'}
      await (method === 'chainup-scp' ? session.scp(request) : session.sftp(request))
    } finally {
      session.close()
    }
  } else {
    const args = [
      ...(method === 'openssh-scp' ? ['-O'] : []),
      '-q',
      '-c',
      CIPHER,
      '-P',
      String(sshd.port),
      '-i',
      sshd.clientKey,
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'BatchMode=yes',
      file,
      `${userInfo().username}@127.0.0.1:${remote}`,
    ]
    await new Promise<void>((res, rej) => {
      const p = spawn('scp', args, {stdio: ['ignore', 'ignore', 'pipe']})
      let err = ''
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()))
      p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`scp exited ${code}: ${err}`))))
    })
  }
  return Number(process.hrtime.bigint() - started) / 1e6
}

interface Stats {
  method: Method
  mbps: number[]
}

function render(stats: Stats[], meta: {runs: number; mib: number; tuning: TransferTuning; machine: string; date: string; openssh: string}): string {
  const ref = (m: Method) => median(stats.find((s) => s.method === m)!.mbps)
  const scpRef = ref('openssh-scp')
  const row = (s: Stats) => {
    const med = median(s.mbps)
    return `| ${LABEL[s.method]} | ${med.toFixed(0)} | ${Math.min(...s.mbps).toFixed(0)} | ${Math.max(...s.mbps).toFixed(0)} | ${(med / scpRef).toFixed(2)}× | ${s.mbps.map((x) => x.toFixed(0)).join(' · ')} |`
  }
  const verdict = (m: Method) => {
    const ratio = ref(m) / scpRef
    return `${LABEL[m]}: ${ratio.toFixed(2)}× OpenSSH scp -O against ≥ 0.9×: ${ratio >= 0.9 ? 'met' : 'missed'} (${(ref(m) / ref('openssh-sftp')).toFixed(2)}× OpenSSH's default scp over SFTP).`
  }
  return [
    '## Image staging (`npm run bench:staging`)',
    '',
    `Measured ${meta.date} on ${meta.machine}; ${meta.openssh}.`,
    `One ${meta.mib} MiB file of random bytes uploaded to OpenSSH's sshd on 127.0.0.1 (its own host key and authorized key, \`Ciphers ${CIPHER}\`; ssh2 is given only that cipher, OpenSSH's scp gets \`-c ${CIPHER}\`), ${meta.runs} interleaved rounds (every method once per round, order rotated), the remote file's MD5 checked after every copy. A copy is timed from connect to the closed channel (OpenSSH's scp as a process, its handshake included). MB/s = 10^6 bytes per second. chainup's settings: SCP read chunk ${meta.tuning.scpChunkBytes ?? 1024 * 1024} bytes, SFTP fastPut concurrency ${meta.tuning.sftpConcurrency ?? 64} × chunk ${meta.tuning.sftpChunkSize ?? 32768} bytes.`,
    '',
    '| method | MB/s median | min | max | vs OpenSSH scp -O | every run |',
    '|---|---|---|---|---|---|',
    ...stats.map(row),
    '',
    'Target (issue #10): chainup\'s SCP and SFTP paths ≥ 0.9× OpenSSH\'s scp, same cipher.',
    '',
    `- ${verdict('chainup-scp')}`,
    `- ${verdict('chainup-sftp')}`,
    '',
  ].join('\n')
}

async function main(): Promise<void> {
  const runs = Number(arg('runs') ?? 5)
  const mib = Number(arg('mib') ?? 512)
  const only = arg('only') as Method | undefined
  const tuning: TransferTuning = {
    ...(arg('scp-chunk') ? {scpChunkBytes: Number(arg('scp-chunk'))} : {}),
    ...(arg('sftp-concurrency') ? {sftpConcurrency: Number(arg('sftp-concurrency'))} : {}),
    ...(arg('sftp-chunk') ? {sftpChunkSize: Number(arg('sftp-chunk'))} : {}),
  }
  const methods = only ? [only] : [...METHODS]
  const dir = mkdtempSync(join(tmpdir(), 'chainup-bench-staging-'))
  let sshd: Sshd | undefined
  try {
    const file = join(dir, 'image.bin')
    process.stderr.write(`writing a ${mib} MiB image ...\n`)
    const md5 = makeImage(file, mib)
    const size = statSync(file).size
    sshd = await startSshd(dir)
    const remoteDir = join(dir, 'remote')
    mkdirSync(remoteDir)
    const stats: Stats[] = methods.map((method) => ({method, mbps: []}))
    // One warm-up copy per method (page cache, sshd's first fork), not counted.
    for (let round = -1; round < runs; round++) {
      const order = methods.map((_m, i) => methods[(i + Math.max(0, round)) % methods.length]!)
      for (const method of order) {
        const remote = join(remoteDir, `${method}.bin`)
        const ms = await copyOnce(method, sshd, file, size, remote, tuning)
        const got = await md5Of(remote)
        rmSync(remote)
        if (got !== md5) throw new Error(`${method}: the remote copy's MD5 is ${got}, expected ${md5}`)
        const mbps = size / 1e6 / (ms / 1000)
        process.stderr.write(`${round < 0 ? 'warm-up' : `round ${round + 1}`} ${method}: ${ms.toFixed(0)} ms, ${mbps.toFixed(0)} MB/s\n`)
        if (round >= 0) stats.find((s) => s.method === method)!.mbps.push(mbps)
      }
    }
    for (const s of stats) process.stdout.write(`${LABEL[s.method]}: median ${median(s.mbps).toFixed(0)} MB/s (min ${Math.min(...s.mbps).toFixed(0)}, max ${Math.max(...s.mbps).toFixed(0)})\n`)
    if (only || process.argv.includes('--no-write')) return
    const cpu = cpus()
    const machine = `${cpu.length} × ${cpu[0]?.model.trim() ?? 'CPU'}, ${Math.round(totalmem() / 1024 ** 3)} GiB RAM, Node ${process.version}, Linux ${release()}`
    const openssh = execFileSync('ssh', ['-V'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']}).trim() || 'OpenSSH'
    const section = render(stats, {runs, mib, tuning, machine, date: new Date().toISOString().slice(0, 10), openssh: spawnVersion() ?? openssh})
    const doc = join(ROOT, 'docs/benchmarks.md')
    const text = readFileSync(doc, 'utf8')
    const start = text.indexOf('## Image staging')
    const next = start < 0 ? -1 : text.indexOf('\n## ', start + 1)
    const updated = start < 0 ? `${text.trimEnd()}\n\n${section}` : `${text.slice(0, start)}${section}${next < 0 ? '' : text.slice(next)}`
    writeFileSync(doc, updated.endsWith('\n') ? updated : `${updated}\n`)
    process.stderr.write(`wrote the "Image staging" section of ${doc}\n`)
  } finally {
    await sshd?.stop()
    rmSync(dir, {recursive: true, force: true})
  }
}

/** `OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 …` (ssh -V prints on stderr). */
function spawnVersion(): string | undefined {
  try {
    const out = execFileSync('sh', ['-c', 'ssh -V 2>&1'], {encoding: 'utf8'})
    return out.trim().split('\n')[0]
  } catch {
    return undefined
  }
}

await main()
