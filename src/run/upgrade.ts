/**
 * `chainup upgrade` / `chainup resume`: one run = one ChainSync round over the stack (draft-dohmeyer-chainsync-03 §6)
 * with DEC-002's gates, recorded as a durable operation run in the journal (seed 001 §2–§6, docs/runs.md).
 *
 * A run, top to bottom: lock the stack → create (or reopen) the run in the journal → attach the observers (journal,
 * traps) → stack-wide `before` gates → the chain (`chain.ts`) → on a halt, the rollback (`rollback.ts`) → the `final`
 * gates → finish the run in the journal → build the result from it and save it (`result-file.ts`).
 */
import {randomUUID} from 'node:crypto'

import type {Inventory, Playbook} from '../config/types.js'
import type {HostKeySource} from '../device/known-hosts.js'
import {openJournal, type Journal} from '../journal/journal.js'
import {attachJournal} from '../journal/recorder.js'
import {RunEvents} from '../model/events.js'
import type {ChainExecutionResult} from '../model/result.js'
import type {ChainStatus} from '../model/status.js'
import {attachTrapNotifier} from '../notify/observer.js'
import type {ChainSyncTransport} from '../protocol/transport.js'
import {failpoint} from '../util/failpoint.js'
import type {DeviceAgent} from './agent.js'
import {runChain, type ChainRound} from './chain.js'
import {RunHalt} from './halt.js'
import {bestEffort, JournalFailure} from './journal-failure.js'
import {createRunRecord, finalStatus, resultFromJournal, resultWithoutJournal, saveResultSomewhere} from './record.js'
import {planResume, reopenDevices, type ResumePlan} from './resume.js'
import {rollBack} from './rollback.js'
import {secretValues, type ResolvedSecrets} from './secrets.js'
import {StackLockedError} from './stack-lock.js'
import {evaluateStackGates} from './stack-gates.js'
import {runTransports} from './transport.js'
import {watchStop} from './stop.js'
import {runWindowGate} from './window-gate.js'

