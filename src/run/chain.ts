/**
 * The ChainSync round of one run (draft-dohmeyer-chainsync-03 §6): start this process's nodes, give each an agent,
 * wait for the Head's exit (or a halt), let in-flight work settle, close the nodes.
 */
import type {DeviceEntry, Inventory, Playbook} from '../config/types.js'
import type {HostKeySource} from '../device/known-hosts.js'
import {StagingPool} from '../device/staging-pool.js'
import type {Journal} from '../journal/journal.js'
import type {GateEvaluation} from '../model/result.js'
import type {RunEvents} from '../model/events.js'
import {closeChain} from '../protocol/local-chain.js'
import type {ChainSyncNode} from '../protocol/node.js'
import type {ChainSyncTransport} from '../protocol/transport.js'
import {createDeviceAgent, type DeviceAgent} from './agent.js'
import type {RunHalt} from './halt.js'
import {startChainNodes} from './nodes.js'
import {replayOutbox, type ResumePlan} from './resume.js'
import type {ResolvedSecrets} from './secrets.js'

export interface ChainRound {
  runId: string
  inventory: Inventory
  playbook: Playbook
  secrets: ResolvedSecrets
  events: RunEvents
  journal: Journal
  halt: RunHalt
  /** Present when the run is resumed. */
  resume: ResumePlan | undefined
  hostKeys?: ReadonlyMap<string, HostKeySource>
  extensions?: boolean
  transportFor?: (device: string) => ChainSyncTransport | undefined
  /** Hands out the run-wide step order. */
  nextOrder: () => number
  /** `--transcript DIR` (device/transcript.ts). */
  transcriptDir?: string
  /** A journal write outside the recorder failed (outbox, fence): the run stops safely instead of crashing. */
  onJournalError?: (error: Error) => void
  /** The built-in gate each local agent evaluates right before its device's task (the maintenance window's, run/window-gate.ts). */
  taskGate?: (device: DeviceEntry) => GateEvaluation
}

/**
 * Runs the round to its end. The agents are filled in as they are made (the run's stop logic asks them whether a
 * device is working).
 * @throws when a node cannot listen or its neighbours do not connect (nothing was touched then)
 */
export async function runChain(round: ChainRound, agents: Map<string, DeviceAgent>): Promise<void> {
  const {inventory, journal, runId, halt, events, resume} = round
  const log = (level: 'info' | 'warn' | 'error', device: string | null, message: string) => events.emit('log', {level, device, message})
  // Journal writes made from socket handlers must never throw there (it would kill the process mid-reload).
  const guarded = <T>(write: () => T, fallback: T): T => {
    try {
      return write()
    } catch (error) {
      if (!round.onJournalError) throw error
      round.onJournalError(error as Error)
      return fallback
    }
  }
  const nodes = await startChainNodes(inventory, {
    ...(round.extensions === undefined ? {} : {extensions: round.extensions}),
    ...(round.transportFor ? {transportFor: round.transportFor} : {}),
    outboxFor: (device) => ({
      enqueue: (_roundId, side, line) => guarded(() => journal.enqueue(runId, device, side, line), -1),
      sent: (id) => void (id >= 0 && guarded(() => journal.markSent(id), false)),
    }),
    log: (e) => (e.level === 'debug' ? undefined : log(e.level, e.node, `chainsync: ${e.message}`)),
  })
  try {
    const finished = roundEnd(nodes, runId, inventory.devices[0]!.name)
    // A halt while the round runs goes through an agent, so its node sends ABORT both ways.
    halt.routeThroughChain((status, reason) => {
      const any = [...agents.values()][0]
      if (any) any.halt(status, reason)
      else halt.abort(reason)
    })
    // Image staging: one copy limiter (staging.concurrency) and one digest for all of this process's devices.
    const staging = new StagingPool(inventory.staging.concurrency)
    for (const device of inventory.devices) {
      const node = nodes.get(device.name)
      if (!node) continue
      // A link back after a drop (RunEvents.linkReconnected): metrics count them.
      node.on('linkUp', ({side, reconnect}) => void (reconnect && events.emit('linkReconnected', {device: device.name, side})))
      const versionBefore = resume?.versionsBefore.get(device.name)
      const resumeState = resume?.states.get(device.name)
      agents.set(
        device.name,
        createDeviceAgent({
          runId,
          inventory,
          playbook: round.playbook,
          device,
          node,
          secrets: round.secrets,
          events,
          halt,
          nextOrder: round.nextOrder,
          ...(round.hostKeys?.get(device.name) ? {hostKey: round.hostKeys.get(device.name)!} : {}),
          fence: {
            record: (before) =>
              journal.recordReloadIntent({runId, device: device.name, restartedAtBefore: before.restartedAt ?? null, uptimeBefore: before.uptimeSeconds ?? null, targetVersion: inventory.target.version}),
            clear: (outcome) => void guarded(() => journal.clearFence(runId, device.name, outcome), false),
          },
          ...(resumeState ? {resume: resumeState} : {}),
          ...(versionBefore ? {versionBefore} : {}),
          startedBefore: resume?.startedBefore.get(device.name) ?? [],
          ...(round.transcriptDir === undefined ? {} : {transcriptDir: round.transcriptDir}),
          staging,
          ...(round.taskGate ? {taskGate: () => round.taskGate!(device)} : {}),
          commit: (fn) => {
            try {
              return journal.transaction(fn)
            } catch (error) {
              round.onJournalError?.(error as Error)
              throw error
            }
          },
        }),
      )
    }
    if (resume) replayOutbox(journal, runId, inventory, nodes, log)
    const stop = halt.stopRequested()
    if (stop) {
      // Stopped while the nodes were starting: no round was joined, nothing was touched.
      halt.record(stop.status, stop.reason)
      halt.abort(stop.reason)
    } else {
      for (const agent of agents.values()) agent.start()
      await finished
    }
    // A task held off by another node's ABORT (agent.ts: the device in progress finishes first) aborts the signal
    // itself when it ends; aborting it here would cut that device's install or reload short.
    if (halt.cause && ![...agents.values()].some((a) => a.working)) halt.abort(halt.cause.reason)
    // Let in-flight work see the halt and settle before the nodes go away.
    await Promise.all([...agents.values()].map((a) => a.settled()))
    // Devices whose task never started (readiness only) did not start their upgrade.
    for (const [name, agent] of agents) {
      if (agent.outcome === 'not_started' && resume?.states.get(name)?.state !== 'done') agent.settle('not_started')
    }
  } finally {
    halt.routeThroughChain(undefined)
    await closeChain([...nodes.values()])
    for (const agent of agents.values()) agent.worker.closeSession()
  }
}

/**
 * Resolves when the round ends for this process. The Head's exit ends phase 4; with a remote Head any local node's
 * exit says the same: a node exits once every node after it completed, and every node before it completed before it
 * started (draft §6.3, §6.4). A halt ends it too.
 */
function roundEnd(nodes: ReadonlyMap<string, ChainSyncNode>, runId: string, headName: string): Promise<void> {
  const head = nodes.get(headName)
  return new Promise<void>((resolve) => {
    for (const node of nodes.values()) {
      node.on('exit', ({roundId}) => roundId === runId && (!head || head === node) && resolve())
      node.on('halted', ({roundId}) => roundId === runId && resolve())
    }
  })
}
