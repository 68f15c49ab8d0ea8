/**
 * The runs `chainup serve` starts, cancels and resumes. Every run goes through the CLI's own glue (`upgradeCommand`,
 * `resumeCommand`, `fleetCommand`: src/cli), so a run started over HTTP is the same run as `chainup upgrade` starts:
 * same lock, journal, gates, traps and result file (issue #11: no second code path). The registry only keeps what
 * the process needs while a run is live: its cancel/kill signals and a wake-up for SSE streams; everything else is
 * read from the journal.
 */
import {randomUUID} from 'node:crypto'
import {EventEmitter} from 'node:events'
import {Writable} from 'node:stream'

import {fleetCommand, resumeFleetCommand} from '../cli/fleet.js'
import {resumeCommand} from '../cli/resume.js'
import {upgradeCommand} from '../cli/upgrade.js'
import type {ExitCode} from '../errors.js'
import type {Journal} from '../journal/journal.js'
import {RunEvents, type RunEventMap} from '../model/events.js'
import type {ChainExecutionResult, FleetExecutionResult} from '../model/result.js'
import type {Caller} from './auth.js'
import type {ServeMetrics} from './metrics.js'

/** The run events that change what the journal holds (an SSE stream wakes up on each). */
const WAKE_EVENTS: ReadonlyArray<keyof RunEventMap> = [
  'nodeState',
  'devicePhase',
  'deviceFacts',
  'deviceOutcome',
  'stepStarted',
  'stepFinished',
  'gateEvaluated',
  'trapSent',
  'log',
  'runFinished',
  'hostKeyRepinned',
]

/** Who asked, and what: journaled as an `apiRequest` event on the run (issue #11: changes carry the token's name). */
export interface RequestInfo {
  caller: Caller
  method: string
  path: string
}

/** A run (or fleet) this process is running. */
export interface LiveRun {
  /** Run id, or fleet id. */
  id: string
  kind: 'run' | 'fleet'
  /** The fleet a stack run belongs to. */
  fleetId?: string
  /** First cancel: the device in progress finishes, then the run stops (`cancelled`). */
  cancel: AbortController
  /** Second cancel (`?now=true`): stop at once. */
  kill: AbortController
}

/** How a run started over HTTP: its id once the journal has it, and its end. */
export interface Started<T> {
  /** Resolves with the run (or fleet) id once it is journaled; rejects with the error that refused it first. */
  id: Promise<string>
  /** Resolves with the result; rejects when the run was refused (bad input, stack locked, outside the window). */
  done: Promise<{result: T; exitCode: ExitCode}>
}

export interface RunRegistryOptions {
  stateDir: string
  /** Start the simulated switches of each run's inventory (`chainup serve --lab`). */
  lab: boolean
  /** Where runs write their progress lines (the server's stderr). */
  log: Writable
  metrics: ServeMetrics
  /** The server's journal connection (the `apiRequest` events). */
  journal: Journal
}

/**
 * Live runs of this process; emits `change` with a run id (setImmediate after the event, so the journal recorder has
 * written it) and `ended` with a run or fleet id.
 */
export class RunRegistry extends EventEmitter<{change: [runId: string]; ended: [id: string]}> {
  private readonly live = new Map<string, LiveRun>()
  /** Every run's promise until it settles (close waits for them). */
  private readonly pending = new Set<Promise<unknown>>()

  constructor(private readonly opts: RunRegistryOptions) {
    super()
    this.setMaxListeners(0)
  }

  /** The live run (or fleet) with this id, if this process runs it. */
  get(id: string): LiveRun | undefined {
    return this.live.get(id)
  }

  /** Ids of the runs this process runs now. */
  liveIds(): string[] {
    return [...this.live.keys()]
  }

  /** `POST /v1/chains/execute`: `chainup upgrade INVENTORY` (a parked run of the stack is continued, as the CLI does). */
  startChain(inventoryPath: string, request: RequestInfo): Started<ChainExecutionResult> {
    const controls = {cancel: new AbortController(), kill: new AbortController()}
    const events = new RunEvents()
    const {id, settle} = this.watch(events, request, controls)
    const done = upgradeCommand({inventoryPath, lab: this.opts.lab, runId: randomUUID(), events, ...this.common(controls)}).finally(settle)
    return this.started(id, done)
  }

  /** `POST /v1/executions/{id}/resume` of a run: `chainup resume RUN_ID`. */
  resumeChain(runId: string, request: RequestInfo): Started<ChainExecutionResult> {
    const controls = {cancel: new AbortController(), kill: new AbortController()}
    const events = new RunEvents()
    const {id, settle} = this.watch(events, request, controls)
    const done = resumeCommand({runId, lab: this.opts.lab, events, ...this.common(controls)}).finally(settle)
    // A run that had already finished never starts: its id is known at once.
    void done.then((r) => r.already && this.emit('change', r.result.execution_id)).catch(() => undefined)
    return this.started(
      Promise.race([id, done.then((r) => (r.already ? r.result.execution_id : id))]),
      done.then(({result, exitCode}) => ({result, exitCode})),
    )
  }

