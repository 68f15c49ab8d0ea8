/**
 * The SNMP notifier as an observer of the run's events (STYLE.md "observers, not tangles"): it turns run events into
 * chainup's notifications (docs/snmp.md) and reports each as `trapSent`. Nothing that halts a chain calls the SNMP
 * sender itself, and no event exists only for it: every notification is derived from events the run emits anyway.
 * net-snmp is loaded only when a notification is actually sent.
 *
 * | event | notification |
 * | --- | --- |
 * | `predecessorTimeout` | chainupPredecessorTimeout |
 * | `chainHalted` | chainupChainHalted |
 * | `stepFinished`, phase `reboot`, status `failed` | chainupDeviceDidNotReturn |
 * | `gateEvaluated`, decision `veto` | chainupGateVetoed |
 * | the first `deviceOutcome` `rolling_back` | chainupRollbackStarted |
 * | `deviceOutcome` `rollback_failed`, or `rolled_back` of the last device the wave visits | chainupRollbackFinished |
 * | `runFinished` | chainupRunCompleted (status completed) or chainupRunFailed |
 *
 * The run's end is notified after its journal closed: that notification's outcome is not emitted as `trapSent`
 * (it would be journaled into a closed journal), and it is not in the run's result. The process still waits for it
 * (an inform's retries included) before it exits; {@link TrapNotifier.flush} resolves after it.
 */
import type {RunEvents} from '../model/events.js'
import type {DeviceOutcome} from '../model/status.js'
import type {ChainTrap, TrapSendResult, TrapTarget} from './snmp.js'

/**
 * `chainupReporter` of a notification about the run as a whole (a stack-wide gate, the rollback, the run's end);
 * its `trapSent` record has reporter null.
 */
export const RUN_REPORTER = 'run'

export interface TrapNotifier {
  /** Resolves once every notification started so far has been sent (or has failed and been logged). Never rejects. */
  flush(): Promise<void>
}

/**
 * Attaches the notifier to a run's events.
 * @param run the run id (chainupRunId) and stack (chainupStack) every notification carries
 * @param targets the receivers, secrets and `snmp.enterprise_oid` already resolved (run/secrets.ts)
 */
export function attachTrapNotifier(events: RunEvents, run: {runId: string; stack: string}, targets: readonly TrapTarget[]): TrapNotifier {
  const pending: Array<Promise<void>> = []
  let finished = false
  // Notifications go out in parallel (an inform may wait for its retries); their reports follow the events' order.
  let reported: Promise<void> = Promise.resolve()
  /** @param device the device it is about (the journal files the report under it), null for the run as a whole */
  const send = (trap: ChainTrap, device: string | null, report = true) => {
    const sent = (async () => {
      const {SnmpNotifier} = await import('./snmp.js')
      const notifier = new SnmpNotifier([...targets])
      try {
        return await notifier.send(trap)
      } finally {
        notifier.close()
      }
    })()
    const before = reported
    const p = (async () => {
      let receivers: TrapSendResult[] | undefined
      let failure: Error | undefined
      try {
        receivers = await sent
      } catch (error) {
        failure = error as Error
      }
      await before
      if (!report) return
      // The journal files a trap under its device; one about the run as a whole under the run (reporter null).
      if (receivers) events.emit('trapSent', {kind: trap.kind, reporter: device, reason: trap.reason, receivers})
      else events.emit('log', {level: 'error', device, message: `cannot send SNMP notification: ${failure?.message}`})
    })().catch(() => undefined) // a listener that throws must not stop the reports after it
    reported = p
    pending.push(p)
  }
  const common = {...run}

  events.on('predecessorTimeout', (e) =>
    send({kind: 'predecessor_timeout', ...common, predecessor: e.predecessor, reporter: e.device, reason: e.reason, waitedSeconds: e.waitedMs / 1000}, e.device),
  )
  events.on('chainHalted', (e) => send({kind: 'chain_halted', ...common, reporter: e.device, reason: e.reason, ...(e.predecessor ? {predecessor: e.predecessor} : {})}, e.device))
  events.on('stepFinished', (s) => {
    if (s.phase !== 'reboot' || s.status !== 'failed') return
    send({kind: 'device_did_not_return', ...common, reporter: s.device, reason: s.error ?? `${s.device} did not come back from its reload`, waitedSeconds: s.duration_ms / 1000}, s.device)
  })
  events.on('gateEvaluated', (g) => {
    if (g.decision !== 'veto') return
    send({kind: 'gate_vetoed', ...common, reporter: g.device ?? RUN_REPORTER, reason: g.reason, gateType: g.type, gateName: g.name}, g.device)
  })

  // The rollback (run/rollback.ts): failed or cut-short devices first in chain order, then upgraded ones reversed.
  let chain: string[] = []
  const outcomes = new Map<string, DeviceOutcome>()
  let rollback: {devices: string[]; done: Set<string>; finished: boolean} | undefined
  events.on('runStarted', (e) => void (chain = [...e.devices]))
  events.on('deviceOutcome', (e) => {
    if (e.outcome === 'rolling_back' && rollback === undefined) {
      const names = chain.length > 0 ? chain : [...outcomes.keys()]
      const before = (n: string) => outcomes.get(n)
      const devices = [...names.filter((n) => before(n) === 'failed' || before(n) === 'cancelled'), ...names.filter((n) => before(n) === 'upgraded').reverse()]
      if (!devices.includes(e.device)) devices.unshift(e.device)
      rollback = {devices, done: new Set(), finished: false}
      send({kind: 'rollback_started', ...common, reporter: RUN_REPORTER, reason: `rolling back ${devices.join(' -> ')}`, devices}, null)
    } else if (rollback && !rollback.finished && (e.outcome === 'rolled_back' || e.outcome === 'rollback_failed')) {
      rollback.done.add(e.device)
      const failed = e.outcome === 'rollback_failed'
      if (failed || rollback.devices.every((d) => rollback?.done.has(d))) {
        rollback.finished = true
        const reason = failed
          ? `rollback failed on ${e.device}; rolled back before it: ${[...rollback.done].filter((d) => d !== e.device).join(', ') || 'none'}`
          : `rolled back ${rollback.devices.join(', ')}`
        const reporter = failed ? e.device : null
        send({kind: 'rollback_finished', ...common, reporter: reporter ?? RUN_REPORTER, reason, devices: rollback.devices, rollbackResult: failed ? 'rollback_failed' : 'rolled_back'}, reporter)
      }
    }
    outcomes.set(e.device, e.outcome)
  })

  events.on('runFinished', (r) => {
    if (finished) return
    finished = true
    const completed = r.status === 'completed'
    const upgraded = r.devices.filter((d) => d.status === 'upgraded').length
    send(
      {
        kind: completed ? 'run_completed' : 'run_failed',
        ...common,
        reporter: RUN_REPORTER,
        reason: r.reason ?? (completed ? `completed: ${upgraded} of ${r.devices.length} device${r.devices.length === 1 ? '' : 's'} upgraded` : r.status),
        runStatus: r.status,
        durationSeconds: r.duration_ms / 1000,
      },
      null,
      false,
    )
  })
  return {
    flush: async () => {
      for (let done = 0; done < pending.length; ) {
        const n = pending.length
        await Promise.allSettled(pending.slice(done))
        done = n
      }
    },
  }
}
