/**
 * One device's part of a run: its ChainSync node and its DeviceWorker, wired together for one round
 * (draft-dohmeyer-chainsync-03 §6: readiness → locally ready, START → task, task done → COMPLETE). Built by
 * {@link createDeviceAgent} for both the embedded chain (`chainup upgrade`) and a standalone node (`chainup node`).
 * It reports through the run's events; traps are the notifier's business (`notify/observer.ts`).
 */
import type {DeviceEntry, Inventory, Playbook} from '../config/types.js'
import {hostKeyFor, type HostKeySource} from '../device/known-hosts.js'
import type {StagingPool} from '../device/staging-pool.js'
import {readSysUpTime} from '../device/sysuptime.js'
import {DeviceTaskError, DeviceWorker, GateVetoError, HaltedError, type WorkerOptions} from '../device/worker.js'
import type {RunEvents} from '../model/events.js'
import type {GateEvaluation} from '../model/result.js'
import {DevicePhase, type ChainStatus, type DeviceOutcome, type OnErrorDecision} from '../model/status.js'
import type {ChainSyncNode, ChainSyncNodeEvents} from '../protocol/node.js'
import type {Clock} from '../util/clock.js'
import {failpoint} from '../util/failpoint.js'
import {deviceReport} from './device-report.js'
import type {HaltPort} from './halt.js'
import {decideOnError} from './on-error.js'
import type {ResolvedSecrets} from './secrets.js'

/** ABORT reasons that carry a gate veto start with this (docs/chainsync.md "Extensions"). */
export const VETO_PREFIX = 'veto: '

export interface AgentOptions {
  runId: string
  inventory: Inventory
  playbook: Playbook
  device: DeviceEntry
  node: ChainSyncNode
  secrets: ResolvedSecrets
  events: RunEvents
  halt: HaltPort
  /** Hands out the run-wide 1-based step order. */
  nextOrder: () => number
  /** @default the inventory's host_key / known_hosts for the device */
  hostKey?: HostKeySource
  clock?: Clock
  /** Opens SSH sessions (tests pass an in-memory device). @default connectDevice */
  dial?: WorkerOptions['dial']
  /** Probes the device's SSH port while it boots (tests pass the in-memory device's). @default tcpProbe */
  probe?: WorkerOptions['probe']
  /** From the journal: the reload fence, where a resumed run picks the device up, what it ran before, steps started. */
  fence?: WorkerOptions['fence']
  resume?: WorkerOptions['resume']
  versionBefore?: string
  startedBefore?: readonly string[]
  /** Runs `fn` in one journal transaction (the device's outcome and the COMPLETE it sends commit together). */
  commit?: <T>(fn: () => T) => T
  /** `--transcript DIR`: the device's sessions are written to `DIR/<runId>/<device>.log` (device/transcript.ts). */
  transcriptDir?: string
  /** Image staging shared by the run's agents (one copy limiter, one digest). @default one per agent */
  staging?: StagingPool
  /**
   * A built-in gate evaluated when the node enters START, right before the device's task (the maintenance window's
   * `window` gate, run/window-gate.ts). Reported as `gateEvaluated`; a veto halts the chain `vetoed` before the device
   * is touched (outcome `not_started`, no rollback). Not evaluated for a task resumed after its reload was sent.
   */
  taskGate?: () => GateEvaluation
}

/** Builds the worker and the agent for one device (the one place both `chainup upgrade` and `chainup node` use). */
export function createDeviceAgent(opts: AgentOptions): DeviceAgent {
  const {device, secrets} = opts
  const worker = new DeviceWorker({
    runId: opts.runId,
    inventory: opts.inventory,
    playbook: opts.playbook,
    device,
    credentials: secrets.credentials,
    hostKey: opts.hostKey ?? hostKeyFor(opts.inventory, device.name),
    report: deviceReport(opts.events, device.name, opts.nextOrder),
    hiddenEnv: secrets.hiddenEnv,
    signal: opts.halt.signal,
    ...(opts.clock ? {clock: opts.clock} : {}),
    ...(opts.dial ? {dial: opts.dial} : {}),
    ...(opts.probe ? {probe: opts.probe} : {}),
    ...sysUpTimeReader(opts),
    ...(opts.transcriptDir === undefined ? {} : {transcriptDir: opts.transcriptDir}),
    ...(opts.staging ? {staging: opts.staging} : {}),
    onStagingProgress: (progress) => void opts.events.emit('stagingProgress', progress),
    ...(opts.fence ? {fence: opts.fence} : {}),
    ...(opts.resume ? {resume: opts.resume} : {}),
    ...(opts.versionBefore ? {versionBefore: opts.versionBefore} : {}),
    ...(opts.startedBefore?.length ? {startedBefore: opts.startedBefore} : {}),
  })
  return new DeviceAgent(opts, worker)
}

