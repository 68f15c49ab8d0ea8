/**
 * chainup's SNMP object identifiers (docs/snmp.md, mibs/CHAINUP-MIB.txt).
 *
 * Until chainup has a Private Enterprise Number of its own they live under 32473, the enterprise number
 * RFC 5612 reserves for documentation and examples; the subtree is `1.3.6.1.4.1.32473.1` (chainupMIB).
 * Notifications sit under `.0` (SMIv2 convention, so RFC 3584 can map them to SNMPv1 traps), the objects
 * they carry under `.1`, the MIB's conformance groups under `.2`. Objects are sent with exactly these OIDs
 * (no `.0` instance suffix). An inventory may move the subtree below another enterprise
 * (`snmp.enterprise_oid`, {@link chainupOids}); the arcs below it never change.
 * No runtime dependencies: safe to import from anywhere.
 */

/** `enterprises.32473`: the RFC 5612 documentation enterprise, chainup's default `snmp.enterprise_oid`. */
export const DOCUMENTATION_ENTERPRISE_OID = '1.3.6.1.4.1.32473'

/** Root of chainup's subtree (chainupMIB, the MIB's MODULE-IDENTITY): `<enterprise>.1`. */
export const CHAINUP_OID = '1.3.6.1.4.1.32473.1'

/**
 * The last arc of each notification under `<root>.0`, in the MIB's order. Never renumber: NMSs key on these.
 * The first two are v0.1's (`chainupPredecessorTimeout` .0.1, `chainupChainHalted` .0.2).
 */
export const NOTIFICATION_ARCS = {
  /** A successor halted the chain because its immediate predecessor worked on its device longer than `timeouts.predecessor`. */
  chainupPredecessorTimeout: 1,
  /** The chain halted on any other fault (a device task failed and `on_error` did not allow continuing, a lost link, a failed rollback, ...). */
  chainupChainHalted: 2,
  /** A reloaded device did not come back (SSH with the pinned key and a newer boot time) within `timeouts.boot`. */
  chainupDeviceDidNotReturn: 3,
  /** A gate (before, after, on_error or final) vetoed. */
  chainupGateVetoed: 4,
  /** The run finished `completed`. */
  chainupRunCompleted: 5,
  /** The run finished `failed`, `vetoed` or `cancelled`. */
  chainupRunFailed: 6,
  /** `on_failure: rollback`: the backward wave of compensating actions started. */
  chainupRollbackStarted: 7,
  /** The backward wave ended: every device rolled back, or a compensating action failed. */
  chainupRollbackFinished: 8,
} as const
export type ChainupNotificationName = keyof typeof NOTIFICATION_ARCS

/** The last arc of each object under `<root>.1`, in the MIB's order. The first six are v0.1's. */
export const OBJECT_ARCS = {
  /** ChainupText: the run's id, the same as in the run journal and `--json` output. */
  chainupRunId: 1,
  /** ChainupText: the chain (stack) name from the inventory, e.g. `access-stack-1`. */
  chainupStack: 2,
  /** ChainupText: the device the reporter waited for (its immediate predecessor). */
  chainupPredecessor: 3,
  /** ChainupText: the device the notification is about (whose node reports), or `run` for the run as a whole. */
  chainupReporter: 4,
  /** ChainupText (UTF-8): one human-readable line saying what happened. */
  chainupReason: 5,
  /** Gauge32: how long the reporter waited (for its predecessor; for its device to come back), whole seconds. */
  chainupWaitedSeconds: 6,
  /** INTEGER: which kind of gate vetoed: before(1), after(2), onError(3), final(4). */
  chainupGateType: 7,
  /** ChainupText: the vetoing gate's name from the playbook. */
  chainupGateName: 8,
  /** INTEGER: the run's final status: completed(1), failed(2), vetoed(3), cancelled(4). */
  chainupRunStatus: 9,
  /** Gauge32: how long the run took, whole seconds. */
  chainupDurationSeconds: 10,
  /** ChainupText: device names, comma-separated, in the order of the rollback. */
  chainupDevices: 11,
  /** INTEGER: how the rollback ended: rolledBack(1), rollbackFailed(2). */
  chainupRollbackResult: 12,
} as const
export type ChainupObjectName = keyof typeof OBJECT_ARCS

