/** A chainup trap as the tests send it (docs/traps.md). */
import type {ChainTrap} from '../../src/notify/snmp.js'

export const timeoutTrap: ChainTrap = {
  kind: 'predecessor_timeout',
  runId: 'run-20261121-100203-ab12',
  stack: 'access-stack-1',
  predecessor: 'sw1',
  reporter: 'sw2',
  reason: 'sw1 worked on its device for 21m 00s (limit 20m)',
  waitedSeconds: 1260.4,
}
