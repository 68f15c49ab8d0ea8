/**
 * SNMP notifications telling a network management station what a run did: SNMPv2c or SNMPv3 (USM, authPriv),
 * each as a trap (fire and forget) or an inform (acknowledged, retried). OIDs and varbinds: `oids.ts`,
 * mibs/CHAINUP-MIB.txt, docs/snmp.md. net-snmp is imported lazily, on the first `send`.
 *
 * Standards: RFC 3416 (SNMPv2 PDUs: SNMPv2-Trap, InformRequest), RFC 3414 (USM: HMAC-MD5/SHA, keys localized with
 * the authoritative engine's ID), RFC 7860 (HMAC-SHA-2 for USM), RFC 3826 (AES-128 for USM), RFC 5612 (the
 * documentation enterprise number 32473).
 */
import {isIPv6} from 'node:net'
import type {Varbind} from 'net-snmp'

import {SNMP_AUTH_PROTOCOLS, SNMP_PRIV_PROTOCOLS} from '../config/types.js'

import {type ChainupNotificationName, type ChainupObjectName, ENUMS, NOTIFICATION_OBJECTS, chainupOids} from './oids.js'

/** USM authentication protocols chainup accepts (config/types.ts), as Net-SNMP's tools spell them. */
export const AUTH_PROTOCOLS = SNMP_AUTH_PROTOCOLS
export type AuthProtocolName = (typeof SNMP_AUTH_PROTOCOLS)[number]

/** USM privacy protocols chainup accepts (config/types.ts): AES-128, AES-256 with Blumenthal (B) or Reeder (R, "-C") key extension. */
export const PRIV_PROTOCOLS = SNMP_PRIV_PROTOCOLS
export type PrivProtocolName = (typeof SNMP_PRIV_PROTOCOLS)[number]

/** The shortest USM password (RFC 3414 §11.2: at least 8 characters; Net-SNMP refuses shorter ones). */
export const MIN_USM_PASSWORD_LENGTH = 8

/** What every receiver shares, whatever its SNMP version. */
interface TargetBase {
  /** Host name or IP address of the receiver. */
  host: string
  /** UDP port. Usually 162. */
  port: number
  /** Send InformRequests (acknowledged, retried) instead of traps. @default false */
  inform?: boolean
  /** Traps: how long handing one to the network may take; informs: how long to wait for each acknowledgement, ms. @default 5000 */
  timeoutMs?: number
  /** Informs only: how many times an unacknowledged inform is sent again. @default 2 */
  retries?: number
  /** `snmp.enterprise_oid`: chainup's subtree is `<enterpriseOid>.1` (oids.ts). @default the notifier's, else 1.3.6.1.4.1.32473 */
  enterpriseOid?: string
}

/** A SNMPv2c receiver. */
export interface V2cTrapTarget extends TargetBase {
  version?: '2c'
  /** The community, already resolved from the environment by the caller. */
  community: string
}

/** A SNMPv3 receiver (USM user, security level authPriv). */
export interface V3TrapTarget extends TargetBase {
  version: 3
  /** USM user name (`createUser` / `authUser` in snmptrapd.conf). */
  user: string
  authProtocol: AuthProtocolName
  /** Resolved from the environment by the caller; at least {@link MIN_USM_PASSWORD_LENGTH} characters. */
  authPassword: string
  privProtocol: PrivProtocolName
  /** Resolved from the environment by the caller; at least {@link MIN_USM_PASSWORD_LENGTH} characters. */
  privPassword: string
  /**
   * Traps: chainup's (the authoritative sender's) engine ID in hex, the receiver's `createUser -e` value; a v3 trap
   * without it would use a random engine ID no receiver knows. Informs discover the receiver's engine ID instead.
   */
  engineId?: string
}

/** One notification receiver. */
export type TrapTarget = V2cTrapTarget | V3TrapTarget

/** What each kind of notification is called in the MIB. */
export const TRAP_KINDS = {
  predecessor_timeout: 'chainupPredecessorTimeout',
  chain_halted: 'chainupChainHalted',
  device_did_not_return: 'chainupDeviceDidNotReturn',
  gate_vetoed: 'chainupGateVetoed',
  run_completed: 'chainupRunCompleted',
  run_failed: 'chainupRunFailed',
  rollback_started: 'chainupRollbackStarted',
  rollback_finished: 'chainupRollbackFinished',
} as const satisfies Record<string, ChainupNotificationName>
export type TrapKind = keyof typeof TRAP_KINDS

