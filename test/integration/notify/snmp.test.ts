/** SNMP traps over real UDP: chainup's notifier to the lab's receiver, and to Net-SNMP's snmptrapd where installed. */
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'

import {TrapReceiver, describeTrap} from '../../../src/lab/trap-receiver.js'
import {ChainupNotification, ChainupObject, StandardObject} from '../../../src/notify/oids.js'
import {type ChainTrap, SnmpNotifier} from '../../../src/notify/snmp.js'
import {timeoutTrap} from '../../helpers/traps.js'

const receivers: TrapReceiver[] = []
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.stop()))
})

async function receiver(opts: {community?: string} = {}): Promise<TrapReceiver> {
  const r = new TrapReceiver({port: 0, ...opts})
  receivers.push(r)
  await r.start()
  return r
}

describe('SnmpNotifier → TrapReceiver over UDP', () => {
  it('delivers a predecessor timeout trap with every varbind', async () => {
    const r = await receiver({community: 'lab-community'})
    const notifier = new SnmpNotifier([{host: '127.0.0.1', port: r.port, community: 'lab-community'}])
    const results = await notifier.send(timeoutTrap)
    notifier.close()
    expect(results).toEqual([{target: `127.0.0.1:${r.port}`, ok: true}])

    const t = await r.waitFor((x) => x.trapOid === ChainupNotification.chainupPredecessorTimeout, 3000)
    expect(t.community).toBe('lab-community')
    expect(t.from).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(Object.keys(t.varbinds)).toEqual([
      StandardObject.sysUpTime,
      StandardObject.snmpTrapOID,
      ChainupObject.chainupRunId,
      ChainupObject.chainupStack,
      ChainupObject.chainupPredecessor,
      ChainupObject.chainupReporter,
      ChainupObject.chainupReason,
      ChainupObject.chainupWaitedSeconds,
    ])
    expect(t.varbinds).toMatchObject({
      [StandardObject.snmpTrapOID]: ChainupNotification.chainupPredecessorTimeout,
      [ChainupObject.chainupRunId]: 'run-20261121-100203-ab12',
      [ChainupObject.chainupStack]: 'access-stack-1',
      [ChainupObject.chainupPredecessor]: 'sw1',
      [ChainupObject.chainupReporter]: 'sw2',
      [ChainupObject.chainupReason]: 'sw1 worked on its device for 21m 00s (limit 20m)',
      [ChainupObject.chainupWaitedSeconds]: 1260,
    })
    expect(typeof t.varbinds[StandardObject.sysUpTime]).toBe('number')
    expect(describeTrap(t)).toBe(
      `chainupPredecessorTimeout from ${t.from}: chainupRunId="run-20261121-100203-ab12" chainupStack="access-stack-1" chainupPredecessor="sw1" chainupReporter="sw2" chainupReason="sw1 worked on its device for 21m 00s (limit 20m)" chainupWaitedSeconds=1260`,
    )
  })

  it('sends to every target and reports an unreachable one instead of throwing', async () => {
    const a = await receiver()
    const b = await receiver()
    const notifier = new SnmpNotifier([
      {host: '127.0.0.1', port: a.port, community: 'public'},
      {host: 'no-such-host.invalid', port: 162, community: 'public'},
      {host: '127.0.0.1', port: b.port, community: 'public'},
    ])
    const results = await notifier.send({kind: 'chain_halted', runId: 'r2', stack: 's', reporter: 'sw3', reason: 'sw3 did not come back within 15m'})
    notifier.close()
    expect(results[0]).toEqual({target: `127.0.0.1:${a.port}`, ok: true})
    expect(results[1]).toMatchObject({target: 'no-such-host.invalid:162', ok: false})
    expect(results[1]?.error).toMatch(/ENOTFOUND|EAI_AGAIN|getaddrinfo/)
    expect(results[2]).toEqual({target: `127.0.0.1:${b.port}`, ok: true})
    for (const r of [a, b]) {
      const t = await r.waitFor(() => true, 3000)
      expect(t.trapOid).toBe(ChainupNotification.chainupChainHalted)
      expect(Object.keys(t.varbinds)).not.toContain(ChainupObject.chainupPredecessor)
      expect(Object.keys(t.varbinds)).not.toContain(ChainupObject.chainupWaitedSeconds)
    }
  })

  it('counts a trap to a port nobody listens on as sent (v2c traps are not acknowledged)', async () => {
    const r = await receiver()
    const port = r.port
    await r.stop()
    const notifier = new SnmpNotifier([{host: '127.0.0.1', port, community: 'public'}])
    expect(await notifier.send(timeoutTrap)).toEqual([{target: `127.0.0.1:${port}`, ok: true}])
  })

  it('v2c informs: the lab receiver acknowledges them (ok); an inform nobody acknowledges fails after its retries, the other receivers unaffected', async () => {
    const r = await receiver({community: 'noc'})
    const closed = await receiver()
    const deadPort = closed.port
    await closed.stop()
    const notifier = new SnmpNotifier([
      {host: '127.0.0.1', port: deadPort, community: 'noc', inform: true, timeoutMs: 150, retries: 2},
      {host: '127.0.0.1', port: r.port, community: 'noc', inform: true},
    ])
    const started = Date.now()
    const results = await notifier.send({kind: 'run_failed', runId: 'r3', stack: 's', reporter: 'run', reason: 'sw2 failed', runStatus: 'failed', durationSeconds: 42})
    notifier.close()
    expect(results).toEqual([
      {target: `127.0.0.1:${deadPort}`, ok: false, error: 'inform not acknowledged: 3 attempts, 150 ms each (Request timed out)'},
      {target: `127.0.0.1:${r.port}`, ok: true},
    ])
    expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 150 - 20)
    const t = await r.waitFor((x) => x.trapOid === ChainupNotification.chainupRunFailed, 3000)
    expect(t.varbinds[ChainupObject.chainupDurationSeconds]).toBe(42)
  })

  it('sends under snmp.enterprise_oid when a target carries one', async () => {
    const r = await receiver()
    const notifier = new SnmpNotifier([{host: '127.0.0.1', port: r.port, community: 'public', enterpriseOid: '1.3.6.1.4.1.99999'}])
    expect(await notifier.send(timeoutTrap)).toMatchObject([{ok: true}])
    notifier.close()
    const t = await r.waitFor(() => true, 3000)
    expect(t.trapOid).toBe('1.3.6.1.4.1.99999.1.0.1')
    expect(t.varbinds['1.3.6.1.4.1.99999.1.1.1']).toBe(timeoutTrap.runId)
  })

  it('reports every target as failed after close()', async () => {
    const notifier = new SnmpNotifier([{host: '127.0.0.1', port: 9, community: 'public'}])
    notifier.close()
    notifier.close()
    expect(await notifier.send(timeoutTrap)).toEqual([{target: '127.0.0.1:9', ok: false, error: 'notifier is closed'}])
    expect(await new SnmpNotifier([]).send(timeoutTrap)).toEqual([])
  })
})

