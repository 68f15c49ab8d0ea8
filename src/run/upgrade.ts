/**
 * `chainup upgrade` / `chainup resume`: one run = one ChainSync round over the stack
 * (draft-dohmeyer-chainsync-03 §6) with the device tasks of DeviceWorker and the gates of DEC-002, recorded as a
 * durable operation run in the journal (seed 001 §2–§6, docs/runs.md). Embedded mode: every node in this process.
 */
import {createHash, randomUUID} from 'node:crypto'
import {chmodSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {hostname} from 'node:os'
import {join} from 'node:path'

import {expandTemplate} from '../config/template.js'
import type {Inventory, Playbook} from '../config/types.js'
import type {HostKeySource} from '../device/known-hosts.js'
import type {DeviceResume} from '../device/worker.js'
import {ChainupError, ExitCode, InputError} from '../errors.js'
import {evaluateGate} from '../gates/engine.js'
import {openJournal, type Journal} from '../journal/journal.js'
import {closeChain} from '../protocol/local-chain.js'
import type {ChainSyncTransport} from '../protocol/transport.js'
import {formatMs} from '../util/duration.js'
import {failpoint} from '../util/failpoint.js'
import {DeviceAgent} from './agent.js'
import {RunEvents} from './events.js'
import {startChainNodes} from './nodes.js'
import {attachJournal} from './recorder.js'
import type {ChainExecutionResult, ChainStatus} from './result.js'
import type {ResolvedSecrets} from './secrets.js'
import {trapSender} from './traps.js'

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
 * @throws StackLockedError (exit 4) when another live run holds the stack; InputError for an unknown or finished
 *   run to resume; errors before the run starts (a port already in use)
 */
export async function runUpgrade(opts: UpgradeOptions): Promise<ChainExecutionResult> {
  const {inventory, playbook, secrets} = opts
  const events = opts.events ?? new RunEvents()
  const journal = await openJournal(opts.stateDir, {secrets: secretValues(secrets)})
  const runId = opts.resume ?? opts.runId ?? randomUUID()
  const names = inventory.devices.map((d) => d.name)
  const log = (level: 'info' | 'warn' | 'error', device: string | null, message: string) => events.emit('log', {level, device, message})
  try {
    const lock = journal.acquireLock(inventory.stack, runId)
    if (!lock.ok) throw new StackLockedError(inventory.stack, lock.heldBy)
    try {
      const deviceRuns = opts.resume ? resumeRun(journal, runId) : newRun(journal, runId, inventory, playbook)
      const resumeStates = opts.resume ? deriveResume(journal, runId, names) : new Map<string, DeviceResume>()
      attachJournal(journal, runId, deviceRuns, events)
      if (lock.note) log('warn', null, lock.note)
      const result = await execute({...opts, events, journal, runId, resumeStates})
      events.emit('runFinished', result)
      return result
    } finally {
      journal.releaseLock(inventory.stack, runId)
    }
  } finally {
    journal.close()
  }
}

function secretValues(secrets: ResolvedSecrets): string[] {
  return [secrets.credentials.password, secrets.credentials.passphrase, ...secrets.trapTargets.map((t) => t.community)].filter(
    (v): v is string => typeof v === 'string' && v.length >= 4,
  )
}

function newRun(journal: Journal, runId: string, inventory: Inventory, playbook: Playbook): Record<string, string> {
  const {devices} = journal.createRun({id: runId, stack: inventory.stack, devices: inventory.devices.map((d) => d.name), target: inventory.target})
  // What `chainup resume` needs to find its inputs again.
  journal.appendEvent(runId, {
    type: 'runConfig',
    data: {inventory: inventory.file, playbook: playbook.file, inputs_sha256: inputsDigest(inventory, playbook), pid: process.pid, hostname: hostname()},
  })
  return devices
}

/** SHA-256 over the inventory and playbook files as they are on disk: a resume refuses changed inputs. */
export function inputsDigest(inventory: Inventory, playbook: Playbook): string {
  const h = createHash('sha256')
  for (const f of [inventory.file, playbook.file]) h.update(readFileSync(f)).update('\0')
  return h.digest('hex')
}

/** Picks a run up again: steps the dead process left running are closed as interrupted (seed 001 §3.1). */
function resumeRun(journal: Journal, runId: string): Record<string, string> {
  const tree = journal.tree(runId)
  const deviceRuns: Record<string, string> = {}
  for (const device of tree.children) {
    deviceRuns[device.name] = device.id
    for (const step of device.children) {
      if (step.status === 'running') journal.finishStep(step.id, {status: 'cancelled', output: null, error: 'interrupted: the process running this step died'})
    }
  }
  journal.appendEvent(runId, {type: 'resumed', data: {pid: process.pid, hostname: hostname()}})
  return deviceRuns
}

/** Each device's phase from the journal (the device itself is checked again by its worker). */
function deriveResume(journal: Journal, runId: string, names: string[]): Map<string, DeviceResume> {
  const tree = journal.tree(runId)
  const cleared = new Set(
    journal
      .events(runId)
      .filter((e) => e.type === 'journal.reload_cleared' && (e.data as {outcome?: string}).outcome === 'rebooted')
      .map((e) => e.device),
  )
  const allowed = new Set(
    journal
      .events(runId)
      .filter((e) => e.type === 'journal.status' && (e.data as {status?: string; detail?: {on_error?: string}}).status === 'failed' && (e.data as {detail?: {on_error?: string}}).detail?.on_error === 'allow')
      .map((e) => e.device),
  )
  const halted = tree.children.filter((c) => c.status === 'failed' && !allowed.has(c.name))
  if (halted.length > 0) {
    // The chain stopped at this device (no on_error gate allowed going on): resuming would go past it.
    throw new InputError(`run ${runId} stopped at a failed device (${halted.map((c) => c.name).join(', ')}) whose on_error gates did not allow continuing; chainup does not resume past it`, {
      code: 'RESUME_HALTED',
      hint: 'check the device, then start a new run',
    })
  }
  const rolling = tree.children.filter((c) => ['rolling_back', 'rolled_back', 'rollback_failed'].includes(c.status))
  if (rolling.length > 0) {
    // Safety first: never re-run an upgrade on a stack that was half rolled back.
    throw new InputError(`run ${runId} died during its rollback (${rolling.map((c) => `${c.name} ${c.status}`).join(', ')}); chainup does not resume a rollback`, {
      code: 'RESUME_ROLLBACK',
      hint: 'check each device by hand (show version), then start a new run',
    })
  }
  const states = new Map<string, DeviceResume>()
  for (const name of names) {
    const device = tree.children.find((c) => c.name === name)
    const fence = journal.openFence(runId, name)
    if (device?.status === 'upgraded' || device?.status === 'skipped' || device?.status === 'failed') states.set(name, {state: 'done', outcome: device.status})
    else if (fence) {
      states.set(name, {
        state: 'rebooting',
        before: {version: '', uptimeSeconds: fence.uptimeBefore ?? undefined, restartedAt: fence.restartedAtBefore ?? undefined},
        sentAt: Date.parse(fence.sentAt),
      })
    } else if (cleared.has(name)) states.set(name, {state: 'reloaded'})
    else states.set(name, {state: 'fresh'})
  }
  return states
}

interface ExecuteContext extends UpgradeOptions {
  events: RunEvents
  journal: Journal
  runId: string
  resumeStates: Map<string, DeviceResume>
}

async function execute(ctx: ExecuteContext): Promise<ChainExecutionResult> {
  const {inventory, playbook, secrets, events, journal, runId} = ctx
  const names = inventory.devices.map((d) => d.name)
  const halt = new AbortController()
  let haltCause: {status: ChainStatus; reason: string; rollback?: boolean} | undefined
  let stop: {status: ChainStatus; reason: string} | undefined
  const pending: Array<Promise<unknown>> = []
  let order = journal.tree(runId).children.reduce((n, d) => n + d.children.length, 0)
  const nextOrder = () => ++order
  const log = (level: 'info' | 'warn' | 'error', device: string | null, message: string) => events.emit('log', {level, device, message})
  const agents = new Map<string, DeviceAgent>()
  const onHalt = (status: ChainStatus, reason: string, rollback = false) => {
    haltCause ??= {status, reason, rollback}
  }
  const sendTrap = trapSender(secrets, events, pending)
  let haltNow: (status: ChainStatus, reason: string) => void = (status, reason) => {
    onHalt(status, reason)
    if (!halt.signal.aborted) halt.abort(reason)
  }

  events.emit('runStarted', {runId, stack: inventory.stack, devices: names, target: inventory.target})
  if (ctx.resume) log('info', null, `resuming run ${runId}: ${[...ctx.resumeStates].map(([n, r]) => `${n} ${r.state}`).join(', ')}`)

  // Stopping (seed 001 §6.1): a cancel or timeouts.run lets the device in progress finish, then the chain stops.
  const requestStop = (status: ChainStatus, reason: string) => {
    if (stop) return
    stop = {status, reason}
    log('warn', null, `${reason}: ${[...agents.values()].some((a) => a.working) ? 'the device in progress finishes, then the chain stops' : 'stopping now'}`)
    if (![...agents.values()].some((a) => a.working)) haltNow(status, reason)
  }
  const onCancel = () => requestStop('cancelled', 'cancelled by the operator')
  const onKill = () => haltNow('cancelled', 'cancelled by the operator (second interrupt: stopped at once)')
  ctx.cancel?.addEventListener('abort', onCancel, {once: true})
  ctx.kill?.addEventListener('abort', onKill, {once: true})
  const runTimer =
    inventory.timeouts.run === undefined
      ? undefined
      : setTimeout(() => requestStop('failed', `timeout: the run exceeded timeouts.run (${formatMs(inventory.timeouts.run!)})`), inventory.timeouts.run)
  if (ctx.cancel?.aborted) onCancel()

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

  try {
    // DEC-002 phase 1: stack-wide before gates, before any device is touched (again on resume: a change window may have closed).
    const beforeVeto = stop ? undefined : await stackGate('before', playbook.gates.before.filter((g) => g.scope === 'stack'))
    if (beforeVeto) haltCause = {status: 'vetoed', reason: `before gate "${beforeVeto.name}" vetoed: ${beforeVeto.reason}`}
    else if (stop) haltCause = stop
    else {
      await runChain()
      // Only a device failure, a veto or a predecessor timeout rolls back; a stop (cancel, timeouts.run) or a lost control link does not.
      if (haltCause?.rollback && inventory.on_failure === 'rollback') await rollBack(haltCause)
      if (!haltCause) {
        // DEC-002 phase 3: final after gates once every device is done.
        failpoint('final-gates')
        const finalVeto = await stackGate('final', playbook.gates.final)
        if (finalVeto) haltCause = {status: 'vetoed', reason: `final gate "${finalVeto.name}" vetoed: ${finalVeto.reason}`}
      }
    }
    await Promise.all(pending)
  } catch (error) {
    haltCause ??= {status: 'failed', reason: `internal error: ${(error as Error).message}`}
    throw error
  } finally {
    clearTimeout(runTimer)
    ctx.cancel?.removeEventListener('abort', onCancel)
    ctx.kill?.removeEventListener('abort', onKill)
    const failedDevices = names.filter((n) => agents.get(n)?.outcome === 'failed')
    const status: ChainStatus = haltCause?.status ?? (failedDevices.length > 0 ? 'failed' : 'completed')
    const reason = haltCause?.reason ?? (failedDevices.length > 0 ? `failed on ${failedDevices.join(', ')} (on_error gates allowed the chain to continue)` : null)
    journal.finishRun(runId, status, reason)
  }
  const built = journal.buildResult(runId)
  // A remote device's steps live in its own node's journal; this run only knows the chain went past it.
  const remote = new Set(inventory.devices.filter((d) => d.remote).map((d) => d.name))
  const result = {...built, devices: built.devices.map((d) => (remote.has(d.name) && d.status === 'not_started' ? {...d, status: 'remote' as const} : d))}
  const file = saveResult(ctx.stateDir, result)
  log('info', null, `result saved to ${file}`)
  return result

  // --- rollback (seed 001 §3.4) ---------------------------------------------------

  /**
   * A backward wave of compensating actions: the failed device first, then the upgraded ones in reverse chain
   * order. A failure during rollback fails the run, sends a trap, and stops there.
   */
  async function rollBack(cause: {status: ChainStatus; reason: string}): Promise<void> {
    const outcomeOf = (name: string) => agents.get(name)?.outcome
    const failed = names.filter((n) => outcomeOf(n) === 'failed' || outcomeOf(n) === 'cancelled')
    const upgraded = names.filter((n) => outcomeOf(n) === 'upgraded').reverse()
    const order = [...failed, ...upgraded]
    if (order.length === 0) return
    log('warn', null, `on_failure: rollback: rolling back ${order.join(' -> ')}`)
    const signal = new AbortController()
    const onKill = () => signal.abort('cancelled by the operator')
    ctx.kill?.addEventListener('abort', onKill, {once: true})
    const report = (name: string, outcome: 'rolling_back' | 'rolled_back' | 'rollback_failed') => {
      const agent = agents.get(name)!
      agent.outcome = outcome
      events.emit('deviceOutcome', {device: name, outcome, versionBefore: agent.worker.factsBefore?.version ?? null, versionAfter: agent.worker.factsAfter?.version ?? null})
    }
    try {
      for (const name of order) {
        report(name, 'rolling_back')
        try {
          await agents.get(name)!.worker.rollback(signal.signal)
          report(name, 'rolled_back')
        } catch (error) {
          report(name, 'rollback_failed')
          const message = (error as Error).message
          haltCause = {status: 'failed', reason: `${cause.reason}; rollback failed on ${message}`}
          log('error', name, `rollback failed, stopping the rollback: ${message}`)
          sendTrap({kind: 'chain_halted', runId, stack: inventory.stack, reporter: name, reason: `rollback failed: ${message}`})
          return
        }
      }
      haltCause = {status: cause.status, reason: `${cause.reason}; rolled back ${order.join(', ')}`}
    } finally {
      ctx.kill?.removeEventListener('abort', onKill)
    }
  }

  // --- the ChainSync round ---------------------------------------------------

  async function runChain(): Promise<void> {
    // What each device ran before this run, as first read (a resumed run must not take the target for it).
    const versionsBefore = new Map<string, string>()
    const journalTree = ctx.resume ? journal.tree(runId) : undefined
    for (const e of ctx.resume ? journal.events(runId) : []) {
      const v = (e.data as {version_before?: unknown}).version_before
      if (e.type === 'deviceFacts' && e.device && typeof v === 'string' && !versionsBefore.has(e.device)) versionsBefore.set(e.device, v)
    }
    const nodes = await startChainNodes(inventory, {
      ...(ctx.extensions === undefined ? {} : {extensions: ctx.extensions}),
      ...(ctx.transportFor ? {transportFor: ctx.transportFor} : {}),
      outboxFor: (device) => ({
        enqueue: (_roundId, side, line) => journal.enqueue(runId, device, side, line),
        sent: (id) => void journal.markSent(id),
      }),
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
      haltNow = (status, reason) => {
        onHalt(status, reason)
        const any = [...agents.values()][0]
        if (any) any.halt(status, reason)
        else if (!halt.signal.aborted) halt.abort(reason)
      }
      for (const device of inventory.devices) {
        const node = nodes.get(device.name)
        if (!node) continue
        const resume = ctx.resumeStates.get(device.name)
        const versionBefore = ctx.resume ? versionsBefore.get(device.name) : undefined
        const upgradeSteps = new Set(playbook.upgrade.map((st) => st.name))
        const startedBefore = ctx.resume ? (journalTree?.children.find((c) => c.name === device.name)?.children ?? []).map((st) => st.name).filter((n) => upgradeSteps.has(n)) : []
        agents.set(
          device.name,
          new DeviceAgent({
            runId,
            inventory,
            playbook,
            device,
            node,
            secrets,
            hostKey: ctx.hostKeys?.get(device.name) ?? defaultHostKey(inventory, device.name),
            events,
            nextOrder,
            halt,
            onHalt,
            sendTrap,
            stopRequested: () => stop,
            fence: {
              record: (before) =>
                journal.recordReloadIntent({runId, device: device.name, restartedAtBefore: before.restartedAt ?? null, uptimeBefore: before.uptimeSeconds ?? null, targetVersion: inventory.target.version}),
              clear: (outcome) => void journal.clearFence(runId, device.name, outcome),
            },
            ...(resume ? {resume} : {}),
            ...(versionBefore ? {versionBefore} : {}),
            ...(startedBefore.length > 0 ? {startedBefore} : {}),
            commit: (fn) => journal.transaction(fn),
          }),
        )
      }
      if (ctx.resume) replayOutbox(journal, runId, inventory, nodes, log)
      if (stop) {
        // Stopped while the nodes were starting: no round was joined, nothing was touched.
        onHalt(stop.status, stop.reason)
        if (!halt.signal.aborted) halt.abort(stop.reason)
      } else {
        for (const agent of agents.values()) agent.start()
        await finished
      }
      if (!halt.signal.aborted && haltCause) halt.abort(haltCause.reason)
      // Let in-flight work see the halt and settle before the nodes go away.
      await Promise.all([...agents.values()].map((a) => a.settled()))
      // Devices whose task never started (readiness only) did not start their upgrade.
      for (const [name, a] of agents) {
        if (a.outcome === 'not_started' && ctx.resumeStates.get(name)?.state !== 'done') {
          events.emit('deviceOutcome', {device: name, outcome: 'not_started', versionBefore: a.worker.factsBefore?.version ?? null, versionAfter: null})
        }
      }
    } finally {
      await closeChain([...nodes.values()])
      for (const a of agents.values()) a.worker.closeSession()
    }
  }
}

/**
 * A resumed run's committed but unsent ChainSync lines (seed 001 §5). Lines to a neighbour in another process (that
 * may still be in the round) are sent first on the new link, and it ignores what it already has; lines between two
 * nodes of this process are superseded, since both restart the round from the journal. Either way they are marked.
 */
function replayOutbox(journal: Journal, runId: string, inventory: Inventory, nodes: Map<string, import('../protocol/node.js').ChainSyncNode>, log: (level: 'info' | 'warn' | 'error', device: string | null, message: string) => void): void {
  const pending = journal.pendingOutbox(runId)
  if (pending.length === 0) return
  const index = new Map(inventory.devices.map((d, i) => [d.name, i]))
  let replayed = 0
  for (const m of pending) {
    const i = index.get(m.device)
    const peer = i === undefined ? undefined : inventory.devices[m.side === 'successor' ? i + 1 : i - 1]
    const node = nodes.get(m.device)
    if (node && peer?.remote) {
      node.preload(m.side, [m.line])
      replayed++
    }
    journal.markSent(m.id)
  }
  journal.appendEvent(runId, {type: 'outboxReplayed', data: {pending: pending.length, replayed, superseded: pending.length - replayed}})
  log('info', null, `outbox: ${pending.length} committed but unsent line(s) from before the restart: ${replayed} sent again to remote neighbours, ${pending.length - replayed} superseded by the restarted round`)
}

/** The host key source the inventory gives a device: its own `host_key`, else the known_hosts file. */
export function defaultHostKey(inventory: Inventory, device: string): HostKeySource {
  const entry = inventory.devices.find((d) => d.name === device)
  if (entry?.host_key) return {kind: 'fingerprint', fingerprint: entry.host_key}
  if (inventory.ssh.known_hosts) return {kind: 'known_hosts', file: inventory.ssh.known_hosts}
  throw new Error(`${device}: no host key source (the inventory loader should have refused this)`)
}

/** Writes the result as `<stateDir>/runs/<basename>.json` (default: the execution id), private to the user. */
export function saveResult(stateDir: string, result: ChainExecutionResult, basename = result.execution_id): string {
  const dir = join(stateDir, 'runs')
  mkdirSync(dir, {recursive: true, mode: 0o700})
  chmodSync(stateDir, 0o700)
  const file = join(dir, `${basename}.json`)
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n', {mode: 0o600})
  return file
}