/** One notification: what happened in a run. Which optional fields a kind needs: `NOTIFICATION_OBJECTS` (oids.ts). */
export interface ChainTrap {
  kind: TrapKind
  /** The run's id (chainupRunId). */
  runId: string
  /** The chain's name (chainupStack). */
  stack: string
  /** The device the reporter waited for (chainupPredecessor); omitted from a chain_halted trap when absent. */
  predecessor?: string
  /** The device the notification is about (chainupReporter), `run` for the run as a whole. */
  reporter: string
  /** One line: what happened (chainupReason). */
  reason: string
  /** Seconds the reporter waited (chainupWaitedSeconds, Gauge32; rounded, clamped to 0…2³²−1). */
  waitedSeconds?: number
  /** gate_vetoed: the gate's kind (chainupGateType). */
  gateType?: 'before' | 'after' | 'on_error' | 'final'
  /** gate_vetoed: the gate's name (chainupGateName). */
  gateName?: string
  /** run_completed / run_failed: the run's final status (chainupRunStatus). */
  runStatus?: 'completed' | 'failed' | 'vetoed' | 'cancelled'
  /** run_completed / run_failed: how long the run took, seconds (chainupDurationSeconds, Gauge32). */
  durationSeconds?: number
  /** rollback_started / rollback_finished: the devices, in rollback order (chainupDevices). */
  devices?: string[]
  /** rollback_finished: how it ended (chainupRollbackResult). */
  rollbackResult?: 'rolled_back' | 'rollback_failed'
}

/** The outcome of sending one notification to one receiver. */
export interface TrapSendResult {
  /** `host:port` of the receiver. */
  target: string
  /**
   * Traps: the datagram was handed to the network (traps are not acknowledged: it says nothing about delivery).
   * Informs: the receiver acknowledged it.
   */
  ok: boolean
  /** Why sending failed (name resolution, no route, no acknowledgement after the retries, USM error, ...), when `ok` is false. */
  error?: string
}

/** A varbind as chainup describes it, before net-snmp encodes it. */
export interface ChainVarbind {
  oid: string
  type: 'OctetString' | 'Gauge' | 'Integer'
  value: string | number
}

/** The longest text value chainup sends, in bytes (the MIB's ChainupText: `SIZE (0..1024)`); longer ones are cut at a character boundary. */
export const MAX_TEXT_BYTES = 1024

/**
 * The notification OID of a trap kind.
 * @param enterpriseOid `snmp.enterprise_oid` @default 1.3.6.1.4.1.32473
 */
export function trapOid(kind: TrapKind, enterpriseOid?: string): string {
  return chainupOids(enterpriseOid).notifications[TRAP_KINDS[kind]]
}

/**
 * The varbinds of a trap: the objects of its notification's `OBJECTS` clause in order, then the optional ones that
 * apply (`chainupPredecessor` on a chain_halted trap), without the sysUpTime.0 / snmpTrapOID.0 pair net-snmp puts
 * in front. Text is cut to {@link MAX_TEXT_BYTES}; gauges are rounded and clamped to 0…2³²−1.
 * @throws Error when the trap lacks a field its notification requires (a bug of the caller)
 */