/** Binds a node and a worker for one round. Call {@link start} once; await {@link settled} before closing the node. */
export class DeviceAgent {
  outcome: DeviceOutcome = 'not_started'
  private readonly tasks: Array<Promise<void>> = []
  private readonly listeners: Array<[keyof ChainSyncNodeEvents, (...args: never[]) => void]> = []
  private taskRunning = false
  /** The reason of a halt another node sent while this device's task ran: the task finishes, then the agent stops. */
  private haltedByPeer: string | undefined
  private readonly name: string

  constructor(
    private readonly ctx: AgentOptions,
    readonly worker: DeviceWorker,
  ) {
    this.name = ctx.device.name
  }

  /** Joins the round on the node and starts readiness. */
  start(): void {
    const {node, runId, events, halt} = this.ctx
    node.join(runId)
    this.listen('state', ({roundId, state}) => roundId === runId && events.emit('nodeState', {device: this.name, state}))
    this.listen('halted', ({roundId, reason, origin}) => {
      if (roundId !== runId) return
      // A veto travels in ABORT as "veto: <reason>", so every process reports it as one.
      if (origin !== 'local' && reason.startsWith(VETO_PREFIX)) halt.record('vetoed', reason.slice(VETO_PREFIX.length))
      else halt.record('failed', `${this.name}: ${reason}`)
      // Another node halted the round while this device's task runs: the task finishes first (its steps, its reload
      // wait, its after gates), so the device is not left half-upgraded (seed 001 §6.1); {@link finish} then settles
      // its outcome and stops without COMPLETE. A halt of this process's own (origin local) stops the task at once.
      if (origin !== 'local' && this.taskRunning && !halt.signal.aborted) {
        this.haltedByPeer = reason
        events.emit('log', {level: 'warn', device: this.name, message: `${reason}: the task in progress finishes first`})
        return
      }
      halt.abort(reason)
    })
    this.listen('predecessorTimeout', ({roundId, predecessor, waitedMs}) => {
      if (roundId !== runId) return
      const reason = `predecessor ${predecessor} did not complete its task within ${Math.round(waitedMs / 1000)}s (timeouts.predecessor)`
      halt.record('failed', reason, true)
      events.emit('log', {level: 'error', device: this.name, message: reason})
      events.emit('predecessorTimeout', {device: this.name, predecessor, waitedMs, reason})
    })
    this.listen('linkLost', ({roundId, side, peer, reason}) => {
      if (roundId !== runId) return
      halt.record('failed', `${this.name}: ${reason}`)
      events.emit('chainHalted', {device: this.name, reason, ...(side === 'predecessor' ? {predecessor: peer} : {})})
    })
    this.listen('startTask', ({roundId}) => roundId === runId && this.track(this.runTask()))
    // The predecessor began its task: open this device's session now, so the hand-off does not wait for an SSH login.
    // Only for a task that starts from the beginning: a resumed one waits for its boot or is done already.
    this.listen('predecessorWorking', ({roundId}) => roundId === runId && !this.worker.resume && this.worker.steps.preconnect())
    // Readiness is read-only; the READY wave is the barrier.
    this.track(
      this.worker.prepare().then(
        () => node.locallyReady(runId),
        (error: Error) => {
          if (error instanceof HaltedError || halt.signal.aborted) return
          if (error instanceof GateVetoError) return this.halt('vetoed', error.message)
          this.halt('failed', `${this.name} is not ready: ${error.message.replace(`${this.name}: `, '')}`)
        },
      ),
    )
  }

  /** Removes this agent's listeners from the node (a node outlives its rounds in `chainup node`). Idempotent. */
  dispose(): void {
    for (const [name, listener] of this.listeners) this.ctx.node.off(name, listener as never)
    this.listeners.length = 0
  }

  private listen<K extends keyof ChainSyncNodeEvents>(name: K, listener: (...args: ChainSyncNodeEvents[K]) => void): void {
    this.ctx.node.on(name, listener as never)
    this.listeners.push([name, listener as unknown as (...args: never[]) => void])
  }

