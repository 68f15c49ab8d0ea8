/**
 * `chainup node`: one device's ChainSync node as its own long-running process (e.g. on a jump host next to the
 * device). It joins every round a neighbour announces (`ROUND:<id>`), runs the device's readiness and task for it,
 * and writes that device's part of the result under the state directory.
 */
import type {Writable} from 'node:stream'

import {loadStack} from '../config/load.js'
import {InputError} from '../errors.js'
import {DeviceAgent} from '../run/agent.js'
import {ResultCollector} from '../run/collector.js'
import {RunEvents} from '../run/events.js'
import type {ChainExecutionResult, ChainStatus} from '../run/result.js'
import {resolveSecrets} from '../run/secrets.js'
import {startChainNodes} from '../run/nodes.js'
import {trapSender} from '../run/traps.js'
import {defaultHostKey, saveResult} from '../run/upgrade.js'
import {attachPlainReporter} from '../ui/plain.js'
import {chainsyncTransport} from '../run/transport.js'

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
  const transport = await chainsyncTransport(inventory, device.name)
  const nodes = await startChainNodes(inventory, {
    only: [device.name],
    transportFor: () => transport,
    log: (e) => e.level !== 'debug' && line(`${e.level}: chainsync: ${e.message}`),
  })
  const node = nodes.get(device.name)!
  line(`node listening on ${device.node.host}:${device.node.port} (${transport?.kind ?? 'tcp'}), neighbours connected`)
  const rounds = new Set<Promise<void>>()
  /** Rounds in progress and their halt controllers (a stop halts them before the node closes). */
  const active = new Map<string, AbortController>()

  const runRound = async (runId: string) => {
    const events = new RunEvents()
    attachPlainReporter(events, opts.stdout)
    const collector = new ResultCollector(events)
    const halt = new AbortController()
    let cause: {status: ChainStatus; reason: string} | undefined
    const pending: Array<Promise<unknown>> = []
    let order = 0
    const startedAt = new Date()
    const agent = new DeviceAgent({
      runId,
      inventory,
      playbook,
      device,
      node,
      secrets,
      hostKey: defaultHostKey(inventory, device.name),
      events,
      nextOrder: () => ++order,
      halt,
      onHalt: (status, reason) => (cause ??= {status, reason}),
      sendTrap: trapSender(secrets, events, pending),
    })
    let onExit: (e: {roundId: string}) => void = () => undefined
    const finished = new Promise<void>((resolve) => {
      onExit = ({roundId}) => roundId === runId && resolve()
      node.on('exit', onExit)
      node.on('halted', onExit)
    })
    line(`joining round ${runId}`)
    active.set(runId, halt)
    agent.start()
    await finished
    node.off('exit', onExit)
    node.off('halted', onExit)
    active.delete(runId)
    await agent.settled()
    await Promise.all(pending)
    node.forget(runId)
    const completedAt = new Date()
    const result: ChainExecutionResult = {
      execution_id: runId,
      chain_id: inventory.stack,
      status: cause?.status ?? (agent.outcome === 'failed' ? 'failed' : 'completed'),
      started_at: startedAt.toISOString(),
      completed_at: completedAt.toISOString(),
      duration_ms: completedAt.getTime() - startedAt.getTime(),
      steps: collector.orderedSteps(),
      gates: collector.gates,
      reason: cause?.reason ?? null,
      devices: inventory.devices.map((d) =>
        d.name === device.name
          ? {name: d.name, status: agent.outcome, version_before: agent.worker.factsBefore?.version ?? null, version_after: agent.worker.factsAfter?.version ?? null}
          : {name: d.name, status: 'remote', version_before: null, version_after: null},
      ),
      traps: collector.traps,
    }
    const file = saveResult(opts.stateDir, result, `${runId}.${device.name}`)
    line(`round ${runId} ${result.status}${result.reason ? `: ${result.reason}` : ''}; result saved to ${file}`)
  }

  node.on('roundAnnounced', ({roundId}) => {
    const p = runRound(roundId).catch((error: Error) => {
      line(`error: round ${roundId}: ${error.message}`)
    })
    rounds.add(p)
    void p.finally(() => rounds.delete(p))
  })

  await new Promise<void>((resolve) => {
    if (opts.signal.aborted) return resolve()
    opts.signal.addEventListener('abort', () => resolve(), {once: true})
  })
  line('stopping')
  for (const [roundId, halt] of active) {
    // The neighbours learn it at once (ABORT), and this device's task stops instead of running on unsupervised.
    node.abort(roundId, `node ${device.name} stopped (${String(opts.signal.reason ?? 'signal')})`)
    if (!halt.signal.aborted) halt.abort('node stopping')
  }
  await Promise.allSettled([...rounds])
  await node.close()
}
