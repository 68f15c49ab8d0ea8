/**
 * A small SNMP trap receiver for the lab and tests: a real UDP socket plus a BER decoder for
 * SNMPv1/v2c traps and v2c informs (informs are acknowledged). SNMPv3 is not decoded.
 *
 * Why not net-snmp's `createReceiver`: in net-snmp 3.29 it turns `port: 0` into 162 (`options.port || 162`),
 * so it cannot bind an ephemeral port, and it does not expose the bound address. Reference: docs/snmp.md.
 */
import dgram from 'node:dgram'
import {EventEmitter} from 'node:events'
import {isIPv6} from 'node:net'

import {StandardObject, oidName} from '../notify/oids.js'

/** One notification as received. */
export interface ReceivedTrap {
  /** When it arrived, epoch ms. */
  at: number
  /** Sender as `address:port`. */
  from: string
  /** The community the sender used. */
  community: string
  /** The notification OID (`snmpTrapOID.0`; for SNMPv1 traps converted as in RFC 3584 §3.1). */
  trapOid: string
  /**
   * Every varbind, keyed by OID, in arrival order, including `sysUpTime.0` and `snmpTrapOID.0`.
   * Integers, counters, gauges and time ticks are numbers (Counter64 beyond 2⁵³ a decimal string);
   * OCTET STRINGs are UTF-8 text when printable, else hex `0a:ff:...`; OIDs dotted; IpAddress dotted quad;
   * NULL and the exception values (noSuchObject, ...) an empty string.
   */
  varbinds: Record<string, string | number>
}

/** A datagram that was not accepted as a trap. */
export interface RejectedDatagram {
  at: number
  from: string
  reason: string
}

export interface TrapReceiverOptions {
  /** Address to bind. @default '127.0.0.1' */
  host?: string
  /** UDP port; 0 binds an ephemeral port (read it from {@link TrapReceiver.port} after `start`). */
  port: number
  /** Accept only this community; others are rejected (event `rejected`). @default any community */
  community?: string
}

/**
 * Receives SNMP notifications on a UDP port. Emits `trap` ({@link ReceivedTrap}) for each one accepted and
 * `rejected` ({@link RejectedDatagram}) for datagrams it drops (undecodable, SNMPv3, wrong community).
 */
export class TrapReceiver extends EventEmitter<{trap: [ReceivedTrap]; rejected: [RejectedDatagram]}> {
  /** Every trap accepted so far, oldest first. */
  readonly traps: ReceivedTrap[] = []

  private readonly host: string
  private readonly community: string | undefined
  private boundPort: number
  private socket: dgram.Socket | undefined
  private readonly waiters = new Set<{cancel: (reason: Error) => void}>()
  private state: 'new' | 'running' | 'stopped' = 'new'

  constructor(opts: TrapReceiverOptions) {
    super()
    this.host = opts.host ?? '127.0.0.1'
    this.boundPort = opts.port
    this.community = opts.community
  }

  /** The bound UDP port; before {@link TrapReceiver.start} the configured one (maybe 0). */
  get port(): number {
    return this.boundPort
  }

