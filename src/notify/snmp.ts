/**
 * SNMPv2c notifications (traps) telling a network management station that a chain halted.
 * OIDs and varbinds: `oids.ts`, docs/traps.md. net-snmp is imported lazily, on the first `send`.
 */
import {isIPv6} from 'node:net'
import type {Varbind} from 'net-snmp'

import {ChainupNotification, ChainupObject} from './oids.js'

/** One trap receiver (SNMPv2c). */
export interface TrapTarget {
  /** Host name or IP address of the receiver. */
  host: string
  /** UDP port. Usually 162. */
  port: number
  /** The community, already resolved from the environment by the caller. */
  community: string
}

/** Why a chain halted, as one trap. */
export interface ChainTrap {
  /** `predecessor_timeout` → chainupPredecessorTimeout; `chain_halted` → chainupChainHalted. */
  kind: 'predecessor_timeout' | 'chain_halted'
  /** The run's id (chainupRunId). */
  runId: string
  /** The chain's name (chainupStack). */
  stack: string
  /** The device the reporter waited for (chainupPredecessor); omitted from the trap when absent. */
  predecessor?: string
  /** The device whose node reports (chainupReporter). */
  reporter: string
  /** One line: why (chainupReason). */
  reason: string
  /** How long the reporter waited for its predecessor, in seconds (chainupWaitedSeconds, Gauge32; rounded, clamped to 0…2³²−1). */
  waitedSeconds?: number
}

/** The outcome of sending one trap to one receiver. */
export interface TrapSendResult {
  /** `host:port` of the receiver. */
  target: string
  /** True when the datagram was handed to the network. v2c traps are not acknowledged: it says nothing about delivery. */
  ok: boolean
  /** Why sending failed (name resolution, no route, timeout, ...), when `ok` is false. */
  error?: string
}

/** A varbind as chainup describes it, before net-snmp encodes it. */
export interface ChainVarbind {
  oid: string
  type: 'OctetString' | 'Gauge'
  value: string | number
}

/** The notification OID of a trap kind. */
export function trapOid(kind: ChainTrap['kind']): string {
  return kind === 'predecessor_timeout' ? ChainupNotification.chainupPredecessorTimeout : ChainupNotification.chainupChainHalted
}

/**
 * The varbinds of a trap in a fixed order (runId, stack, predecessor?, reporter, reason, waitedSeconds?),
 * without the sysUpTime.0 / snmpTrapOID.0 pair net-snmp puts in front.
 */
export function chainTrapVarbinds(trap: ChainTrap): ChainVarbind[] {
  const text = (oid: string, value: string): ChainVarbind => ({oid, type: 'OctetString', value})
  const varbinds = [text(ChainupObject.chainupRunId, trap.runId), text(ChainupObject.chainupStack, trap.stack)]
  if (trap.predecessor !== undefined) varbinds.push(text(ChainupObject.chainupPredecessor, trap.predecessor))
  varbinds.push(text(ChainupObject.chainupReporter, trap.reporter), text(ChainupObject.chainupReason, trap.reason))
  if (trap.waitedSeconds !== undefined) {
    const seconds = Number.isFinite(trap.waitedSeconds) ? Math.min(0xffff_ffff, Math.max(0, Math.round(trap.waitedSeconds))) : 0
    varbinds.push({oid: ChainupObject.chainupWaitedSeconds, type: 'Gauge', value: seconds})
  }
  return varbinds
}

type NetSnmp = typeof import('net-snmp')
type NetSnmpSession = ReturnType<NetSnmp['createSession']>

/**
 * Sends chainup's SNMPv2c traps to a fixed list of receivers, one short-lived net-snmp session per
 * receiver and trap. Never throws because of a receiver: each one's outcome is reported by {@link SnmpNotifier.send}.
 */
export class SnmpNotifier {
  private readonly targets: readonly TrapTarget[]
  private readonly timeoutMs: number
  private readonly sessions = new Set<NetSnmpSession>()
  private closed = false

  /**
   * @param targets the receivers; an empty list makes `send` a no-op.
   * @param options.timeoutMs how long one send may take before it counts as failed, ms. @default 5000
   */
  constructor(targets: TrapTarget[], options: {timeoutMs?: number} = {}) {
    this.targets = [...targets]
    this.timeoutMs = options.timeoutMs ?? 5000
  }

  /**
   * Sends one trap to every receiver in parallel and resolves with one result per receiver, in the
   * order of the targets. Rejects only when net-snmp itself cannot be loaded.
   */
  async send(trap: ChainTrap): Promise<TrapSendResult[]> {
    if (this.targets.length === 0) return []
    if (this.closed) return this.targets.map((t) => ({target: label(t), ok: false, error: 'notifier is closed'}))
    const snmp = await import('net-snmp')
    const varbinds = chainTrapVarbinds(trap).map((v): Varbind => ({
      oid: v.oid,
      type: v.type === 'Gauge' ? snmp.ObjectType.Gauge : snmp.ObjectType.OctetString,
      value: v.value,
    }))
    const oid = trapOid(trap.kind)
    return Promise.all(this.targets.map((t) => this.sendOne(snmp, t, oid, varbinds)))
  }

  /** Closes sessions of sends still under way (they report failure); later sends report `notifier is closed`. Idempotent. */
  close(): void {
    this.closed = true
    for (const s of this.sessions) closeQuietly(s)
    this.sessions.clear()
  }

  private sendOne(snmp: NetSnmp, target: TrapTarget, oid: string, varbinds: Varbind[]): Promise<TrapSendResult> {
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
        resolve(error === undefined || error === null ? {target: label(target), ok: true} : {target: label(target), ok: false, error: message(error)})
      }
      const timer = setTimeout(() => finish(new Error(`not sent within ${this.timeoutMs} ms`)), this.timeoutMs)
      try {
        session = snmp.createSession(target.host, target.community, {
          version: snmp.Version2c,
          trapPort: target.port,
          transport: isIPv6(target.host) ? 'udp6' : 'udp4',
        })
        this.sessions.add(session)
        // net-snmp 3.29 re-emits socket errors under the error object as event name (`this.emit(error)`),
        // so this listener rarely fires; failures arrive through the trap callback instead.
        session.on('error', (error: unknown) => finish(error ?? new Error('session error')))
        session.trap(oid, varbinds, (error) => finish(error ?? undefined))
      } catch (error) {
        finish(error)
      }
    })
  }
}

function label(t: TrapTarget): string {
  return isIPv6(t.host) ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function closeQuietly(session: NetSnmpSession): void {
  try {
    session.close()
  } catch {
    // already closed
  }
}