  /**
   * Keeps a piece of work for {@link settled}. A failure of ours inside it (a bug, a journal that cannot write) halts
   * the chain with a record instead of escaping as an unhandled rejection that would kill the process mid-reload.
   */
  private track(work: Promise<void>): void {
    this.tasks.push(
      work.catch((error: Error) => {
        try {
          this.halt('failed', `${this.name}: internal error: ${error.message}`)
        } catch {
          this.ctx.halt.record('failed', `${this.name}: internal error: ${error.message}`)
          this.ctx.halt.abort(`internal error: ${error.message}`)
        }
      }),
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
  halt(status: ChainStatus, reason: string, rollback = false): void {
    this.ctx.halt.record(status, reason, rollback)
    this.ctx.events.emit('log', {level: status === 'vetoed' ? 'warn' : 'error', device: this.name, message: `halting the chain: ${reason}`})
    // Local work stops first: the node's ABORT reaches this process's other agents at once, and a task of theirs that
    // shares this halt must see it as already stopped (not as a neighbour's halt it may finish through).
    this.ctx.halt.abort(reason)
    this.ctx.node.abort(this.ctx.runId, status === 'vetoed' ? `${VETO_PREFIX}${reason}` : reason)
  }

  /** Settles this device's outcome and reports it (the journal records it as the device run's final status). */
  settle(outcome: DeviceOutcome, onError?: OnErrorDecision): void {
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
    if (this.haltedByPeer !== undefined) return this.stopAfterPeerHalt(outcome, onError)
    const stop = this.ctx.halt.stopRequested()
    if (stop) {
      if (outcome) this.settle(outcome, onError)
      return this.halt(stop.status, stop.reason)
    }
    failpoint(`before-complete:${this.name}`)
    const commit = this.ctx.commit ?? ((fn) => fn())
    let stopped: {status: ChainStatus; reason: string} | undefined
    try {
      this.ctx.node.atomically(() =>
        commit(() => {
          if (outcome) this.settle(outcome, onError)
          // Recording the outcome may itself request a stop (a journal write that failed): then COMPLETE does not leave.
          stopped = this.ctx.halt.stopRequested()
          if (!stopped) this.ctx.node.taskFinished(this.ctx.runId)
        }),
      )
    } catch (error) {
      // The outcome could not be committed (the journal failed), so COMPLETE did not leave: the device's own result
      // stands, and the chain stops here.
      if (outcome) this.outcome = outcome
      return this.halt('failed', `${this.name}: cannot record its outcome: ${(error as Error).message}`)
    }
    if (stopped) return this.halt(stopped.status, stopped.reason)
    failpoint(`after-complete:${this.name}`)
  }

  /**
   * The task ended after another node halted the round: its outcome is recorded (in one journal transaction, like
   * with a COMPLETE) but no COMPLETE leaves (the round is over), and the agent's work stops. The round ends with the
   * cause recorded when the halt arrived.
   */
  private stopAfterPeerHalt(outcome: DeviceOutcome | undefined, onError?: 'allow'): void {
    const reason = this.haltedByPeer!
    const commit = this.ctx.commit ?? ((fn) => fn())
    try {
      if (outcome) commit(() => this.settle(outcome, onError))
    } catch (error) {
      if (outcome) this.outcome = outcome
      this.ctx.halt.record('failed', `${this.name}: cannot record its outcome: ${(error as Error).message}`)
      this.ctx.events.emit('log', {level: 'error', device: this.name, message: `cannot record its outcome: ${(error as Error).message}`})
    }
    this.ctx.events.emit('log', {level: 'warn', device: this.name, message: `task finished (${this.outcome}); stopping: ${reason}`})
    this.ctx.halt.abort(reason)
  }

  private async runTask(): Promise<void> {
    const {events, halt} = this.ctx
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
    if (this.ctx.taskGate && resume?.state !== 'booting' && resume?.state !== 'reloaded') {
      const gate = this.ctx.taskGate()
      events.emit('gateEvaluated', gate)
      if (gate.decision === 'veto') {
        // The device stays not_started (runChain settles it with the others that did not start).
        this.taskRunning = false
        return this.halt('vetoed', `${gate.name}: ${gate.reason}`)
      }
    }
    try {
      const outcome = await this.worker.upgrade()
      this.taskRunning = false
      this.finish(outcome)
    } catch (error) {
      this.taskRunning = false
      const message = (error as Error).message
      if (error instanceof HaltedError || halt.signal.aborted) {
        this.settle('cancelled')
        events.emit('devicePhase', {device: this.name, phase: DevicePhase.cancelled, detail: message})
        return
      }
      events.emit('devicePhase', {device: this.name, phase: DevicePhase.failed, detail: message})
      if (error instanceof GateVetoError) {
        this.settle('failed', 'veto')
        return this.halt('vetoed', message, true)
      }
      const decision = await decideOnError(this.worker, this.ctx.playbook.gates.on_error, error as Error, (level, text) => events.emit('log', {level, device: this.name, message: text}))
      if (decision === 'allow') {
        events.emit('log', {level: 'warn', device: this.name, message: `task failed, on_error gates allow continuing: ${message}`})
        // The failure and the decision to go on are committed with the COMPLETE that goes on (a resume trusts only that).
        return this.finish('failed', 'allow')
      }
      this.settle('failed', decision)
      const full = error instanceof DeviceTaskError ? message : `${this.name}: ${message}`
      if (decision === 'veto') return this.halt('vetoed', `on_error gate vetoed after: ${full}`, true)
      this.halt('failed', full, true)
      events.emit('chainHalted', {device: this.name, reason: full})
    }
  }
}

/** `snmp.uptime` configured (and its community resolved): the device's sysUpTime reader for the worker; else nothing. */
function sysUpTimeReader(opts: AgentOptions): {sysUpTime?: () => Promise<number | undefined>} {
  const uptime = opts.inventory.snmp.uptime
  const community = opts.secrets.uptimeCommunity
  if (!uptime || community === undefined) return {}
  const port = opts.device.snmp_port ?? uptime.port
  return {sysUpTime: () => readSysUpTime(opts.device.host, port, community, uptime.timeout)}
}
