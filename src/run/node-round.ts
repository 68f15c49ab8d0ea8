/**
 * One round of a standalone node (`chainup node`): the device's part of a run that another process orchestrates.
 * Journaled like an embedded run (its own operation run in this node's journal, the other devices `remote`), and
 * its result built from that journal.
 */
import type {Journal} from '../journal/journal.js'
import {attachJournal} from '../journal/recorder.js'
import type {ChainExecutionResult} from '../model/result.js'
import {attachTrapNotifier} from '../notify/observer.js'
import {createDeviceAgent, type AgentOptions} from './agent.js'
import {RunHalt} from './halt.js'
import {finalStatus, resultFromJournal} from './record.js'

export interface NodeRound extends Pick<AgentOptions, 'runId' | 'inventory' | 'playbook' | 'device' | 'node' | 'secrets' | 'events'> {
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
 * Joins the round and runs the device's readiness and task.
 * @throws JournalError when the journal already holds this run (two processes sharing one state directory)
 */
export function runNodeRound(round: NodeRound): NodeRoundHandle {
  const {runId, inventory, device, node, events, journal} = round
  const {devices: deviceRuns} = journal.createRun({id: runId, stack: inventory.stack, devices: inventory.devices.map((d) => d.name), target: inventory.target})
  journal.appendEvent(runId, {type: 'nodeRound', device: device.name, data: {role: 'node', device: device.name}})
  attachJournal(journal, runId, deviceRuns, events)
  const traps = attachTrapNotifier(events, {runId, stack: inventory.stack}, round.secrets.trapTargets)
  const halt = new RunHalt()
  let order = 0
  const agent = createDeviceAgent({...round, halt, nextOrder: () => ++order, commit: (fn) => journal.transaction(fn)})
  let onEnd: (e: {roundId: string}) => void = () => undefined
  const ended = new Promise<void>((resolve) => {
    onEnd = ({roundId}) => roundId === runId && resolve()
    node.on('exit', onEnd)
    node.on('halted', onEnd)
  })
  agent.start()
  const done = (async () => {
    try {
      await ended
      node.off('exit', onEnd)
      node.off('halted', onEnd)
      await agent.settled()
      if (agent.outcome === 'not_started') agent.settle('not_started')
      await traps.flush()
    } finally {
      const {status, reason} = finalStatus(halt.cause, [{name: device.name, outcome: agent.outcome}])
      journal.finishRun(runId, status, reason)
      node.forget(runId)
    }
    // Every other device ran in its own process: this journal saw nothing of it.
    return resultFromJournal(journal, runId, new Set(inventory.devices.map((d) => d.name).filter((n) => n !== device.name)))
  })()
  return {halt, done}
}
