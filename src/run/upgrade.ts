/**
 * `chainup upgrade` / `chainup resume`: one run = one ChainSync round over the stack (draft-dohmeyer-chainsync-03 §6)
 * with DEC-002's gates, recorded as a durable operation run in the journal (seed 001 §2–§6, docs/runs.md).
 *
 * A run, top to bottom: lock the stack → create (or reopen) the run in the journal → attach the observers (journal,
 * traps) → stack-wide `before` gates → the chain (`chain.ts`) → on a halt, the rollback (`rollback.ts`) → the `final`
 * gates → finish the run in the journal → build the result from it and save it (`result-file.ts`).
 */
import {randomUUID} from 'node:crypto'
import {hostname} from 'node:os'

import {inputsDigest} from '../config/load.js'
import {expandTemplate} from '../config/template.js'
import type {Gate, Inventory, Playbook} from '../config/types.js'
import type {HostKeySource} from '../device/known-hosts.js'
import {ChainupError, ExitCode} from '../errors.js'
import {evaluateGate} from '../gates/engine.js'
import {openJournal, type Journal} from '../journal/journal.js'
import {attachJournal} from '../journal/recorder.js'
import {RunEvents} from '../model/events.js'
import type {ChainExecutionResult, GateEvaluation} from '../model/result.js'
import type {ChainStatus} from '../model/status.js'
import {attachTrapNotifier} from '../notify/observer.js'
import type {ChainSyncTransport} from '../protocol/transport.js'
import {formatMs} from '../util/duration.js'
import {failpoint} from '../util/failpoint.js'
import type {DeviceAgent} from './agent.js'
import {runChain} from './chain.js'
import {RunHalt} from './halt.js'
import {planResume, reopenDevices, type ResumePlan} from './resume.js'
import {saveResult} from './result-file.js'
import {rollBack} from './rollback.js'
import {secretValues, type ResolvedSecrets} from './secrets.js'

export interface UpgradeOptions {
  inventory: Inventory
  playbook: Playbook
  secrets: ResolvedSecrets
  /** Per device host key source; defaults to the inventory's host_key / known_hosts. */
  hostKeys?: ReadonlyMap<string, HostKeySource>
  events?: RunEvents
  /** The state directory: the journal (`chainup.db`) and the result JSON (`runs/<execution_id>.json`). */
  stateDir: string
  /** Overrides inventory.chainsync.extensions. */
  extensions?: boolean
  /** Each local node's ChainSync transport (TLS); plain TCP by default. */
  transportFor?: (device: string) => ChainSyncTransport | undefined
  /** Run id (= ROUND-ID); a new UUID by default. */
  runId?: string
  /** Continue this unfinished run from the journal instead of starting one (`chainup resume`). */
  resume?: string
  /** First SIGINT/SIGTERM: the device in progress finishes, no new device starts, the run ends `cancelled`. */
  cancel?: AbortSignal
  /** Second SIGINT: stop at once (still journaled). */
  kill?: AbortSignal
}

/** Another run of the same stack holds the lock (seed 001 §6.1). Exit code 4. */
export class StackLockedError extends ChainupError {
  constructor(stack: string, holder: {runId: string; pid: number; hostname: string}) {
    super(`stack ${stack} is being upgraded by run ${holder.runId} (pid ${holder.pid} on ${holder.hostname})`, {
      code: 'STACK_LOCKED',
      exitCode: ExitCode.locked,
      hint: `wait for it, or if that process is gone on another host, check it and resume with: chainup resume ${holder.runId}`,
    })
  }
}

/**
 * Runs (or resumes) the upgrade of one stack and returns its DEC-002 result, built from the journal.
 * Never throws for device or gate outcomes (they are in the result).
 * @throws StackLockedError (exit 4) when another live run holds the stack; InputError for a run that cannot be
 *   resumed; errors before the run starts (a port already in use)
 */
