/**
 * The trap notifier as an observer of the run's events (STYLE.md "observers, not tangles"): it turns
 * `predecessorTimeout` and `chainHalted` into SNMP traps (docs/traps.md) and reports each as `trapSent`.
 * Nothing that halts a chain calls the SNMP sender itself. net-snmp is loaded only when a trap is actually sent.
 */
import type {RunEvents} from '../model/events.js'
import type {ChainTrap, TrapTarget} from './snmp.js'

export interface TrapNotifier {
  /** Resolves once every trap started so far has been sent (or has failed and been logged). Never rejects. */
  flush(): Promise<void>
}

/**
 * Attaches the notifier to a run's events.
 * @param run the run id (chainupRunId) and stack (chainupStack) every trap carries
 * @param targets the receivers, communities already resolved
 */
export function attachTrapNotifier(events: RunEvents, run: {runId: string; stack: string}, targets: readonly TrapTarget[]): TrapNotifier {
  const pending: Array<Promise<void>> = []
  const send = (trap: ChainTrap) => {
    const p = (async () => {
      const {SnmpNotifier} = await import('./snmp.js')
      const notifier = new SnmpNotifier([...targets])
      try {
        const receivers = await notifier.send(trap)
        events.emit('trapSent', {kind: trap.kind, reporter: trap.reporter, reason: trap.reason, receivers})
      } finally {
        notifier.close()
      }
    })().catch((error: Error) => void events.emit('log', {level: 'error', device: trap.reporter, message: `cannot send SNMP trap: ${error.message}`}))
    pending.push(p)
  }
  events.on('predecessorTimeout', (e) =>
    send({kind: 'predecessor_timeout', ...run, predecessor: e.predecessor, reporter: e.device, reason: e.reason, waitedSeconds: Math.round(e.waitedMs / 1000)}),
  )
  events.on('chainHalted', (e) => send({kind: 'chain_halted', ...run, reporter: e.device, reason: e.reason, ...(e.predecessor ? {predecessor: e.predecessor} : {})}))
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