export function chainTrapVarbinds(trap: ChainTrap, enterpriseOid?: string): ChainVarbind[] {
  const {objects} = chainupOids(enterpriseOid)
  const name = TRAP_KINDS[trap.kind]
  const varbind = (object: ChainupObjectName): ChainVarbind => {
    const oid = objects[object]
    const text = (value: string | undefined): ChainVarbind => ({oid, type: 'OctetString', value: truncateUtf8(required(value, object, name), MAX_TEXT_BYTES)})
    const gauge = (value: number | undefined): ChainVarbind => ({oid, type: 'Gauge', value: gaugeValue(required(value, object, name))})
    switch (object) {
      case 'chainupRunId':
        return text(trap.runId)
      case 'chainupStack':
        return text(trap.stack)
      case 'chainupPredecessor':
        return text(trap.predecessor)
      case 'chainupReporter':
        return text(trap.reporter)
      case 'chainupReason':
        return text(trap.reason)
      case 'chainupGateName':
        return text(trap.gateName)
      case 'chainupDevices':
        return text(trap.devices?.join(','))
      case 'chainupWaitedSeconds':
        return gauge(trap.waitedSeconds)
      case 'chainupDurationSeconds':
        return gauge(trap.durationSeconds)
      case 'chainupGateType': {
        const type = required(trap.gateType, object, name)
        return {oid, type: 'Integer', value: ENUMS.chainupGateType[type === 'on_error' ? 'onError' : type]}
      }
      case 'chainupRunStatus':
        return {oid, type: 'Integer', value: ENUMS.chainupRunStatus[required(trap.runStatus, object, name)]}
      case 'chainupRollbackResult':
        return {oid, type: 'Integer', value: ENUMS.chainupRollbackResult[required(trap.rollbackResult, object, name) === 'rolled_back' ? 'rolledBack' : 'rollbackFailed']}
    }
  }
  const varbinds = NOTIFICATION_OBJECTS[name].map(varbind)
  if (trap.kind === 'chain_halted' && trap.predecessor !== undefined) varbinds.push(varbind('chainupPredecessor'))
  return varbinds
}

function required<T>(value: T | undefined, object: string, notification: string): T {
  if (value === undefined) throw new Error(`${notification} needs ${object}`)
  return value
}

function gaugeValue(n: number): number {
  return Number.isFinite(n) ? Math.min(0xffff_ffff, Math.max(0, Math.round(n))) : 0
}

/** `text` cut to at most `max` UTF-8 bytes without splitting a character. */
export function truncateUtf8(text: string, max: number): string {
  if (Buffer.byteLength(text, 'utf8') <= max) return text
  let bytes = 0
  let out = ''
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8')
    if (bytes + n > max) break
    bytes += n
    out += ch
  }
  return out
}

/** Normalizes an engine ID as the inventory may write it (`0x` prefix, colons, any case) to lower-case hex. */
export function normalizeEngineId(engineId: string): string {
  return engineId.replace(/^0x/i, '').replace(/:/g, '').toLowerCase()
}

type NetSnmp = typeof import('net-snmp')
type NetSnmpSession = ReturnType<NetSnmp['createSession']>

const AUTH: Record<AuthProtocolName, keyof NetSnmp['AuthProtocols']> = {
  SHA: 'sha',
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
}
const PRIV: Record<PrivProtocolName, keyof NetSnmp['PrivProtocols']> = {
  AES: 'aes',
  'AES-128': 'aes',
  'AES-256': 'aes256b',
  'AES-256B': 'aes256b',
  'AES-256-C': 'aes256r',
  'AES-256R': 'aes256r',
}

/** Default per-receiver settings. */
const DEFAULT_TIMEOUT_MS = 5000
const DEFAULT_RETRIES = 2

/**
 * Sends chainup's notifications to a fixed list of receivers, one short-lived net-snmp session per receiver and
 * notification. Never throws because of a receiver: each one's outcome is reported by {@link SnmpNotifier.send}.
 */
export class SnmpNotifier {
  private readonly targets: readonly TrapTarget[]
  private readonly timeoutMs: number
  private readonly enterpriseOid: string | undefined
  private readonly sessions = new Set<NetSnmpSession>()
  private closed = false

  /**
   * @param targets the receivers, secrets resolved; an empty list makes `send` a no-op.
   * @param options.timeoutMs the default of each target's `timeoutMs`, ms. @default 5000
   * @param options.enterpriseOid `snmp.enterprise_oid`: chainup's subtree is `<enterpriseOid>.1`. @default 1.3.6.1.4.1.32473
   */
  constructor(targets: TrapTarget[], options: {timeoutMs?: number; enterpriseOid?: string} = {}) {
    this.targets = [...targets]
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.enterpriseOid = options.enterpriseOid
  }

