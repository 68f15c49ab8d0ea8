/**
 * `chainup node`: one device's ChainSync node as its own process (e.g. on a jump host next to the device). It joins
 * the round a neighbour starts (`ROUND:<id>`, or without extensions the predecessor's first READY), runs the device's
 * readiness and task for it, journals that device's part in its own state directory, writes its result there
 * (`runs/<run>.<device>.json`), and exits when that round is over (draft-dohmeyer-chainsync-03 §6.4: a node exits
 * after phase 4), with the round's exit code. With `persistent` it stays and joins the next rounds until stopped.
 */
import type {Writable} from 'node:stream'

import {loadStack} from '../config/load.js'
import {ExitCode, InputError} from '../errors.js'
import {openJournal} from '../journal/journal.js'
import {RunEvents} from '../model/events.js'
import type {NodeRoundHandle} from '../run/node-round.js'
import {runNodeRound} from '../run/node-round.js'
import {saveResult} from '../run/result-file.js'
import {resolveSecrets, secretValues} from '../run/secrets.js'
import {startChainNodes} from '../run/nodes.js'
import {runTransports} from '../run/transport.js'
import {attachPlainReporter} from '../ui/plain.js'
import {exitCodeFor} from './run-ui.js'

export interface NodeCommandOptions {
  inventoryPath: string
  device: string
  stateDir: string
  stdout: Writable
  /** Aborting it (SIGTERM/SIGINT) closes the node. */
  signal: AbortSignal
  /** Stay after a round and join the next ones until `signal` aborts. @default false: exit after the first round */
  persistent?: boolean
}

/**
 * Runs until its round is over (or, with `persistent`, until `signal` aborts).
 * @returns the exit code: the last round's (0 completed, 1 failed, 3 vetoed, 130 cancelled), 0 when stopped before
 *   any round
 * @throws InputError (exit 2) for a bad inventory, an unknown device or one without a node address;
 *   Error when the neighbours do not connect within chainsync.connect_timeout
 */
export async function nodeCommand(opts: NodeCommandOptions): Promise<ExitCode> {
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
    let exitCode: ExitCode = ExitCode.completed
    /** Resolves when the node should close: `signal` aborted, or (not persistent) its round is over. */
    let finish!: () => void
    const finished = new Promise<void>((resolve) => (finish = resolve))
    opts.signal.addEventListener('abort', () => finish(), {once: true})
    if (opts.signal.aborted) finish()
    node.on('roundAnnounced', ({roundId}) => {
      if (stopping) return
      if (!opts.persistent && active.size > 0) {
        line(`warn: not joining round ${roundId}: this node takes part in one round and then exits (start it with --persistent to join several)`)
        return
      }
      line(`joining round ${roundId}`)
      const events = new RunEvents()
      events.redactSecrets(secretValues(secrets))
      attachPlainReporter(events, opts.stdout)
      const round = runNodeRound({runId: roundId, inventory, playbook, device, node, secrets, events, journal})
      const saved = round.done
        .then((result) => {
          const file = saveResult(opts.stateDir, result, `${roundId}.${device.name}`)
          line(`round ${roundId} ${result.status}${result.reason ? `: ${result.reason}` : ''}; result saved to ${file}`)
          exitCode = exitCodeFor(result)
        })
        .catch((error: Error) => {
          line(`error: round ${roundId}: ${error.message}`)
          exitCode = ExitCode.failed
        })
        .finally(() => {
          if (active.get(roundId)?.round === round) active.delete(roundId)
          if (!opts.persistent) finish()
        })
      active.set(roundId, {round, saved})
    })

    await finished
    stopping = true
    if (opts.signal.aborted) line('stopping')
    const rounds = [...active.entries()]
    for (const [roundId, {round}] of rounds) {
      // The neighbours learn it at once (ABORT), and this device's task stops instead of running on unsupervised.
      node.abort(roundId, `node ${device.name} stopped (${String(opts.signal.reason ?? 'signal')})`)
      round.halt.abort('node stopping')
    }
    await Promise.allSettled(rounds.map(([, r]) => r.saved))
    await node.close()
    if (!opts.signal.aborted) line(`node closed after round (exit ${exitCode})`)
    return exitCode
  } finally {
    journal.close()
  }
}
