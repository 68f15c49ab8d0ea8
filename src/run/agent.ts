/**
 * One device's part of a run: its ChainSync node and its DeviceWorker, wired together for one round
 * (draft-dohmeyer-chainsync-03 §6: readiness → locally ready, START → task, task done → COMPLETE).
 * Used by the embedded chain (`chainup upgrade`) and by a standalone node (`chainup node`).
 */
import type {DeviceEntry, Inventory, Playbook} from '../config/types.js'
import type {HostKeySource} from '../device/known-hosts.js'
import {DeviceTaskError, DeviceWorker, GateVetoError, HaltedError, type DeviceResume, type WorkerContext} from '../device/worker.js'
import {failpoint} from '../util/failpoint.js'
import type {ChainTrap} from '../notify/snmp.js'
import type {ChainSyncNode} from '../protocol/node.js'
import {DevicePhase, type RunEvents} from './events.js'
import type {ChainExecutionResult, ChainStatus} from './result.js'
import type {ResolvedSecrets} from './secrets.js'

/** ABORT reasons that carry a gate veto start with this. */
export const VETO_PREFIX = 'veto: '

export type DeviceOutcome = ChainExecutionResult['devices'][number]['status']

export interface AgentContext {
  runId: string
  inventory: Inventory
  playbook: Playbook
  device: DeviceEntry
  node: ChainSyncNode
  secrets: ResolvedSecrets
  hostKey: HostKeySource
  events: RunEvents
  nextOrder: () => number
  /** Aborted when the chain halts (by this agent, a neighbour, or the run). */
  halt: AbortController
  /** Records why the chain halted (first cause wins). */
  /** `rollbackEligible`: a device failure, a veto or a predecessor timeout (not a stop, not a lost control link). */
  onHalt: (status: ChainStatus, reason: string, rollbackEligible?: boolean) => void
  sendTrap: (trap: ChainTrap) => void
  /** Set once the operator cancels or timeouts.run passes: the device in progress finishes, then the chain stops. */
  stopRequested?: () => {status: ChainStatus; reason: string} | undefined
  /** Reload fence and resume state for the worker (from the journal). */
  fence?: WorkerContext['fence']
  resume?: DeviceResume
  /** The version the device ran when the run first read its facts (from the journal on resume). */
  versionBefore?: string
  /** Upgrade steps started before a restart (from the journal). */
  startedBefore?: readonly string[]
  /** Runs `fn` in one journal transaction (the device's outcome and the COMPLETE it sends commit together). */
  commit?: <T>(fn: () => T) => T
}

/** Binds a node and a worker for one round. Call {@link start} once; await {@link settled} before closing the node. */
export class DeviceAgent {
  outcome: DeviceOutcome = 'not_started'
  readonly worker: DeviceWorker
  private readonly tasks: Array<Promise<void>> = []
  private taskRunning = false
  private readonly name: string

  constructor(private readonly ctx: AgentContext) {
    this.name = ctx.device.name
    this.worker = new DeviceWorker({
      runId: ctx.runId,
      inventory: ctx.inventory,
      playbook: ctx.playbook,
      device: ctx.device,
      credentials: ctx.secrets.credentials,
      hostKey: ctx.hostKey,
      events: ctx.events,
      nextOrder: ctx.nextOrder,
      hiddenEnv: ctx.secrets.hiddenEnv,
      signal: ctx.halt.signal,
      ...(ctx.fence ? {fence: ctx.fence} : {}),
      ...(ctx.resume ? {resume: ctx.resume} : {}),
      ...(ctx.versionBefore ? {versionBefore: ctx.versionBefore} : {}),
      ...(ctx.startedBefore ? {startedBefore: ctx.startedBefore} : {}),
    })
  }

  /** Joins the round on the node and starts readiness. */
  start(): void {
    const {node, runId, events} = this.ctx
    node.join(runId)
    node.on('state', ({roundId, state}) => roundId === runId && events.emit('nodeState', {device: this.name, state}))
    node.on('halted', ({roundId, reason, origin}) => {
      if (roundId !== runId) return
      // A veto travels in ABORT as "veto: <reason>" (docs/chainsync.md "Extensions"), so every process reports it as one.
      if (origin !== 'local' && reason.startsWith(VETO_PREFIX)) this.ctx.onHalt('vetoed', reason.slice(VETO_PREFIX.length))
      else this.ctx.onHalt('failed', `${this.name}: ${reason}`)
      if (!this.ctx.halt.signal.aborted) this.ctx.halt.abort(reason)
    })
    node.on('predecessorTimeout', ({roundId, predecessor, waitedMs}) => {
      if (roundId !== runId) return
      const reason = `predecessor ${predecessor} did not complete its task within ${Math.round(waitedMs / 1000)}s (timeouts.predecessor)`
      this.ctx.onHalt('failed', reason, true)
      events.emit('log', {level: 'error', device: this.name, message: reason})
      this.ctx.sendTrap({kind: 'predecessor_timeout', runId, stack: this.ctx.inventory.stack, predecessor, reporter: this.name, reason, waitedSeconds: Math.round(waitedMs / 1000)})
    })
    node.on('linkLost', ({roundId, side, peer, reason}) => {
      if (roundId !== runId) return
      this.ctx.onHalt('failed', `${this.name}: ${reason}`)
      const trap: ChainTrap = {kind: 'chain_halted', runId, stack: this.ctx.inventory.stack, reporter: this.name, reason}
      this.ctx.sendTrap(side === 'predecessor' ? {...trap, predecessor: peer} : trap)
    })
    node.on('startTask', ({roundId}) => roundId === runId && this.tasks.push(this.runTask()))
    // Readiness is read-only; the READY wave is the barrier.
    this.tasks.push(
      this.worker.prepare().then(
        () => node.locallyReady(runId),
        (error: Error) => {
          if (error instanceof HaltedError || this.ctx.halt.signal.aborted) return
          if (error instanceof GateVetoError) return this.halt('vetoed', error.message)
          this.halt('failed', `${this.name} is not ready: ${error.message.replace(`${this.name}: `, '')}`)
        },
      ),
    )
  }