  /** `POST /v1/councils/execute`: `chainup upgrade A.yml B.yml …` (docs/fleets.md). */
  startFleet(inventoryPaths: string[], options: {concurrency?: number; maxFailed?: number}, request: RequestInfo): Started<FleetExecutionResult> {
    const fleetId = randomUUID()
    const controls = {cancel: new AbortController(), kill: new AbortController()}
    this.live.set(fleetId, {id: fleetId, kind: 'fleet', ...controls})
    const done = fleetCommand({
      inventoryPaths,
      lab: this.opts.lab,
      fleetId,
      ...(options.concurrency === undefined ? {} : {concurrency: options.concurrency}),
      ...(options.maxFailed === undefined ? {} : {maxFailed: options.maxFailed}),
      watchStack: (_i, events) => void this.watch(events, request, controls, fleetId).id.then(() => firstStack()),
      ...this.common(controls),
    }).finally(() => this.end(fleetId))
    // The fleet is journaled before its first stack run starts: answer 202 then (or when it ended without one).
    let firstStack: () => void = () => undefined
    const id = new Promise<string>((resolve) => {
      firstStack = () => resolve(fleetId)
      void done.then(firstStack, () => undefined)
    })
    return this.started(id, done)
  }

  /** `POST /v1/executions/{id}/resume` of a fleet: `chainup resume FLEET_ID`. */
  resumeFleet(fleetId: string, request: RequestInfo): Started<FleetExecutionResult> | null {
    const controls = {cancel: new AbortController(), kill: new AbortController()}
    this.live.set(fleetId, {id: fleetId, kind: 'fleet', ...controls})
    const done = resumeFleetCommand({fleetId, watchStack: (_i, events) => void this.watch(events, request, controls, fleetId), ...this.common(controls)})
      .then((r) => {
        if (r === null) throw new Error(`${fleetId} is not a fleet`)
        return r
      })
      .finally(() => this.end(fleetId))
    return this.started(Promise.resolve(fleetId), done)
  }

  /**
   * Cancels a live run or fleet (a stack run of a fleet cancels its fleet, as the fleet's own interrupt does).
   * @returns false when this process does not run it
   */
  cancel(id: string, now: boolean): boolean {
    const run = this.live.get(id)
    if (!run) return false
    if (now) run.kill.abort()
    else run.cancel.abort()
    return true
  }

  /** Stops every live run at once (the server stops; each is journaled `cancelled`) and waits until they ended. */
  async stopAll(): Promise<void> {
    for (const run of this.live.values()) run.kill.abort()
    await Promise.allSettled([...this.pending])
  }

  private track(done: Promise<unknown>): void {
    const settled = done.then(
      () => undefined,
      () => undefined,
    )
    this.pending.add(settled)
    void settled.then(() => this.pending.delete(settled))
  }

  private common(controls: {cancel: AbortController; kill: AbortController}) {
    const sink = new Writable({write: (_c, _e, cb) => cb()})
    return {json: true, stateDir: this.opts.stateDir, stdout: sink, stderr: this.opts.log, cancel: controls.cancel.signal, kill: controls.kill.signal}
  }

  private started<T>(id: Promise<string>, done: Promise<{result: T; exitCode: ExitCode}>): Started<T> {
    this.track(done)
    const raced = Promise.race([id, done.then((): Promise<string> => new Promise(() => undefined))])
    // Whoever waits only for the id, or only for the end, must not leave the other's rejection unhandled.
    for (const p of [done, id, raced]) p.catch(() => undefined)
    return {id: raced, done}
  }

  /**
   * Watches a run's event bus: metrics, SSE wake-ups, the `apiRequest` event once the run is journaled.
   * @returns its run id once `runStarted` was emitted, and `settle` to call when the run's promise settled
   */
  private watch(events: RunEvents, request: RequestInfo, controls: {cancel: AbortController; kill: AbortController}, fleetId?: string): {id: Promise<string>; settle: () => void} {
    const endMetrics = this.opts.metrics.watch(events)
    let runId: string | undefined
    const id = new Promise<string>((resolve) => {
      events.once('runStarted', (e) => {
        runId = e.runId
        this.live.set(e.runId, {id: e.runId, kind: 'run', ...(fleetId ? {fleetId} : {}), ...controls})
        try {
          this.opts.journal.appendEvent(e.runId, {type: 'apiRequest', data: {caller: request.caller.name, role: request.caller.role, method: request.method, path: request.path, ...(fleetId ? {fleet_id: fleetId} : {})}})
        } catch (error) {
          events.emit('log', {level: 'warn', device: null, message: `could not journal the API request: ${(error as Error).message}`})
        }
        resolve(e.runId)
      })
    })
    for (const name of WAKE_EVENTS) {
      events.on(name, () => {
        if (runId !== undefined) {
          const r = runId
          setImmediate(() => this.emit('change', r))
        }
      })
    }
    const settle = () => {
      endMetrics()
      if (runId !== undefined) this.end(runId)
    }
    events.once('runFinished', settle)
    return {id, settle}
  }

  private end(id: string): void {
    if (!this.live.delete(id)) return
    setImmediate(() => {
      this.emit('change', id)
      this.emit('ended', id)
    })
  }
}
