/**
 * `chainup node`: one device's ChainSync node as its own long-running process (e.g. on a jump host next to the
 * device). It joins every round a neighbour announces (`ROUND:<id>`), runs the device's readiness and task for it,
 * journals that device's part in its own state directory and writes its result there (`runs/<run>.<device>.json`).
 */
import type {Writable} from 'node:stream'

import {loadStack} from '../config/load.js'
import {InputError} from '../errors.js'
import {openJournal} from '../journal/journal.js'
import {RunEvents} from '../model/events.js'
import type {NodeRoundHandle} from '../run/node-round.js'
import {runNodeRound} from '../run/node-round.js'
import {saveResult} from '../run/result-file.js'
import {resolveSecrets, secretValues} from '../run/secrets.js'
import {startChainNodes} from '../run/nodes.js'
import {runTransports} from '../run/transport.js'
import {attachPlainReporter} from '../ui/plain.js'

export interface NodeCommandOptions {
  inventoryPath: string
  device: string
  stateDir: string
  stdout: Writable
  /** Aborting it (SIGTERM/SIGINT) closes the node. */
  signal: AbortSignal
}

/**
 * Runs until `signal` aborts.
 * @throws InputError (exit 2) for a bad inventory, an unknown device or one without a node address;
 *   Error when the neighbours do not connect within chainsync.connect_timeout
 */
export async function nodeCommand(opts: NodeCommandOptions): Promise<void> {
  const {inventory, playbook} = await loadStack(opts.inventoryPath)
  const index = inventory.devices.findIndex((d) => d.name === opts.device)
  const device = inventory.devices[index]
  if (!device) {
    throw new InputError(`${opts.inventoryPath}: no device "${opts.device}"`, {code: 'NO_SUCH_DEVICE', problems: [`devices: ${inventory.devices.map((d) => d.name).join(', ')}`]})
  }
  if (!device.node) throw new InputError(`${opts.inventoryPath} devices[${index}].node: ${device.name} has no ChainSync node address (host:port)`, {code: 'NO_NODE_ADDRESS'})
  const secrets = resolveSecrets(inventory)
  const line = (text: string) => opts.stdout.write(`${new Date().toISOString()} ${device.name} ${text}\n`)
  if (!inventory.chainsync.tls && !inventory.chainsync.insecure_plain_tcp) {
    throw new InputError(`${opts.inventoryPath} chainsync: chainup node runs a node in its own process, so its links must be authenticated by configuration: set chainsync.tls, or chainsync.insecure_plain_tcp: true`, {
      code: 'CHAINSYNC_UNAUTHENTICATED',
      hint: 'see docs/chainsync-security.md (chainup certs init, or a PSK file)',
    })
  }
  const links = await runTransports(inventory, [device.name])
  for (const warning of [...links.warnings, ...secrets.warnings]) line(`warn: ${warning.replace(/^warning: /, '')}`)
  const transport = links.transportFor(device.name)
  const journal = await openJournal(opts.stateDir, {secrets: secretValues(secrets)})
  try {
    const nodes = await startChainNodes(inventory, {
      only: [device.name],
      transportFor: () => transport,
      log: (e) => e.level !== 'debug' && line(`${e.level}: chainsync: ${e.message}`),
    })
    const node = nodes.get(device.name)!
    line(`node listening on ${device.node.host}:${device.node.port} (${transport?.kind ?? 'tcp'}), neighbours connected`)
    /** Rounds in progress (a stop halts them before the node closes). */
    const active = new Map<string, {round: NodeRoundHandle; saved: Promise<void>}>()

    let stopping = false
    node.on('roundAnnounced', ({roundId}) => {
      if (stopping) return
      line(`joining round ${roundId}`)
      const events = new RunEvents()
      events.redactSecrets(secretValues(secrets))
      attachPlainReporter(events, opts.stdout)
      const round = runNodeRound({runId: roundId, inventory, playbook, device, node, secrets, events, journal})
      const saved = round.done
        .then((result) => {
          const file = saveResult(opts.stateDir, result, `${roundId}.${device.name}`)
          line(`round ${roundId} ${result.status}${result.reason ? `: ${result.reason}` : ''}; result saved to ${file}`)
        })
        .catch((error: Error) => void line(`error: round ${roundId}: ${error.message}`))
        .finally(() => active.get(roundId)?.round === round && active.delete(roundId))
      active.set(roundId, {round, saved})
    })

    await new Promise<void>((resolve) => {
      if (opts.signal.aborted) return resolve()
      opts.signal.addEventListener('abort', () => resolve(), {once: true})
    })
    line('stopping')
    stopping = true
    const rounds = [...active.entries()]
    for (const [roundId, {round}] of rounds) {
      // The neighbours learn it at once (ABORT), and this device's task stops instead of running on unsupervised.
      node.abort(roundId, `node ${device.name} stopped (${String(opts.signal.reason ?? 'signal')})`)
      round.halt.abort('node stopping')
    }
    await Promise.allSettled(rounds.map(([, r]) => r.saved))
    await node.close()
  } finally {
    journal.close()
  }
}
