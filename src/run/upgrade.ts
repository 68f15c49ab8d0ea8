/**
 * `chainup upgrade`: one run = one ChainSync round over the stack (draft-dohmeyer-chainsync-03 §6) with the
 * device tasks of DeviceWorker and the gates of DEC-002. Embedded mode: every node in this process on loopback.
 */
import {randomUUID} from 'node:crypto'
import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {expandTemplate} from '../config/template.js'
import type {Inventory, Playbook} from '../config/types.js'
import type {HostKeySource} from '../device/known-hosts.js'
import {evaluateGate} from '../gates/engine.js'
import {closeChain} from '../protocol/local-chain.js'
import type {ChainSyncTransport} from '../protocol/transport.js'
import {ResultCollector} from './collector.js'
import {DeviceAgent} from './agent.js'
import {RunEvents} from './events.js'
import {startChainNodes} from './nodes.js'
import {trapSender} from './traps.js'
import type {ChainExecutionResult, ChainStatus} from './result.js'
import type {ResolvedSecrets} from './secrets.js'

export interface UpgradeOptions {
  inventory: Inventory
  playbook: Playbook
  secrets: ResolvedSecrets
  /** Per device host key source; defaults to the inventory's host_key / known_hosts. */
  hostKeys?: ReadonlyMap<string, HostKeySource>
  events?: RunEvents
  /** Where the result JSON is written (`<stateDir>/runs/<execution_id>.json`). */
  stateDir: string
  /** Overrides inventory.chainsync.extensions. */
  extensions?: boolean
  /** Each local node's ChainSync transport (TLS); plain TCP by default. */
  transportFor?: (device: string) => ChainSyncTransport | undefined
  /** Run id (= ROUND-ID); a new UUID by default. */
  runId?: string
}

/**
 * Runs the upgrade of one stack and returns its DEC-002 result. Never throws for device or gate outcomes
 * (they are in the result); throws only for problems before the run starts (e.g. a port already in use).
 */
