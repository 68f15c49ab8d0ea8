import {spawnSync} from 'node:child_process'
import dgram from 'node:dgram'
import * as snmp from 'net-snmp'
import {afterEach, describe, expect, it} from 'vitest'

import {type RejectedDatagram, TrapReceiver, describeTrap} from '../../../src/lab/trap-receiver.js'
import {StandardObject} from '../../../src/notify/oids.js'

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

function sendRaw(port: number, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4')
    s.send(data, port, '127.0.0.1', (err) => {
      s.close()
      if (err) reject(err)
      else resolve()
    })
  })
}

function nextRejected(r: TrapReceiver): Promise<RejectedDatagram> {
  return new Promise((resolve) => r.once('rejected', resolve))
}

describe('TrapReceiver', () => {
  it('binds an ephemeral port when asked for port 0', async () => {
    const r = await receiver()
    expect(r.port).toBeGreaterThan(1023)
    expect(r.port).not.toBe(162)
  })

  it('decodes a net-snmp v2c trap with every value type', async () => {
    const r = await receiver()
    const session = snmp.createSession('127.0.0.1', 'public', {version: snmp.Version2c, trapPort: r.port})
    const varbinds = [
      {oid: '1.3.6.1.4.1.32473.9.1', type: snmp.ObjectType.Integer, value: -42},
      {oid: '1.3.6.1.4.1.32473.9.2', type: snmp.ObjectType.OctetString, value: 'héllo wörld'},
      {oid: '1.3.6.1.4.1.32473.9.3', type: snmp.ObjectType.OctetString, value: Buffer.from([0, 1, 0xfe, 0xff])},
      {oid: '1.3.6.1.4.1.32473.9.4', type: snmp.ObjectType.OID, value: '1.3.6.1.2.1.1.1.0'},
      {oid: '1.3.6.1.4.1.32473.9.5', type: snmp.ObjectType.IpAddress, value: '192.0.2.7'},
      {oid: '1.3.6.1.4.1.32473.9.6', type: snmp.ObjectType.Counter, value: 4294967295},
      {oid: '1.3.6.1.4.1.32473.9.7', type: snmp.ObjectType.Gauge, value: 128},
      {oid: '1.3.6.1.4.1.32473.9.8', type: snmp.ObjectType.TimeTicks, value: 123456},
      {oid: '1.3.6.1.4.1.32473.9.9', type: snmp.ObjectType.Null, value: null},
    ]
    await new Promise<void>((resolve, reject) => session.trap('1.3.6.1.4.1.32473.9.0.1', varbinds, {upTime: 4242}, (err) => (err ? reject(err) : resolve())))
    session.close()
    const t = await r.waitFor(() => true, 3000)
    expect(t.trapOid).toBe('1.3.6.1.4.1.32473.9.0.1')
    expect(t.community).toBe('public')
    expect(t.varbinds).toEqual({
      [StandardObject.sysUpTime]: 4242,
      [StandardObject.snmpTrapOID]: '1.3.6.1.4.1.32473.9.0.1',
      '1.3.6.1.4.1.32473.9.1': -42,
      '1.3.6.1.4.1.32473.9.2': 'héllo wörld',
      '1.3.6.1.4.1.32473.9.3': '00:01:fe:ff',
      '1.3.6.1.4.1.32473.9.4': '1.3.6.1.2.1.1.1.0',
      '1.3.6.1.4.1.32473.9.5': '192.0.2.7',
      '1.3.6.1.4.1.32473.9.6': 4294967295,
      '1.3.6.1.4.1.32473.9.7': 128,
      '1.3.6.1.4.1.32473.9.8': 123456,
      '1.3.6.1.4.1.32473.9.9': '',
    })
    expect(describeTrap(t)).toMatch(/^1\.3\.6\.1\.4\.1\.32473\.9\.0\.1 from 127\.0\.0\.1:\d+: 1\.3\.6\.1\.4\.1\.32473\.9\.1=-42 /)
  })

  it('acknowledges informs (net-snmp sends them to trapPort, not port)', async () => {
    const r = await receiver()
    const session = snmp.createSession('127.0.0.1', 'public', {version: snmp.Version2c, trapPort: r.port, timeout: 1000, retries: 0})
    await new Promise<void>((resolve, reject) =>
      session.inform('1.3.6.1.4.1.32473.1.0.2', [{oid: '1.3.6.1.4.1.32473.1.1.5', type: snmp.ObjectType.OctetString, value: 'why'}], (err) => (err ? reject(err) : resolve())),
    )
    session.close()
    expect(r.traps[0]?.trapOid).toBe('1.3.6.1.4.1.32473.1.0.2')
    expect(describeTrap(r.traps[0]!)).toBe(`chainupChainHalted from ${r.traps[0]?.from}: chainupReason="why"`)
  })

  it('converts SNMPv1 traps as RFC 3584 says', async () => {
    const r = await receiver()
    const session = snmp.createSession('127.0.0.1', 'public', {version: snmp.Version1, trapPort: r.port})
    await new Promise<void>((resolve, reject) => session.trap(snmp.TrapType.LinkDown, [], '192.0.2.9', (err) => (err ? reject(err) : resolve())))
    session.close()
    const t = await r.waitFor(() => true, 3000)
    expect(t.trapOid).toBe('1.3.6.1.6.3.1.1.5.3') // linkDown
    expect(t.varbinds['1.3.6.1.6.3.18.1.3.0']).toBe('192.0.2.9')
  })

  it('rejects garbage, SNMPv3 and foreign communities and keeps receiving', async () => {
    const r = await receiver({community: 'right'})
    let rejected = nextRejected(r)
    await sendRaw(r.port, Buffer.from('hello, not BER'))
    expect((await rejected).reason).toMatch(/expected tag 0x30/)
    rejected = nextRejected(r)
    await sendRaw(r.port, Buffer.from([0x30, 0x10, 0x02, 0x01]))
    expect((await rejected).reason).toMatch(/truncated/)
    rejected = nextRejected(r)
    await sendRaw(r.port, Buffer.from([0x30, 0x03, 0x02, 0x01, 0x03]))
    expect((await rejected).reason).toMatch(/SNMPv3/)

    rejected = nextRejected(r)
    const wrong = snmp.createSession('127.0.0.1', 'wrong', {version: snmp.Version2c, trapPort: r.port})
    wrong.trap('1.3.6.1.4.1.32473.1.0.2', [], () => wrong.close())
    expect((await rejected).reason).toBe('community "wrong" is not accepted')

    const right = snmp.createSession('127.0.0.1', 'right', {version: snmp.Version2c, trapPort: r.port})
    right.trap('1.3.6.1.4.1.32473.1.0.2', [], () => right.close())
    const t = await r.waitFor(() => true, 3000)
    expect(t.community).toBe('right')
    expect(r.traps).toHaveLength(1)
  })

  it('waitFor returns an already received trap, times out, and is rejected by stop()', async () => {
    const r = await receiver()
    const s = snmp.createSession('127.0.0.1', 'public', {version: snmp.Version2c, trapPort: r.port})
    s.trap('1.3.6.1.4.1.32473.1.0.1', [], () => s.close())
    await r.waitFor(() => true, 3000)
    await expect(r.waitFor((t) => t.trapOid.endsWith('.0.1'), 10)).resolves.toMatchObject({trapOid: '1.3.6.1.4.1.32473.1.0.1'})
    await expect(r.waitFor((t) => t.trapOid.endsWith('.0.2'), 50)).rejects.toThrow(/no matching trap within 50 ms \(1 received\)/)
    const pending = r.waitFor(() => false, 60_000)
    await r.stop()
    await r.stop()
    await expect(pending).rejects.toThrow(/stopped/)
  })

  it('refuses a port that is taken', async () => {
    const a = await receiver()
    const b = new TrapReceiver({port: a.port})
    await expect(b.start()).rejects.toThrow(/EADDRINUSE/)
    await b.stop()
  })
})

const hasSnmptrap = spawnSync('snmptrap', ['--version']).status === 0
describe.skipIf(!hasSnmptrap)('Net-SNMP snmptrap → TrapReceiver', () => {
  it('decodes what snmptrap sends', async () => {
    const r = await receiver()
    const sent = spawnSync('snmptrap', ['-v', '2c', '-c', 'public', '-m', '', `127.0.0.1:${r.port}`, '', '1.3.6.1.4.1.32473.1.0.2',
      '1.3.6.1.4.1.32473.1.1.4', 's', 'sw3', '1.3.6.1.4.1.32473.1.1.6', 'u', '75'], {encoding: 'utf8'})
    expect(sent.status, sent.stderr).toBe(0)
    const t = await r.waitFor(() => true, 3000)
    expect(describeTrap(t)).toBe(`chainupChainHalted from ${t.from}: chainupReporter="sw3" chainupWaitedSeconds=75`)
  })
})