// Interoperability with Net-SNMP's snmptrapd (Debian package `snmptrapd`); skipped where it is not installed.
const hasSnmptrapd = spawnSync('snmptrapd', ['--version']).status === 0 || spawnSync('/usr/sbin/snmptrapd', ['--version']).status === 0
describe.skipIf(!hasSnmptrapd)('SnmpNotifier → snmptrapd', () => {
  it('is logged by snmptrapd without a MIB, numerically (docs/snmp.md)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snmptrapd-'))
    const probe = new TrapReceiver({port: 0})
    await probe.start()
    const port = probe.port // a free UDP port, handed over to snmptrapd
    await probe.stop()
    const conf = join(dir, 'snmptrapd.conf')
    const log = join(dir, 'traps.log')
    writeFileSync(conf, `snmpTrapdAddr udp:127.0.0.1:${port}\nauthCommunity log lab-community\n`)
    const bin = spawnSync('snmptrapd', ['--version']).status === 0 ? 'snmptrapd' : '/usr/sbin/snmptrapd'
    const daemon = spawn(bin, ['-f', '-C', '-c', conf, '-m', '', '-n', '-Lf', log], {stdio: 'ignore', env: {...process.env, SNMP_PERSISTENT_DIR: dir}})
    try {
      await new Promise((r) => setTimeout(r, 500))
      const notifier = new SnmpNotifier([{host: '127.0.0.1', port, community: 'lab-community'}])
      let logged = ''
      for (let i = 0; i < 20 && !logged.includes('iso.3.6.1.4.1.32473.1.1.6'); i++) {
        if (i % 5 === 0) expect((await notifier.send(timeoutTrap))[0]?.ok).toBe(true)
        await new Promise((r) => setTimeout(r, 200))
        try {
          logged = readFileSync(log, 'utf8')
        } catch {
          logged = ''
        }
      }
      notifier.close()
      expect(logged).toContain('iso.3.6.1.6.3.1.1.4.1.0 = OID: iso.3.6.1.4.1.32473.1.0.1')
      expect(logged).toContain('iso.3.6.1.4.1.32473.1.1.1 = STRING: "run-20261121-100203-ab12"')
      expect(logged).toContain('iso.3.6.1.4.1.32473.1.1.6 = Gauge32: 1260')
    } finally {
      // Wait for the daemon to exit before removing its directory: it writes its persistent state there on SIGTERM.
      if (daemon.exitCode === null && daemon.signalCode === null && daemon.pid !== undefined) {
        const exited = new Promise<void>((ok) => daemon.once('exit', () => ok()))
        process.kill(daemon.pid, 'SIGTERM')
        const timer = setTimeout(() => daemon.exitCode === null && daemon.pid !== undefined && process.kill(daemon.pid, 'SIGKILL'), 2000)
        await exited
        clearTimeout(timer)
      }
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