  /**
   * Sends one notification to every receiver in parallel and resolves with one result per receiver, in the order
   * of the targets: traps once handed to the network, informs once acknowledged or given up on (after
   * `retries` resends, each waiting `timeoutMs`). Rejects when net-snmp itself cannot be loaded, or when `trap` lacks
   * a field its notification requires (a bug of the caller), before anything is sent.
   */
  async send(trap: ChainTrap): Promise<TrapSendResult[]> {
    if (this.targets.length === 0) return []
    if (this.closed) return this.targets.map((t) => ({target: label(t), ok: false, error: 'notifier is closed'}))
    // Built before net-snmp loads: a trap that lacks a field its notification requires rejects here.
    const pdus = this.targets.map((t) => {
      const enterprise = t.enterpriseOid ?? this.enterpriseOid
      return {oid: trapOid(trap.kind, enterprise), varbinds: chainTrapVarbinds(trap, enterprise)}
    })
    const snmp = await import('net-snmp')
    return Promise.all(
      this.targets.map((t, i) => {
        const pdu = pdus[i]!
        return this.sendOne(snmp, t, pdu.oid, pdu.varbinds.map((v): Varbind => ({oid: v.oid, type: snmp.ObjectType[v.type], value: v.value})))
      }),
    )
  }

  /** Closes sessions of sends still under way (they report failure); later sends report `notifier is closed`. Idempotent. */
  close(): void {
    this.closed = true
    for (const s of this.sessions) closeQuietly(s)
    this.sessions.clear()
  }

  private sendOne(snmp: NetSnmp, target: TrapTarget, oid: string, varbinds: Varbind[]): Promise<TrapSendResult> {
    const timeout = target.timeoutMs ?? this.timeoutMs
    const retries = target.retries ?? DEFAULT_RETRIES
    const inform = target.inform === true
    // An inform may take every attempt (a v3 inform first discovers the receiver's engine ID, with the same retries).
    const limit = inform ? timeout * (retries + 1) * (target.version === 3 ? 2 : 1) + 1000 : timeout
    return new Promise((resolve) => {
      let session: NetSnmpSession | undefined
      let settled = false
      const finish = (error?: unknown): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (session) {
          this.sessions.delete(session)
          closeQuietly(session)
        }
        resolve(error === undefined || error === null ? {target: label(target), ok: true} : {target: label(target), ok: false, error: describeError(error, inform, retries, timeout)})
      }
      const timer = setTimeout(() => finish(new Error(inform ? `not acknowledged within ${limit} ms` : `not sent within ${timeout} ms`)), limit)
      try {
        const common = {trapPort: target.port, transport: isIPv6(target.host) ? 'udp6' : 'udp4', timeout, retries, backoff: 1} as const
        if (target.version === 3) {
          const user = {
            name: target.user,
            level: snmp.SecurityLevel.authPriv,
            authProtocol: snmp.AuthProtocols[AUTH[target.authProtocol]],
            authKey: target.authPassword,
            privProtocol: snmp.PrivProtocols[PRIV[target.privProtocol]],
            privKey: target.privPassword,
          }
          session = snmp.createV3Session(target.host, user, {...common, version: snmp.Version3, ...(target.engineId ? {engineID: normalizeEngineId(target.engineId)} : {})})
        } else {
          session = snmp.createSession(target.host, target.community, {...common, version: snmp.Version2c})
        }
        this.sessions.add(session)
        // net-snmp 3.29 re-emits socket errors under the error object as event name (`this.emit(error)`), so this
        // listener fires only for undecodable answers; failures arrive through the callback instead.
        session.on('error', (error: unknown) => finish(error ?? new Error('session error')))
        if (inform) session.inform(oid, varbinds, (error: Error | null) => finish(error ?? undefined))
        else session.trap(oid, varbinds, (error: Error | null) => finish(error ?? undefined))
      } catch (error) {
        finish(error)
      }
    })
  }
}

function label(t: TrapTarget): string {
  return isIPv6(t.host) ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`
}

function describeError(error: unknown, inform: boolean, retries: number, timeoutMs: number): string {
  const text = error instanceof Error ? error.message : String(error)
  if (inform && error instanceof Error && error.name === 'RequestTimedOutError') {
    return `inform not acknowledged: ${retries + 1} attempt${retries === 0 ? '' : 's'}, ${timeoutMs} ms each (${text})`
  }
  return text
}

function closeQuietly(session: NetSnmpSession): void {
  try {
    session.close()
  } catch {
    // already closed
  }
}