  /** True while the device's task runs (between START and its outcome). */
  get working(): boolean {
    return this.taskRunning
  }

  /** Resolves when every piece of work this agent started has finished (including work started meanwhile). */
  async settled(): Promise<void> {
    for (let done = 0; done < this.tasks.length; ) {
      const n = this.tasks.length
      await Promise.allSettled(this.tasks.slice(done))
      done = n
    }
  }

  /** Halts the chain from this device: records the cause, aborts the round (ABORT goes both ways), stops local work. */
  halt(status: ChainStatus, reason: string, rollbackEligible = false): void {
    this.ctx.onHalt(status, reason, rollbackEligible)
    this.ctx.events.emit('log', {level: status === 'vetoed' ? 'warn' : 'error', device: this.name, message: `halting the chain: ${reason}`})
    this.ctx.node.abort(this.ctx.runId, status === 'vetoed' ? `${VETO_PREFIX}${reason}` : reason)
    if (!this.ctx.halt.signal.aborted) this.ctx.halt.abort(reason)
  }

  /** Settles this device's outcome and reports it (the journal records it as the device run's final status). */
  private settle(outcome: DeviceOutcome, onError?: 'allow' | 'veto' | 'halt'): void {
    this.outcome = outcome
    this.ctx.events.emit('deviceOutcome', {
      device: this.name,
      outcome,
      ...(onError ? {onError} : {}),
      versionBefore: this.worker.factsBefore?.version ?? null,
      versionAfter: this.worker.factsAfter?.version ?? null,
    })
  }

  /**
   * The task is done (or its failure allowed): record the outcome and pass COMPLETE on in one transaction, the line
   * leaving only after the commit (seed 001 §5) — unless the run is being stopped.
   */
  private finish(outcome: DeviceOutcome | undefined, onError?: 'allow'): void {
    const stop = this.ctx.stopRequested?.()
    if (stop) {
      if (outcome) this.settle(outcome, onError)
      return this.halt(stop.status, stop.reason)
    }
    failpoint(`before-complete:${this.name}`)
    const commit = this.ctx.commit ?? ((fn) => fn())
    this.ctx.node.atomically(() =>
      commit(() => {
        if (outcome) this.settle(outcome, onError)
        this.ctx.node.taskFinished(this.ctx.runId)
      }),
    )
    failpoint(`after-complete:${this.name}`)
  }

  private async runTask(): Promise<void> {
    const {events} = this.ctx
    this.taskRunning = true
    const resume = this.ctx.resume
    if (resume?.state === 'done') {
      // Finished before the restart: its outcome is already in the journal; only pass COMPLETE on.
      this.taskRunning = false
      this.outcome = resume.outcome
      this.worker.factsAfter = this.worker.factsBefore
      events.emit('devicePhase', {device: this.name, phase: resume.outcome === 'failed' ? DevicePhase.failed : resume.outcome === 'skipped' ? DevicePhase.skipped : DevicePhase.upgraded, detail: 'resumed: done before the restart'})
      return this.finish(undefined)
    }
    try {
      const outcome = await this.worker.upgrade()
      this.taskRunning = false
      this.finish(outcome)
    } catch (error) {
      this.taskRunning = false
      const message = (error as Error).message
      if (error instanceof HaltedError || this.ctx.halt.signal.aborted) {
        this.settle('cancelled')
        events.emit('devicePhase', {device: this.name, phase: DevicePhase.cancelled, detail: message})
        return
      }
      events.emit('devicePhase', {device: this.name, phase: DevicePhase.failed, detail: message})
      if (error instanceof GateVetoError) {
        this.settle('failed', 'veto')
        return this.halt('vetoed', message, true)
      }
      let decision = await this.worker.onError(error as Error)
      // A device whose reload may be under way (its fence is open) must not let the next device reload.
      if (decision === 'allow' && this.worker.fenceOpen) {
        events.emit('log', {level: 'error', device: this.name, message: 'on_error gates allow continuing, but its reload may still be under way: halting instead'})
        decision = 'halt'
      }
      if (decision === 'allow') {
        events.emit('log', {level: 'warn', device: this.name, message: `task failed, on_error gates allow continuing: ${message}`})
        // The failure and the decision to go on are committed with the COMPLETE that goes on (a resume trusts only that).
        this.finish('failed', 'allow')
        return
      }
      this.settle('failed', decision)
      const full = error instanceof DeviceTaskError ? message : `${this.name}: ${message}`
      if (decision === 'veto') return this.halt('vetoed', `on_error gate vetoed after: ${full}`, true)
      this.halt('failed', full, true)
      this.ctx.sendTrap({kind: 'chain_halted', runId: this.ctx.runId, stack: this.ctx.inventory.stack, reporter: this.name, reason: full})
    }
  }
}