/**
 * The objects every instance of a notification carries, in order (the MIB's `OBJECTS` clause). Optional
 * objects come after them, only when they apply: `chainupPredecessor` for `chainupChainHalted` when the fault
 * is the link to the predecessor, `chainupReporter` is always present (`run` when no device reports).
 */
export const NOTIFICATION_OBJECTS: Readonly<Record<ChainupNotificationName, readonly ChainupObjectName[]>> = {
  chainupPredecessorTimeout: ['chainupRunId', 'chainupStack', 'chainupPredecessor', 'chainupReporter', 'chainupReason', 'chainupWaitedSeconds'],
  chainupChainHalted: ['chainupRunId', 'chainupStack', 'chainupReporter', 'chainupReason'],
  chainupDeviceDidNotReturn: ['chainupRunId', 'chainupStack', 'chainupReporter', 'chainupReason', 'chainupWaitedSeconds'],
  chainupGateVetoed: ['chainupRunId', 'chainupStack', 'chainupReporter', 'chainupReason', 'chainupGateType', 'chainupGateName'],
  chainupRunCompleted: ['chainupRunId', 'chainupStack', 'chainupReporter', 'chainupReason', 'chainupRunStatus', 'chainupDurationSeconds'],
  chainupRunFailed: ['chainupRunId', 'chainupStack', 'chainupReporter', 'chainupReason', 'chainupRunStatus', 'chainupDurationSeconds'],
  chainupRollbackStarted: ['chainupRunId', 'chainupStack', 'chainupReporter', 'chainupReason', 'chainupDevices'],
  chainupRollbackFinished: ['chainupRunId', 'chainupStack', 'chainupReporter', 'chainupReason', 'chainupDevices', 'chainupRollbackResult'],
}

/** The enumerations of the MIB's INTEGER objects: name → number (SMIv2 enumerations start at 1). */
export const ENUMS = {
  chainupGateType: {before: 1, after: 2, onError: 3, final: 4},
  chainupRunStatus: {completed: 1, failed: 2, vetoed: 3, cancelled: 4},
  chainupRollbackResult: {rolledBack: 1, rollbackFailed: 2},
} as const

/** Every OID of chainup's subtree below one enterprise OID. */
export interface ChainupOids {
  /** chainupMIB: `<enterprise>.1`. */
  root: string
  notifications: Record<ChainupNotificationName, string>
  objects: Record<ChainupObjectName, string>
}

/**
 * chainup's OIDs below `enterpriseOid` (`snmp.enterprise_oid`): root `<enterpriseOid>.1`, notifications
 * `<root>.0.N`, objects `<root>.1.N`.
 * @param enterpriseOid dotted numeric OID, e.g. `1.3.6.1.4.1.32473` (the loader checked its form)
 */
export function chainupOids(enterpriseOid: string = DOCUMENTATION_ENTERPRISE_OID): ChainupOids {
  const root = `${enterpriseOid}.1`
  const under = <K extends string>(arcs: Record<K, number>, branch: number): Record<K, string> =>
    Object.fromEntries(Object.entries<number>(arcs).map(([name, arc]) => [name, `${root}.${branch}.${arc}`])) as Record<K, string>
  return {root, notifications: under(NOTIFICATION_ARCS, 0), objects: under(OBJECT_ARCS, 1)}
}

const DEFAULT_OIDS = chainupOids()

/** chainup's notification OIDs (the value of `snmpTrapOID.0`) under the default enterprise 32473. */
export const ChainupNotification: Readonly<Record<ChainupNotificationName, string>> = DEFAULT_OIDS.notifications

/** The objects (varbinds) chainup's notifications carry, under the default enterprise 32473. */
export const ChainupObject: Readonly<Record<ChainupObjectName, string>> = DEFAULT_OIDS.objects

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
 * The symbolic name of an OID this module defines (default enterprise), e.g. `chainupRunId`; `chainupRunId.0`
 * for an instance below a known object; undefined for anything else.
 */
export function oidName(oid: string): string | undefined {
  const exact = NAMES.get(oid)
  if (exact !== undefined) return exact
  for (const [known, name] of NAMES) {
    if (oid.startsWith(`${known}.`)) return `${name}${oid.slice(known.length)}`
  }
  return undefined
}