export {StackLockedError} from './stack-lock.js'

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
  /** Each local node's ChainSync transport; by default from the inventory (`run/transport.ts`: per-run TLS-PSK, configured TLS, or opted-in plain TCP). */
  transportFor?: (device: string) => ChainSyncTransport | undefined
  /** Run id (= ROUND-ID); a new UUID by default. */
  runId?: string
  /** Continue this unfinished run from the journal instead of starting one (`chainup resume`). */
  resume?: string
  /** First SIGINT/SIGTERM: the device in progress finishes, no new device starts, the run ends `cancelled`. */
  cancel?: AbortSignal
  /** Second SIGINT: stop at once (still journaled). */
  kill?: AbortSignal
  /** How long a journal write waits for a lock another process holds before it fails with SQLITE_BUSY (ms). @default 5000 */
  busyTimeoutMs?: number
  /** "Now" for the maintenance window's gate (run/window-gate.ts); tests inject it. @default () => new Date() */
  now?: () => Date
  /** `--ignore-window`: no window gate for this run; journaled as `windowIgnored`. */
  ignoreWindow?: boolean
  /** `--transcript DIR`: every device session is written, redacted, to `DIR/<run id>/<device>.log` (device/transcript.ts). */
  transcriptDir?: string
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
  // Before anything is journaled: a missing certificate or key is bad input (exit 2) and touches nothing.
  const links = opts.transportFor ? undefined : await runTransports(inventory, inventory.devices.filter((d) => !d.remote).map((d) => d.name))
  events.redactSecrets(secretValues(secrets))
  const journal = await openJournal(opts.stateDir, {secrets: secretValues(secrets), ...(opts.busyTimeoutMs === undefined ? {} : {busyTimeoutMs: opts.busyTimeoutMs})})
  const runId = opts.resume ?? opts.runId ?? randomUUID()
  try {
    const lock = journal.acquireLock(inventory.stack, runId)
    if (!lock.ok) throw new StackLockedError(inventory.stack, lock.heldBy)
    try {
      const deviceRuns = opts.resume ? reopenDevices(journal, runId) : createRunRecord(journal, runId, inventory, playbook)
      const resume = opts.resume ? planResume(journal, runId, inventory, playbook) : undefined
      const halt = new RunHalt()
      const agents = new Map<string, DeviceAgent>()
      // A journal that cannot write any more stops the run safely (journal-failure.ts).
      const failure = new JournalFailure(halt, events, () => [...agents.values()].some((a) => a.working))
      attachJournal(journal, runId, deviceRuns, events, failure.onError)
      const traps = attachTrapNotifier(events, {runId, stack: inventory.stack}, secrets.trapTargets)
      if (lock.note) events.emit('log', {level: 'warn', device: null, message: lock.note})
      journal.appendEvent(runId, {type: 'chainsyncSecurity', data: {links: links?.security ?? 'given by the caller'}})
      for (const warning of [...(links?.warnings ?? []), ...secrets.warnings]) events.emit('log', {level: 'warn', device: null, message: warning.replace(/^warning: /, '')})
      const taskGate = runWindowGate({inventory, playbook, journal, runId, events, now: opts.now, ignore: opts.ignoreWindow})
      let status: {status: ChainStatus; reason: string | null} = {status: 'failed', reason: 'internal error'}
      try {
        await execute({...opts, ...(links ? {transportFor: links.transportFor} : {}), ...(taskGate ? {taskGate} : {}), events, journal, runId, halt, agents, plan: resume, onJournalError: failure.onError})
        await traps.flush()
        status = finalStatus(halt.cause, inventory.devices.map(({name}) => ({name, outcome: agents.get(name)?.outcome})))
      } catch (error) {
        status = {status: halt.cause?.status ?? 'failed', reason: halt.cause?.reason ?? `internal error: ${(error as Error).message}`}
        throw error
      } finally {
        failure.attempt(() => journal.finishRun(runId, status.status, status.reason))
      }
      const result = failure.error ? resultWithoutJournal(runId, inventory, status, agents, failure.error) : resultFromJournal(journal, runId, new Set(inventory.devices.filter((d) => d.remote).map((d) => d.name)))
      events.emit('log', {level: 'info', device: null, message: saveResultSomewhere(opts.stateDir, result)})
      events.emit('runFinished', result)
      return result
    } finally {
      // A lock left behind names this run and process; `chainup unlock` or the next run takes it over.
      bestEffort(events, `release the lock of stack ${inventory.stack}`, () => journal.releaseLock(inventory.stack, runId))
    }
  } finally {
    bestEffort(events, 'close the journal', () => journal.close())
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
  onJournalError: (error: Error) => void
  /** The maintenance window's gate before each device's task (run/window-gate.ts). */
  taskGate?: NonNullable<ChainRound['taskGate']>
}

/** DEC-002's flow: before gates, the chain, rollback on a halt that asks for it, final gates. */
async function execute(ctx: RunContext): Promise<void> {
  const {inventory, playbook, events, halt, agents, runId, plan} = ctx
  const names = inventory.devices.map((d) => d.name)
  const gateRun = {runId, inventory, playbook, events, hiddenEnv: ctx.secrets.hiddenEnv}
  events.emit('runStarted', {runId, stack: inventory.stack, devices: names, target: inventory.target})
  if (plan) events.emit('log', {level: 'info', device: null, message: `resuming run ${runId}: ${[...plan.states].map(([n, r]) => `${n} ${r.state}`).join(', ')}`})
  const stopped = watchStop(halt, events, {cancel: ctx.cancel, kill: ctx.kill, runTimeoutMs: inventory.timeouts.run, working: () => [...agents.values()].some((a) => a.working)})
  try {
    // Phase 1: stack-wide before gates, before any device is touched (again on resume: a change window may have closed).
    const beforeVeto = halt.stopRequested() ? undefined : await evaluateStackGates(gateRun, 'before', playbook.gates.before.filter((g) => g.scope === 'stack'))
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
    const finalVeto = await evaluateStackGates(gateRun, 'final', playbook.gates.final)
    if (finalVeto) halt.override({status: 'vetoed', reason: `final gate "${finalVeto.name}" vetoed: ${finalVeto.reason}`})
  } finally {
    stopped()
  }
}

