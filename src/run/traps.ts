import type {ChainTrap} from '../notify/snmp.js'
import type {RunEvents} from './events.js'
import type {ResolvedSecrets} from './secrets.js'

/**
 * A function that sends one chainup trap to every configured receiver in the background, reports it as a
 * `trapSent` event, and adds the sending promise to `pending` (await it before the run's result is final).
 * net-snmp is loaded only when a trap is actually sent.
 */
export function trapSender(secrets: ResolvedSecrets, events: RunEvents, pending: Array<Promise<unknown>>): (trap: ChainTrap) => void {
  return (trap) => {
    const p = (async () => {
      const {SnmpNotifier} = await import('../notify/snmp.js')
      const notifier = new SnmpNotifier(secrets.trapTargets)
      try {
        const receivers = await notifier.send(trap)
        events.emit('trapSent', {kind: trap.kind, reporter: trap.reporter, reason: trap.reason, receivers})
      } finally {
        notifier.close()
      }
    })().catch((error: Error) => events.emit('log', {level: 'error', device: trap.reporter, message: `cannot send SNMP trap: ${error.message}`}))
    pending.push(p)
  }
}