  /**
   * Binds the socket; resolves when it receives.
   * @throws Error from `bind` (`EADDRINUSE`, `EACCES` for ports below 1024 without privileges, ...), or when called twice.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('TrapReceiver: start() may be called once, before stop()')
    this.state = 'running'
    const socket = dgram.createSocket(isIPv6(this.host) ? 'udp6' : 'udp4')
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(this.boundPort, this.host, () => {
        socket.off('error', reject)
        resolve()
      })
    }).catch((error: unknown) => {
      this.state = 'stopped'
      socket.close()
      throw error
    })
    socket.on('error', () => {})
    socket.on('message', (msg, rinfo) => this.onDatagram(socket, msg, rinfo))
    this.boundPort = socket.address().port
    this.socket = socket
  }

  /** Closes the socket and rejects pending {@link TrapReceiver.waitFor}s. Idempotent. */
  async stop(): Promise<void> {
    this.state = 'stopped'
    for (const w of [...this.waiters]) w.cancel(new Error('TrapReceiver stopped'))
    const socket = this.socket
    this.socket = undefined
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()))
  }

  /**
   * Resolves with the first trap, already received or arriving later, that satisfies `pred`.
   * @param timeoutMs how long to wait for a new one, ms
   * @throws Error after `timeoutMs`, or when the receiver stops first
   */
  waitFor(pred: (t: ReceivedTrap) => boolean, timeoutMs: number): Promise<ReceivedTrap> {
    const seen = this.traps.find(pred)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const onTrap = (t: ReceivedTrap): void => {
        if (!pred(t)) return
        done()
        resolve(t)
      }
      const waiter = {
        cancel: (reason: Error) => {
          done()
          reject(reason)
        },
      }
      const timer = setTimeout(() => waiter.cancel(new Error(`no matching trap within ${timeoutMs} ms (${this.traps.length} received)`)), timeoutMs)
      const done = (): void => {
        clearTimeout(timer)
        this.off('trap', onTrap)
        this.waiters.delete(waiter)
      }
      this.waiters.add(waiter)
      this.on('trap', onTrap)
    })
  }

  private onDatagram(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const at = Date.now()
    const from = rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`
    let decoded: DecodedMessage
    try {
      decoded = decodeSnmpMessage(msg)
    } catch (error) {
      this.emit('rejected', {at, from, reason: error instanceof Error ? error.message : String(error)})
      return
    }
    if (this.community !== undefined && decoded.community !== this.community) {
      this.emit('rejected', {at, from, reason: `community "${decoded.community}" is not accepted`})
      return
    }
    if (decoded.pduType === PDU_INFORM) {
      // Acknowledge: the same message with the PDU tag changed to Response (equal length, RFC 3416 §4.2.7).
      const ack = Buffer.from(msg)
      ack[decoded.pduTagOffset] = PDU_RESPONSE
      socket.send(ack, rinfo.port, rinfo.address)
    }
    const trap: ReceivedTrap = {at, from, community: decoded.community, trapOid: decoded.trapOid, varbinds: decoded.varbinds}
    this.traps.push(trap)
    this.emit('trap', trap)
  }
}

/**
 * One line naming the notification and its varbinds, chainup's by name, e.g.
 * `chainupPredecessorTimeout from 127.0.0.1:40000: chainupRunId="r1" chainupStack="s" ... chainupWaitedSeconds=1260`.
 * `sysUpTime.0` and `snmpTrapOID.0` are left out.
 */
export function describeTrap(t: ReceivedTrap): string {
  const parts = Object.entries(t.varbinds)
    .filter(([oid]) => oid !== StandardObject.sysUpTime && oid !== StandardObject.snmpTrapOID)
    .map(([oid, value]) => `${oidName(oid) ?? oid}=${typeof value === 'number' ? value : JSON.stringify(value)}`)
  return `${oidName(t.trapOid) ?? t.trapOid} from ${t.from}${parts.length > 0 ? `: ${parts.join(' ')}` : ''}`
}

// ------------------------------------------------------------------ BER decoding (RFC 3416 / X.690 subset)

const PDU_TRAP_V1 = 0xa4
const PDU_INFORM = 0xa6
const PDU_TRAP_V2 = 0xa7
const PDU_RESPONSE = 0xa2

interface DecodedMessage {
  version: number
  community: string
  pduType: number
  /** Byte offset of the PDU's tag in the datagram. */
  pduTagOffset: number
  trapOid: string
  varbinds: Record<string, string | number>
}

interface Tlv {
  tag: number
  /** Offset of the tag byte. */
  offset: number
  value: Buffer
  /** Absolute offset of the value's first byte. */
  valueOffset: number
}

/** Reads consecutive TLVs from `buf[start, end)`. */
class BerReader {
  private pos: number

  constructor(
    private readonly buf: Buffer,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start
  }

  get done(): boolean {
    return this.pos >= this.end
  }

  read(expected?: number, what = 'value'): Tlv {
    const offset = this.pos
    const tag = this.byte(what)
    if (expected !== undefined && tag !== expected) throw new Error(`${what}: expected tag 0x${hex(expected)}, got 0x${hex(tag)}`)
    if ((tag & 0x1f) === 0x1f) throw new Error(`${what}: multi-byte tags are not used by SNMP`)
    let length = this.byte(what)
    if (length === 0x80) throw new Error(`${what}: indefinite length is not allowed in SNMP`)
    if (length > 0x80) {
      const n = length & 0x7f
      if (n > 4) throw new Error(`${what}: length of ${n} bytes is too long`)
      length = 0
      for (let i = 0; i < n; i++) length = length * 256 + this.byte(what)
    }
    const valueOffset = this.pos
    if (valueOffset + length > this.end) throw new Error(`${what}: truncated (needs ${length} bytes, ${this.end - valueOffset} left)`)
    this.pos += length
    return {tag, offset, value: this.buf.subarray(valueOffset, valueOffset + length), valueOffset}
  }

  /** A reader over the contents of a constructed TLV. */
  static inside(buf: Buffer, tlv: Tlv): BerReader {
    return new BerReader(buf, tlv.valueOffset, tlv.valueOffset + tlv.value.length)
  }

  private byte(what: string): number {
    if (this.pos >= this.end) throw new Error(`${what}: truncated`)
    return this.buf[this.pos++] ?? 0
  }
}

const hex = (n: number): string => n.toString(16).padStart(2, '0')

function decodeInteger(v: Buffer): number {
  if (v.length === 0) throw new Error('empty INTEGER')
  return Number(BigInt.asIntN(v.length * 8, BigInt(`0x${v.toString('hex')}`)))
}

function decodeUnsigned(v: Buffer): number | string {
  if (v.length === 0) return 0
  const n = BigInt(`0x${v.toString('hex')}`)
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString()
}

function decodeOid(v: Buffer): string {
  if (v.length === 0) throw new Error('empty OBJECT IDENTIFIER')
  const arcs: bigint[] = []
  let acc = 0n
  for (const b of v) {
    acc = (acc << 7n) | BigInt(b & 0x7f)
    if ((b & 0x80) === 0) {
      arcs.push(acc)
      acc = 0n
    }
  }
  if ((v[v.length - 1] ?? 0) & 0x80) throw new Error('truncated OBJECT IDENTIFIER')
  const first = arcs.shift() ?? 0n
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n]
  return [...head, ...arcs].join('.')
}

function decodeOctetString(v: Buffer): string {
  const text = v.toString('utf8')
  // Printable when it round-trips as UTF-8 and holds no control characters other than tab/newline.
  // eslint-disable-next-line no-control-regex
  if (Buffer.from(text, 'utf8').equals(v) && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return text
  return [...v].map(hex).join(':')
}

function decodeValue(t: Tlv): string | number {
  switch (t.tag) {
    case 0x02: // INTEGER
      return decodeInteger(t.value)
    case 0x04: // OCTET STRING
      return decodeOctetString(t.value)
    case 0x06: // OBJECT IDENTIFIER
      return decodeOid(t.value)
    case 0x40: // IpAddress
      return [...t.value].join('.')
    case 0x41: // Counter32
    case 0x42: // Gauge32 / Unsigned32
    case 0x43: // TimeTicks
    case 0x46: // Counter64
      return decodeUnsigned(t.value)
    case 0x44: // Opaque
      return [...t.value].map(hex).join(':')
    case 0x05: // NULL
    case 0x80: // noSuchObject
    case 0x81: // noSuchInstance
    case 0x82: // endOfMibView
      return ''
    default:
      throw new Error(`unknown varbind value type 0x${hex(t.tag)}`)
  }
}

function decodeVarbinds(buf: Buffer, list: Tlv): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  const r = BerReader.inside(buf, list)
  while (!r.done) {
    const vb = BerReader.inside(buf, r.read(0x30, 'varbind'))
    const oid = decodeOid(vb.read(0x06, 'varbind name').value)
    out[oid] = decodeValue(vb.read(undefined, `value of ${oid}`))
  }
  return out
}

/**
 * Decodes an SNMPv1/v2c message holding a Trap, SNMPv2-Trap or InformRequest PDU.
 * @throws Error naming what is wrong (SNMPv3, another PDU type, malformed BER)
 */
function decodeSnmpMessage(buf: Buffer): DecodedMessage {
  const msg = BerReader.inside(buf, new BerReader(buf).read(0x30, 'message'))
  const version = decodeInteger(msg.read(0x02, 'version').value)
  if (version === 3) throw new Error('SNMPv3 messages are not supported')
  if (version !== 0 && version !== 1) throw new Error(`unknown SNMP version ${version}`)
  const community = msg.read(0x04, 'community').value.toString('latin1')
  const pdu = msg.read(undefined, 'PDU')
  const body = BerReader.inside(buf, pdu)

  if (pdu.tag === PDU_TRAP_V2 || pdu.tag === PDU_INFORM) {
    if (version !== 1) throw new Error('SNMPv2 PDU in an SNMPv1 message')
    body.read(0x02, 'request-id')
    body.read(0x02, 'error-status')
    body.read(0x02, 'error-index')
    const varbinds = decodeVarbinds(buf, body.read(0x30, 'varbind list'))
    const trapOid = varbinds[StandardObject.snmpTrapOID]
    if (typeof trapOid !== 'string') throw new Error('notification without snmpTrapOID.0')
    return {version, community, pduType: pdu.tag, pduTagOffset: pdu.offset, trapOid, varbinds}
  }
  if (pdu.tag === PDU_TRAP_V1) {
    const enterprise = decodeOid(body.read(0x06, 'enterprise').value)
    const agentAddr = [...body.read(0x40, 'agent-addr').value].join('.')
    const generic = decodeInteger(body.read(0x02, 'generic-trap').value)
    const specific = decodeInteger(body.read(0x02, 'specific-trap').value)
    const timestamp = decodeUnsigned(body.read(0x43, 'time-stamp').value)
    const rest = decodeVarbinds(buf, body.read(0x30, 'varbind list'))
    // RFC 3584 §3.1: generic traps map to snmpTraps.(generic+1), enterpriseSpecific to enterprise.0.specific.
    const trapOid = generic === 6 ? `${enterprise}.0.${specific}` : `1.3.6.1.6.3.1.1.5.${generic + 1}`
    const varbinds: Record<string, string | number> = {
      [StandardObject.sysUpTime]: timestamp,
      [StandardObject.snmpTrapOID]: trapOid,
      ...rest,
      '1.3.6.1.6.3.18.1.3.0': agentAddr, // snmpTrapAddress.0
      '1.3.6.1.6.3.1.1.4.3.0': enterprise, // snmpTrapEnterprise.0
    }
    return {version, community, pduType: pdu.tag, pduTagOffset: pdu.offset, trapOid, varbinds}
  }
  throw new Error(`PDU type 0x${hex(pdu.tag)} is not a notification`)
}
