/**
 * Debian's Net-SNMP snmptrapd for the tests, in the foreground on a free 127.0.0.1 UDP port with a private
 * configuration (`-C -c CONF`), a private persistent directory, chainup's MIB loaded (`-M`/`-m`) and its log on
 * stdout (`-Lo`). Stopped by its pid. Tests skip when snmptrapd or snmptranslate is not installed (`.ci/run` installs
 * the Debian packages `snmptrapd` and `snmp`).
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import dgram from 'node:dgram'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

/** The repository's MIBs and the SMIv2 base modules (SNMPv2-SMI, -TC, -CONF) net-snmp ships: Debian ships none. */
export const MIB_DIRS = [resolve('mibs'), resolve('node_modules/net-snmp/lib/mibs')]

/** The first of `names` that runs with `versionFlag` and exits 0 (a version flag never starts a daemon). */
function which(names: string[], versionFlag: string): string | undefined {
  return names.find((bin) => spawnSync(bin, [versionFlag], {stdio: 'ignore', timeout: 5000}).status === 0)
}

/** Path of snmptrapd, or undefined when it is not installed. */
export const SNMPTRAPD = which(['/usr/sbin/snmptrapd', 'snmptrapd'], '--version')
/** Path of snmptranslate, or undefined when it is not installed. */
export const SNMPTRANSLATE = which(['/usr/bin/snmptranslate', 'snmptranslate'], '-V')

if (!SNMPTRAPD) console.warn('snmptrapd is not installed (Debian package snmptrapd): the snmptrapd interoperability tests are skipped')
if (!SNMPTRANSLATE) console.warn('snmptranslate is not installed (Debian package snmp): the MIB tests are skipped')

/** A free UDP port on 127.0.0.1 (bound, read, released: handed over to the daemon). */
export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((ok) => socket.bind(0, '127.0.0.1', ok))
  const {port} = socket.address()
  await new Promise<void>((ok) => socket.close(() => ok()))
  return port
}

/** A running snmptrapd. */
export class Snmptrapd {
  private output = ''
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    child.stdout?.on('data', (b: Buffer) => (this.output += b.toString('utf8')))
    child.stderr?.on('data', (b: Buffer) => (this.output += b.toString('utf8')))
  }

  /**
   * Starts snmptrapd with `lines` as its configuration (after `snmpTrapdAddr`), resolving once it logs that it runs.
   * @throws Error when it exits or does not start within 5000 ms (its output included)
   */
  static async start(lines: string[]): Promise<Snmptrapd> {
    if (!SNMPTRAPD) throw new Error('snmptrapd is not installed')
    const dir = mkdtempSync(join(tmpdir(), 'chainup-snmptrapd-'))
    const port = await freeUdpPort()
    const conf = join(dir, 'snmptrapd.conf')
    // Its persistent state (engine boots, users) goes to `dir` through SNMP_PERSISTENT_DIR, not /var/lib/snmp.
    writeFileSync(conf, [`snmpTrapdAddr udp:127.0.0.1:${port}`, ...lines, ''].join('\n'))
    const child = spawn(SNMPTRAPD, ['-f', '-C', '-c', conf, '-M', MIB_DIRS.join(':'), '-m', 'CHAINUP-MIB', '-Lo'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {...process.env, SNMP_PERSISTENT_DIR: dir, SNMPCONFPATH: dir, MIBS: '', MIBDIRS: ''},
    })
    const daemon = new Snmptrapd(port, child, dir)
    try {
      await daemon.waitFor((out) => /NET-SNMP version/.test(out), 5000)
    } catch (error) {
      await daemon.stop()
      throw error
    }
    return daemon
  }

  /** Everything it printed so far. */
  get log(): string {
    return this.output
  }

  /**
   * Resolves with the output once `pred` holds for it.
   * @throws Error after `timeoutMs` or when the daemon exits first, with what it printed
   */
  async waitFor(pred: (output: string) => boolean, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs
    while (!pred(this.output)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`snmptrapd exited (${this.child.exitCode ?? this.child.signalCode}):\n${this.output}`)
      if (Date.now() > deadline) throw new Error(`snmptrapd did not print what was expected within ${timeoutMs} ms; it printed:\n${this.output}`)
      await new Promise((r) => setTimeout(r, 50))
    }
    return this.output
  }

  /** Stops it by its pid (SIGTERM, then SIGKILL after 2 s) and removes its directory. Idempotent. */
  async stop(): Promise<void> {
    const {child} = this
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise<void>((ok) => child.once('exit', () => ok()))
      process.kill(child.pid, 'SIGTERM')
      const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 2000)
      await exited
      clearTimeout(timer)
    }
    rmSync(this.dir, {recursive: true, force: true})
  }
}
