/**
 * One round of a standalone node (`chainup node`): the device's part of a run that another process orchestrates.
 * Journaled like an embedded run (its own operation run in this node's journal, the other devices `remote`), and
 * its result built from that journal.
 */
import type {Inventory} from '../config/types.js'
import type {Journal} from '../journal/journal.js'
import {attachJournal} from '../journal/recorder.js'
import type {ChainExecutionResult} from '../model/result.js'
import {attachTrapNotifier} from '../notify/observer.js'
import {createDeviceAgent, type AgentOptions, type DeviceAgent} from './agent.js'
import {RunHalt} from './halt.js'
import {finalStatus, resultFromJournal} from './record.js'

export interface NodeRound extends Pick<AgentOptions, 'runId' | 'inventory' | 'playbook' | 'device' | 'node' | 'secrets' | 'events' | 'hostKey' | 'clock' | 'dial' | 'probe'> {
  /** This node's own journal (its state directory). */
  journal: Journal
}

/** A round in progress: halt it to stop the device's work (a node shutting down). */
export interface NodeRoundHandle {
  halt: RunHalt
  /** Resolves with the device's result once the round ended and its work settled. */
  done: Promise<ChainExecutionResult>
}

/**
 * Joins the round and runs the device's readiness and task. The round is journaled as operation run
 * `<run id>/<device>` (`/<device>#2`, `#3` … when this journal already holds an earlier attempt, e.g. a resumed run),
 * so nodes and an orchestrator that share a state directory never collide; the result keeps `execution_id` = run id.
 * A journal that cannot record the round makes the node abort it at once (every neighbour learns it by ABORT), so
 * no device is touched unrecorded and the chain does not wait for a READY that never comes.
 * @returns the round's handle; its `done` rejects when the journal failed
 */
export function runNodeRound(round: NodeRound): NodeRoundHandle {
  const {runId, inventory, device, node, events, journal} = round
  const halt = new RunHalt()
  let recordId: string
  let deviceRuns: Record<string, string>
  try {
    ;({id: recordId, devices: deviceRuns} = createNodeRecord(journal, runId, inventory, device.name))
  } catch (error) {
    const reason = `node ${device.name} cannot journal the round: ${(error as Error).message}`
    try {
      node.join(runId)
      node.abort(runId, reason)
      node.forget(runId)
    } catch {
      // The node cannot even join (round limit): the neighbours time out on their own.
    }
    return {halt, done: Promise.reject(new Error(reason, {cause: error}))}
  }
  let agent: DeviceAgent | undefined
  // A journal write that fails mid-round halts the round with the reason (the recorder stops writing).
  attachJournal(journal, recordId, deviceRuns, events, (error) => agent?.halt('failed', `${device.name}: journal write failed: ${error.message}`))
  const traps = attachTrapNotifier(events, {runId, stack: inventory.stack}, round.secrets.trapTargets)
  let order = 0
  agent = createDeviceAgent({...round, halt, nextOrder: () => ++order, commit: (fn) => journal.transaction(fn)})
  const joined = agent
  let onEnd: (e: {roundId: string}) => void = () => undefined
  const ended = new Promise<void>((resolve) => {
    onEnd = ({roundId}) => roundId === runId && resolve()
    node.on('exit', onEnd)
    node.on('halted', onEnd)
  })
  joined.start()
  const done = (async () => {
    try {
      await ended
      await joined.settled()
      if (joined.outcome === 'not_started') joined.settle('not_started')
      await traps.flush()
    } finally {
      node.off('exit', onEnd)
      node.off('halted', onEnd)
      joined.dispose()
      node.forget(runId)
    }
    // The node's result says only what happened to its device; the reason is the halt's (none when it completed).
    journal.finishRun(recordId, finalStatus(halt.cause, [{name: device.name, outcome: joined.outcome}]).status, halt.cause?.reason ?? null)
    // Every other device ran in its own process: this journal saw nothing of it.
    const result = resultFromJournal(journal, recordId, new Set(inventory.devices.map((d) => d.name).filter((n) => n !== device.name)))
    return {...result, execution_id: runId}
  })()
  return {halt, done}
}

/** Creates the node's operation run for a round: `<run>/<device>`, or the next free `#N` attempt. */
function createNodeRecord(journal: Journal, runId: string, inventory: Inventory, deviceName: string): {id: string; devices: Record<string, string>} {
  for (let attempt = 1; ; attempt++) {
    const id = `${runId}/${deviceName}${attempt === 1 ? '' : `#${attempt}`}`
    try {
      const created = journal.createRun({id, stack: inventory.stack, devices: inventory.devices.map((d) => d.name), target: inventory.target})
      journal.appendEvent(id, {type: 'nodeRound', device: deviceName, data: {role: 'node', device: deviceName, run: runId, attempt}})
      return created
    } catch (error) {
      if ((error as {code?: string}).code !== 'RUN_EXISTS' || attempt >= 100) throw error
    }
  }
}
