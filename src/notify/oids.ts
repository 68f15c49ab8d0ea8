/**
 * chainup's SNMP object identifiers (docs/traps.md).
 *
 * Until chainup has a Private Enterprise Number of its own they live under 32473, the enterprise number
 * RFC 5612 reserves for documentation and examples; the subtree is `1.3.6.1.4.1.32473.1` (chainup).
 * Notifications sit under `.0` (SMIv2 convention, so RFC 3584 can map them to SNMPv1 traps), the objects
 * they carry under `.1`. Objects are sent with exactly these OIDs (no `.0` instance suffix).
 * No runtime dependencies: safe to import from anywhere.
 */

/** `enterprises.32473`: the RFC 5612 documentation enterprise. */
export const DOCUMENTATION_ENTERPRISE_OID = '1.3.6.1.4.1.32473'

/** Root of chainup's subtree. */
export const CHAINUP_OID = '1.3.6.1.4.1.32473.1'

/** chainup's notification OIDs (the value of `snmpTrapOID.0`). */
export const ChainupNotification = {
  /** A successor halted the chain because its immediate predecessor worked on its device longer than `timeouts.predecessor`. */
  chainupPredecessorTimeout: '1.3.6.1.4.1.32473.1.0.1',
  /** The chain halted on any other fault (device task failed and `on_error` did not allow continuing, device did not come back, ...). */
  chainupChainHalted: '1.3.6.1.4.1.32473.1.0.2',
} as const
export type ChainupNotificationName = keyof typeof ChainupNotification

/** The objects (varbinds) chainup's notifications carry. */
export const ChainupObject = {
  /** OCTET STRING: the run's id, the same as in the run journal and `--json` output. */
  chainupRunId: '1.3.6.1.4.1.32473.1.1.1',
  /** OCTET STRING: the chain (stack) name from the inventory, e.g. `access-stack-1`. */
  chainupStack: '1.3.6.1.4.1.32473.1.1.2',
  /** OCTET STRING: the device the reporter waited for (its immediate predecessor); absent when none applies. */
  chainupPredecessor: '1.3.6.1.4.1.32473.1.1.3',
  /** OCTET STRING: the device whose node reports the fault. */
  chainupReporter: '1.3.6.1.4.1.32473.1.1.4',
  /** OCTET STRING: one human-readable line saying why the chain halted. */
  chainupReason: '1.3.6.1.4.1.32473.1.1.5',
  /** Gauge32: how long the reporter waited for its predecessor, in whole seconds; absent when none applies. */
  chainupWaitedSeconds: '1.3.6.1.4.1.32473.1.1.6',
} as const
export type ChainupObjectName = keyof typeof ChainupObject

/** Standard varbinds every SNMPv2 notification starts with (RFC 3416 §4.2.6). */
export const StandardObject = {
  /** TimeTicks: the sender's uptime in hundredths of a second (`SNMPv2-MIB::sysUpTime.0`). */
  sysUpTime: '1.3.6.1.2.1.1.3.0',
  /** OBJECT IDENTIFIER: which notification this is (`SNMPv2-MIB::snmpTrapOID.0`). */
  snmpTrapOID: '1.3.6.1.6.3.1.1.4.1.0',
} as const

const NAMES: ReadonlyMap<string, string> = new Map(
  [
    ...Object.entries(ChainupNotification).map(([name, oid]) => [oid, name] as const),
    ...Object.entries(ChainupObject).map(([name, oid]) => [oid, name] as const),
    ...Object.entries(StandardObject).map(([name, oid]) => [oid, `${name}.0`] as const),
  ],
)

/**
 * The symbolic name of an OID this module defines, e.g. `chainupRunId`; `chainupRunId.0` for an instance
 * below a known object; undefined for anything else.
 */
export function oidName(oid: string): string | undefined {
  const exact = NAMES.get(oid)
  if (exact !== undefined) return exact
  for (const [known, name] of NAMES) {
    if (oid.startsWith(`${known}.`)) return `${name}${oid.slice(known.length)}`
  }
  return undefined
}