export async function runUpgrade(opts: UpgradeOptions): Promise<ChainExecutionResult> {
  const {inventory, playbook, secrets} = opts
  const events = opts.events ?? new RunEvents()
  const journal = await openJournal(opts.stateDir, {secrets: secretValues(secrets)})
  const runId = opts.resume ?? opts.runId ?? randomUUID()
  try {
    const lock = journal.acquireLock(inventory.stack, runId)
    if (!lock.ok) throw new StackLockedError(inventory.stack, lock.heldBy)
    try {
      const deviceRuns = opts.resume ? reopenDevices(journal, runId) : newRun(journal, runId, inventory, playbook)
      const resume = opts.resume ? planResume(journal, runId, inventory, playbook) : undefined
      attachJournal(journal, runId, deviceRuns, events)
      const traps = attachTrapNotifier(events, {runId, stack: inventory.stack}, secrets.trapTargets)
      if (lock.note) events.emit('log', {level: 'warn', device: null, message: lock.note})
      const halt = new RunHalt()
      const agents = new Map<string, DeviceAgent>()
      let status: {status: ChainStatus; reason: string | null} = {status: 'failed', reason: 'internal error'}
      try {
        await execute({...opts, events, journal, runId, halt, agents, plan: resume})
        await traps.flush()
        status = outcome(halt, agents, inventory)
      } catch (error) {
        status = {status: halt.cause?.status ?? 'failed', reason: halt.cause?.reason ?? `internal error: ${(error as Error).message}`}
        throw error
      } finally {
        journal.finishRun(runId, status.status, status.reason)
      }
      const result = resultOf(journal, runId, inventory)
      events.emit('log', {level: 'info', device: null, message: `result saved to ${saveResult(opts.stateDir, result)}`})
      events.emit('runFinished', result)
      return result
    } finally {
      journal.releaseLock(inventory.stack, runId)
    }
  } finally {
    journal.close()
  }
}

interface RunContext extends UpgradeOptions {
  events: RunEvents
  journal: Journal
  runId: string
  halt: RunHalt
  agents: Map<string, DeviceAgent>
  /** What the journal says of each device when the run is resumed. */
  plan: ResumePlan | undefined
}

/** DEC-002's flow: before gates, the chain, rollback on a halt that asks for it, final gates. */
async function execute(ctx: RunContext): Promise<void> {
  const {inventory, playbook, events, halt, agents, runId, plan} = ctx
  const names = inventory.devices.map((d) => d.name)
  events.emit('runStarted', {runId, stack: inventory.stack, devices: names, target: inventory.target})
  if (plan) events.emit('log', {level: 'info', device: null, message: `resuming run ${runId}: ${[...plan.states].map(([n, r]) => `${n} ${r.state}`).join(', ')}`})
  const stopped = watchStop(ctx)
  try {
    // Phase 1: stack-wide before gates, before any device is touched (again on resume: a change window may have closed).
    const beforeVeto = halt.stopRequested() ? undefined : await stackGates(ctx, 'before', playbook.gates.before.filter((g) => g.scope === 'stack'))
    if (beforeVeto) return halt.override({status: 'vetoed', reason: `before gate "${beforeVeto.name}" vetoed: ${beforeVeto.reason}`})
    const stop = halt.stopRequested()
    if (stop) return halt.override(stop)
    let order = ctx.journal.tree(runId).children.reduce((n, d) => n + d.children.length, 0)
    await runChain({...ctx, resume: plan, nextOrder: () => ++order}, agents)
    // Only a device failure, a veto or a predecessor timeout rolls back; a stop (cancel, timeouts.run) or a lost link does not.
    if (halt.cause?.rollback && inventory.on_failure === 'rollback') await rollBack(halt.cause, agents, names, halt, events, ctx.kill)
    if (halt.cause) return
    // Phase 3: final after gates once every device is done.
    failpoint('final-gates')
    const finalVeto = await stackGates(ctx, 'final', playbook.gates.final)
    if (finalVeto) halt.override({status: 'vetoed', reason: `final gate "${finalVeto.name}" vetoed: ${finalVeto.reason}`})
  } finally {
    stopped()
  }
}