export async function runUpgrade(opts: UpgradeOptions): Promise<ChainExecutionResult> {
  const {inventory, playbook, secrets} = opts
  const events = opts.events ?? new RunEvents()
  const collector = new ResultCollector(events)
  const runId = opts.runId ?? randomUUID()
  const startedAt = new Date()
  const names = inventory.devices.map((d) => d.name)
  const halt = new AbortController()
  let haltCause: {status: ChainStatus; reason: string} | undefined
  const pending: Array<Promise<unknown>> = []
  let order = 0
  const nextOrder = () => ++order
  const log = (level: 'info' | 'warn' | 'error', device: string | null, message: string) => events.emit('log', {level, device, message})

  events.emit('runStarted', {runId, stack: inventory.stack, devices: names, target: inventory.target})
  const agents = new Map<string, DeviceAgent>()
  const onHalt = (status: ChainStatus, reason: string) => {
    if (!haltCause) haltCause = {status, reason}
  }

  const sendTrap = trapSender(secrets, events, pending)

  const stackVars = {stack: inventory.stack, target: inventory.target, device: {name: '', host: ''}}
  const stackGate = async (type: 'before' | 'final', gates: Playbook['gates']['final']) => {
    for (const gate of gates) {
      const evaluation = await evaluateGate(gate, {
        runId,
        stack: inventory.stack,
        type,
        device: null,
        playbookFile: playbook.file,
        defaultTimeoutMs: inventory.timeouts.gate,
        expand: (text, mode) => expandTemplate(text, stackVars, mode),
        hiddenEnv: secrets.hiddenEnv,
      })
      events.emit('gateEvaluated', evaluation)
      if (evaluation.decision === 'veto') return evaluation
    }
    return undefined
  }

  // DEC-002 phase 1: stack-wide before gates, before any device is touched.
  const beforeVeto = await stackGate('before', playbook.gates.before.filter((g) => g.scope === 'stack'))
  if (beforeVeto) {
    haltCause = {status: 'vetoed', reason: `before gate "${beforeVeto.name}" vetoed: ${beforeVeto.reason}`}
  } else {
    await runChain()
    if (!haltCause) {
      // DEC-002 phase 3: final after gates once every device is done.
      const finalVeto = await stackGate('final', playbook.gates.final)
      if (finalVeto) haltCause = {status: 'vetoed', reason: `final gate "${finalVeto.name}" vetoed: ${finalVeto.reason}`}
    }
  }
  await Promise.all(pending)

  const failedDevices = names.filter((n) => agents.get(n)?.outcome === 'failed')
  const status: ChainStatus = haltCause?.status ?? (failedDevices.length > 0 ? 'failed' : 'completed')
  const reason = haltCause?.reason ?? (failedDevices.length > 0 ? `failed on ${failedDevices.join(', ')} (on_error gates allowed the chain to continue)` : null)
  const completedAt = new Date()
  const result: ChainExecutionResult = {
    execution_id: runId,
    chain_id: inventory.stack,
    status,
    started_at: startedAt.toISOString(),
    completed_at: completedAt.toISOString(),
    duration_ms: completedAt.getTime() - startedAt.getTime(),
    steps: collector.orderedSteps(),
    gates: collector.gates,
    reason,
    devices: workersSummary(),
    traps: collector.traps,
  }
  const file = saveResult(opts.stateDir, result)
  log('info', null, `result saved to ${file}`)
  events.emit('runFinished', result)
  return result

  // --- the ChainSync round ---------------------------------------------------

  function workersSummary(): ChainExecutionResult['devices'] {
    return names.map((name) => {
      const a = agents.get(name)
      const remote = inventory.devices.find((d) => d.name === name)?.remote
      return {name, status: a?.outcome ?? (remote ? 'remote' : 'not_started'), version_before: a?.worker.factsBefore?.version ?? null, version_after: a?.worker.factsAfter?.version ?? null}
    })
  }

  async function runChain(): Promise<void> {
    const nodes = await startChainNodes(inventory, {
      ...(opts.extensions === undefined ? {} : {extensions: opts.extensions}),
      ...(opts.transportFor ? {transportFor: opts.transportFor} : {}),
      log: (e) => (e.level === 'debug' ? undefined : log(e.level, e.node, `chainsync: ${e.message}`)),
    })
    try {
      const head = nodes.get(names[0]!)
      const finished = new Promise<void>((resolve) => {
        for (const node of nodes.values()) {
          // The Head's exit ends phase 4. With a remote Head any local node's exit says the same: a node exits once
          // every node after it completed, and every node before it completed before it started (draft §6.3, §6.4).
          node.on('exit', ({roundId}) => roundId === runId && (!head || head === node) && resolve())
          node.on('halted', ({roundId}) => roundId === runId && resolve())
        }
      })
      for (const device of inventory.devices) {
        const node = nodes.get(device.name)
        if (!node) continue
        agents.set(
          device.name,
          new DeviceAgent({
            runId,
            inventory,
            playbook,
            device,
            node,
            secrets,
            hostKey: opts.hostKeys?.get(device.name) ?? defaultHostKey(inventory, device.name),
            events,
            nextOrder,
            halt,
            onHalt,
            sendTrap,
          }),
        )
      }
      for (const agent of agents.values()) agent.start()
      await finished
      if (!halt.signal.aborted && haltCause) halt.abort(haltCause.reason)
      // Let in-flight work see the halt and settle before the nodes go away.
      await Promise.all([...agents.values()].map((a) => a.settled()))
    } finally {
      await closeChain([...nodes.values()])
      for (const a of agents.values()) a.worker.closeSession()
    }
  }
}

/** The host key source the inventory gives a device: its own `host_key`, else the known_hosts file. */
export function defaultHostKey(inventory: Inventory, device: string): HostKeySource {
  const entry = inventory.devices.find((d) => d.name === device)
  if (entry?.host_key) return {kind: 'fingerprint', fingerprint: entry.host_key}
  if (inventory.ssh.known_hosts) return {kind: 'known_hosts', file: inventory.ssh.known_hosts}
  throw new Error(`${device}: no host key source (the inventory loader should have refused this)`)
}

/** Writes the result as `<stateDir>/runs/<execution_id>.json`, private to the user. */
export function saveResult(stateDir: string, result: ChainExecutionResult, basename = result.execution_id): string {
  const dir = join(stateDir, 'runs')
  mkdirSync(dir, {recursive: true, mode: 0o700})
  chmodSync(stateDir, 0o700)
  const file = join(dir, `${basename}.json`)
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n', {mode: 0o600})
  return file
}