/**
 * Stopping (seed 001 §6.1): a cancel or timeouts.run lets the device in progress finish, then the chain stops; a
 * second interrupt halts at once. @returns a function that detaches the listeners and the timer
 */
function watchStop(ctx: RunContext): () => void {
  const {halt, agents, events, inventory} = ctx
  const stop = (status: ChainStatus, reason: string) => {
    const working = [...agents.values()].some((a) => a.working)
    if (halt.requestStop(status, reason, working)) events.emit('log', {level: 'warn', device: null, message: `${reason}: ${working ? 'the device in progress finishes, then the chain stops' : 'stopping now'}`})
  }
  const onCancel = () => stop('cancelled', 'cancelled by the operator')
  const onKill = () => halt.haltNow('cancelled', 'cancelled by the operator (second interrupt: stopped at once)')
  ctx.cancel?.addEventListener('abort', onCancel, {once: true})
  ctx.kill?.addEventListener('abort', onKill, {once: true})
  const runMs = inventory.timeouts.run
  const timer = runMs === undefined ? undefined : setTimeout(() => stop('failed', `timeout: the run exceeded timeouts.run (${formatMs(runMs)})`), runMs)
  if (ctx.cancel?.aborted) onCancel()
  return () => {
    clearTimeout(timer)
    ctx.cancel?.removeEventListener('abort', onCancel)
    ctx.kill?.removeEventListener('abort', onKill)
  }
}

/** Stack-wide gates in order; the first veto is returned (and nothing after it runs). */
async function stackGates(ctx: RunContext, type: 'before' | 'final', gates: readonly Gate[]): Promise<GateEvaluation | undefined> {
  const vars = {stack: ctx.inventory.stack, target: ctx.inventory.target, device: {name: '', host: ''}}
  for (const gate of gates) {
    const evaluation = await evaluateGate(gate, {
      runId: ctx.runId,
      stack: ctx.inventory.stack,
      type,
      device: null,
      playbookFile: ctx.playbook.file,
      defaultTimeoutMs: ctx.inventory.timeouts.gate,
      expand: (text, mode) => expandTemplate(text, vars, mode),
      hiddenEnv: ctx.secrets.hiddenEnv,
    })
    ctx.events.emit('gateEvaluated', evaluation)
    if (evaluation.decision === 'veto') return evaluation
  }
  return undefined
}

/** The run's final status: the halt cause, else failed when an on_error allow let a failed device pass, else completed. */
function outcome(halt: RunHalt, agents: ReadonlyMap<string, DeviceAgent>, inventory: Inventory): {status: ChainStatus; reason: string | null} {
  if (halt.cause) return {status: halt.cause.status, reason: halt.cause.reason}
  const failed = inventory.devices.map((d) => d.name).filter((n) => agents.get(n)?.outcome === 'failed')
  return failed.length > 0 ? {status: 'failed', reason: `failed on ${failed.join(', ')} (on_error gates allowed the chain to continue)`} : {status: 'completed', reason: null}
}

/** The result from the journal; a remote device's steps live in its own node's journal, so it is `remote` here. */
function resultOf(journal: Journal, runId: string, inventory: Inventory): ChainExecutionResult {
  const built = journal.buildResult(runId)
  const remote = new Set(inventory.devices.filter((d) => d.remote).map((d) => d.name))
  return {...built, devices: built.devices.map((d) => (remote.has(d.name) && d.status === 'not_started' ? {...d, status: 'remote' as const} : d))}
}

/** Creates the run in the journal with what `chainup resume` needs to find its inputs again. */
function newRun(journal: Journal, runId: string, inventory: Inventory, playbook: Playbook): Record<string, string> {
  const {devices} = journal.createRun({id: runId, stack: inventory.stack, devices: inventory.devices.map((d) => d.name), target: inventory.target})
  journal.appendEvent(runId, {
    type: 'runConfig',
    data: {inventory: inventory.file, playbook: playbook.file, inputs_sha256: inputsDigest(inventory, playbook), pid: process.pid, hostname: hostname()},
  })
  return devices
}
