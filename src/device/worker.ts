/**
 * The device task of one ChainSync node: readiness (draft §6.1 "locally ready") and the upgrade itself
 * (run when the node enters START, §6.3), over SSH. The worker reports through {@link RunEvents} only.
 */
import {setTimeout as sleep} from 'node:timers/promises'

import {expandTemplate, type TemplateVars} from '../config/template.js'
import type {DeviceEntry, Inventory, Playbook, PlaybookStep} from '../config/types.js'
import {ChainupError} from '../errors.js'
import {evaluateGate} from '../gates/engine.js'
import {DevicePhase, type RunEvents} from '../run/events.js'
import type {GateEvaluation, GateType, StepExecution, StepStatus} from '../run/result.js'
import {formatMs} from '../util/duration.js'
import {failpoint} from '../util/failpoint.js'
import {parseFacts, rebootedSince, type DeviceFacts} from './facts.js'
import type {HostKeySource} from './known-hosts.js'
import {CommandTimeoutError, ConnectError, connectDevice, type Credentials, type DeviceSession, type SshDeviceSession} from './ssh-session.js'

const OUTPUT_CAP = 65_536

/** A device step failed; the chain's on_error gates decide what happens next. */
export class DeviceTaskError extends ChainupError {
  constructor(readonly device: string, message: string, cause?: unknown) {
    super(`${device}: ${message.startsWith(`${device}: `) ? message.slice(device.length + 2) : message}`, {code: 'DEVICE_TASK_FAILED', cause})
  }
}

/** A gate vetoed: binding, the chain halts (DEC-002). */
export class GateVetoError extends ChainupError {
  constructor(readonly evaluation: GateEvaluation) {
    super(`${evaluation.type} gate "${evaluation.name}"${evaluation.device ? ` on ${evaluation.device}` : ''} vetoed: ${evaluation.reason}`, {code: 'GATE_VETO', exitCode: 3})
  }
}

/** The run was halted elsewhere while this worker was busy. */
export class HaltedError extends ChainupError {
  constructor(reason: string) {
    super(`halted: ${reason}`, {code: 'HALTED'})
  }
}

export interface WorkerContext {
  runId: string
  inventory: Inventory
  playbook: Playbook
  device: DeviceEntry
  credentials: Credentials
  hostKey: HostKeySource
  events: RunEvents
  /** Hands out the run-wide 1-based step order. */
  nextOrder: () => number
  /** Environment variable names gates must not see. */
  hiddenEnv: readonly string[]
  /** Aborted when the chain halts. */
  signal: AbortSignal
  /** The reload fence (docs/runs.md): committed before a reload is sent, cleared once the device is back. */
  fence?: {
    record(before: DeviceFacts): void
    clear(outcome: 'rebooted' | 'failed'): void
  }
  /** Where a resumed run picks this device up (from the journal); absent for a fresh run. */
  resume?: DeviceResume
  /** The version the device ran when the run first read its facts (a resumed run knows it from the journal). */
  versionBefore?: string
  /** Upgrade steps started before a restart (from the journal): a rollback compensates them too. */
  startedBefore?: readonly string[]
}

/**
 * A device's phase re-derived from the journal when a run is resumed:
 * - `done`: its outcome is final (upgraded or skipped); it is not touched again, only checked;
 * - `rebooting`: the reload was sent (open fence): wait for it to come back, never reload again;
 * - `reloaded`: it came back from its reload: continue with the steps after the reload;
 * - `fresh`: nothing happened to it yet.
 */
export type DeviceResume =
  | {state: 'done'; outcome: 'upgraded' | 'skipped' | 'failed'}
  | {state: 'rebooting'; before: DeviceFacts; sentAt: number}
  | {state: 'reloaded'}
  | {state: 'fresh'}

/** Readiness and upgrade of one device. */
export class DeviceWorker {
  /** Facts read during readiness (version before the upgrade). */
  factsBefore: DeviceFacts | undefined
  /** Facts read after the upgrade. */
  factsAfter: DeviceFacts | undefined
  private session: SshDeviceSession | undefined
  /** Aborted when the chain halts; a rollback runs under a signal of its own. */
  private signal: AbortSignal
  /** A reload was sent and the device has not been seen back yet (the fence is open). */
  fenceOpen = false
  /** Upgrade steps started in this run: the ones a rollback compensates. */
  private readonly started = new Set<string>()
  private readonly vars: TemplateVars & {previous?: {version: string; image: string}}
  private readonly name: string
  /** The playbook's facts with this device's placeholders expanded. */
  private readonly facts: Playbook['facts']

  constructor(private readonly ctx: WorkerContext) {
    this.name = ctx.device.name
    // A halt closes the session, so a command in flight returns at once instead of at its timeout.
    this.signal = ctx.signal
    for (const name of ctx.startedBefore ?? []) this.started.add(name)
    ctx.signal.addEventListener('abort', () => this.closeSession(), {once: true})
    this.vars = {stack: ctx.inventory.stack, target: ctx.inventory.target, device: {name: ctx.device.name, host: ctx.device.host}}
    const f = ctx.playbook.facts
    const re = (p: string | undefined) => (p === undefined ? undefined : expandTemplate(p, this.vars, 'regex'))
    this.facts = {
      command: expandTemplate(f.command, this.vars, 'text'),
      version: re(f.version)!,
      ...(f.uptime === undefined ? {} : {uptime: re(f.uptime)!}),
      ...(f.restarted_at === undefined ? {} : {restarted_at: re(f.restarted_at)!}),
    }
  }

  /**
   * Readiness: connect (host key verified), read facts, run the readiness steps, evaluate the device's `before` gates.
   * Read-only: nothing here changes the device.
   * @throws DeviceTaskError when a step fails; GateVetoError on a veto; HaltedError when the chain halted meanwhile.
   */
  async prepare(): Promise<void> {
    const resume = this.ctx.resume
    if (resume?.state === 'done' && resume.outcome === 'failed') {
      this.phase(DevicePhase.ready, 'resumed: it failed before the restart and its on_error gates allowed continuing')
      return
    }
    if (resume?.state === 'rebooting') {
      // It may be down right now: its task will wait for it (never reload it again).
      this.phase(DevicePhase.ready, 'resumed: its reload was sent, will wait for it')
      return
    }
    this.phase(DevicePhase.readiness, 'connecting')
    try {
      await this.connect('readiness')
      this.factsBefore = await this.readFacts('readiness')
      this.learnPrevious(this.factsBefore.version)
      if (resume?.state === 'done' || resume?.state === 'reloaded') {
        // Already upgraded in this run: prove it from the device, then nothing more is needed to be ready.
        if (this.factsBefore.version !== this.ctx.inventory.target.version) {
          throw new DeviceTaskError(this.name, `the journal says it was upgraded, but it runs ${this.factsBefore.version}, not ${this.ctx.inventory.target.version}`)
        }
        this.phase(DevicePhase.ready, `resumed: already on ${this.factsBefore.version}`)
        return
      }
      for (const step of this.ctx.playbook.readiness) await this.runStep(step, 'readiness')
      // Rollback feasibility is part of readiness when the inventory asks for rollback (seed 001 §3.4).
      if (this.ctx.inventory.on_failure === 'rollback') for (const step of this.ctx.playbook.rollback_readiness) await this.runStep(step, 'readiness')
      for (const gate of this.ctx.playbook.gates.before.filter((g) => g.scope === 'device')) {
        await this.gate('before', gate)
      }
      this.phase(DevicePhase.ready, `ready, running ${this.factsBefore.version}`)
    } finally {
      this.closeSession()
    }
  }

  /**
   * The task (node in START): skip if already on target, else run the upgrade steps, waiting out each reload,
   * then the `after` gates.
   * @returns whether the device was upgraded or skipped
   * @throws DeviceTaskError, GateVetoError, HaltedError
   */
  async upgrade(): Promise<'upgraded' | 'skipped'> {
    const resume = this.ctx.resume
    if (resume?.state === 'done') throw new Error(`${this.name}: its task finished before the restart (the agent does not run it again)`)
    try {
      if (resume?.state === 'rebooting' || resume?.state === 'reloaded') {
        // Resume after (or during) the reload: wait if needed, then the steps after the reload step.
        if (resume.state === 'rebooting') await this.waitForReboot(resume.before, resume.sentAt, false, true)
        const afterReload = this.ctx.playbook.upgrade.slice(this.ctx.playbook.upgrade.findIndex((st) => st.reload) + 1)
        for (const step of afterReload) await this.runStep(step, 'upgrade')
        return await this.finishTask('upgraded')
      }
      this.phase(DevicePhase.upgrading, 'connecting')
      await this.connect('upgrade')
      const facts = await this.readFacts('upgrade')
      this.learnPrevious(facts.version)
      let outcome: 'upgraded' | 'skipped' = 'upgraded'
      if (this.ctx.playbook.skip_if_on_target && facts.version === this.ctx.inventory.target.version) {
        outcome = 'skipped'
        this.record({action: 'upgrade', phase: 'upgrade', command: null, status: 'skipped', output: `already running ${facts.version}`, error: null}, Date.now())
        this.phase(DevicePhase.skipped, `already on ${facts.version}`)
      } else {
        let before = facts
        for (const step of this.ctx.playbook.upgrade) {
          if (step.reload) before = await this.reloadStep(step, before)
          else await this.runStep(step, 'upgrade')
        }
      }
      return await this.finishTask(outcome)
    } finally {
      this.closeSession()
    }
  }

  /** Final facts and the `after` gates. */
  private async finishTask(outcome: 'upgraded' | 'skipped'): Promise<'upgraded' | 'skipped'> {
    this.factsAfter = await this.readFacts('upgrade', false)
    this.phase(DevicePhase.gates, 'after gates')
    for (const gate of this.ctx.playbook.gates.after) await this.gate('after', gate)
    this.phase(outcome === 'skipped' ? DevicePhase.skipped : DevicePhase.upgraded, `running ${this.factsAfter.version}`)
    return outcome
  }

  /**
   * Evaluates the `on_error` gates after a failed task (DEC-002): all allow → continue the chain; any veto → halt.
   * With no on_error gates the answer is halt (the safe default, draft §9 example 1).
   */
  async onError(failure: Error): Promise<'allow' | 'veto' | 'halt'> {
    const gates = this.ctx.playbook.gates.on_error
    if (gates.length === 0) return 'halt'
    try {
      if (gates.some((g) => g.kind === 'device_command')) {
        await this.connect('upgrade').catch((error: Error) => this.log('warn', `on_error gates: cannot connect: ${error.message}`))
      }
      for (const gate of gates) {
        const evaluation = await this.evaluate('on_error', gate, {CHAINUP_ERROR: failure.message})
        if (evaluation.decision === 'veto') return 'veto'
      }
      return 'allow'
    } finally {
      this.closeSession()
    }
  }

  /**
   * Undoes this run's upgrade of the device (seed 001 §3.4): the compensating actions of the upgrade steps that
   * started, in reverse order, then the device must run the version it ran before. Not needed (and not done) when
   * it already does. Runs under `signal`, since the chain's own signal is aborted by then.
   * @throws DeviceTaskError when a compensating action fails or the device does not end on its previous version
   */
  async rollback(signal: AbortSignal): Promise<void> {
    this.signal = signal
    if (!this.vars.previous && this.ctx.versionBefore) this.learnPrevious(this.ctx.versionBefore)
    const previous = this.vars.previous
    try {
      if (!previous) throw new DeviceTaskError(this.name, 'cannot roll back: the version it ran before is unknown (its facts were never read)')
      this.phase(DevicePhase.rolling_back, `back to ${previous.version}`)
      let facts = await this.readFacts('rollback')
      if (facts.version === previous.version) {
        this.record({action: 'rollback', phase: 'rollback', command: null, status: 'completed', output: `already running ${previous.version}: nothing to undo`, error: null}, Date.now())
      } else {
        const steps = [...this.ctx.playbook.upgrade].reverse().filter((st) => st.compensate && this.started.has(st.name))
        if (steps.length === 0) throw new DeviceTaskError(this.name, `no compensating action for the steps that ran, and it runs ${facts.version}, not ${previous.version}`)
        for (const step of steps) {
          for (const c of step.compensate!) {
            if (c.reload) facts = await this.reloadStep(c, facts, 'rollback')
            else await this.runStep(c, 'rollback')
          }
        }
        facts = await this.readFacts('rollback')
        if (facts.version !== previous.version) throw new DeviceTaskError(this.name, `after the rollback it runs ${facts.version}, not ${previous.version}`)
      }
      this.factsAfter = facts
      this.phase(DevicePhase.rolled_back, `running ${facts.version}`)
    } finally {
      this.closeSession()
    }
  }

  /** `{{ previous.* }}`: the version before this run, and its image (target.image with target.version replaced). */
  private learnPrevious(read: string): void {
    if (this.vars.previous) return
    const version = this.ctx.versionBefore ?? read
    if (this.ctx.versionBefore === undefined) this.ctx.events.emit('deviceFacts', {device: this.name, versionBefore: version})
    const {target} = this.ctx.inventory
    this.vars.previous = {version, image: target.image.includes(target.version) ? target.image.replace(target.version, version) : target.image}
  }

  /** Closes the SSH session if one is open. */
  closeSession(): void {
    this.session?.close()
    this.session = undefined
  }

  // --- steps -----------------------------------------------------------------

  private async connect(phase: StepExecution['phase']): Promise<SshDeviceSession> {
    this.checkHalted()
    if (this.session && !this.session.isClosed) return this.session
    const {device, inventory} = this.ctx
    try {
      this.session = await connectDevice({
        device: device.name,
        host: device.host,
        port: device.port,
        credentials: this.ctx.credentials,
        hostKey: this.ctx.hostKey,
        timeoutMs: inventory.timeouts.connect,
      })
      return this.session
    } catch (error) {
      const started = Date.now()
      this.record({action: 'connect', phase, command: null, status: 'failed', output: null, error: (error as Error).message}, started)
      throw new DeviceTaskError(device.name, (error as Error).message, error)
    }
  }

  private async readFacts(phase: StepExecution['phase'], recordStep = true): Promise<DeviceFacts> {
    const session = await this.connect(phase)
    const command = this.facts.command
    const started = Date.now()
    const order = recordStep ? this.startStep('facts', phase, command) : 0
    try {
      const result = await session.exec(command, this.ctx.inventory.timeouts.command)
      if (result.dropped) throw new Error(`connection dropped during "${command}"`)
      const facts = parseFacts(result.output, this.facts)
      if (recordStep) this.finishStep(order, {action: 'facts', phase, command, status: 'completed', output: summarizeFacts(facts), error: null}, started)
      return facts
    } catch (error) {
      const message = errorMessage(error)
      if (recordStep) this.finishStep(order, {action: 'facts', phase, command, status: 'failed', output: null, error: message}, started)
      throw new DeviceTaskError(this.name, message, error)
    }
  }

  /** Runs one non-reload step and checks its output. */
  private async runStep(step: PlaybookStep, phase: StepExecution['phase']): Promise<string> {
    const session = await this.connect(phase)
    const command = expandTemplate(step.command, this.vars, 'text')
    this.phase(phase === 'readiness' ? DevicePhase.readiness : phase === 'rollback' ? DevicePhase.rolling_back : DevicePhase.upgrading, step.name)
    if (phase === 'upgrade') this.started.add(step.name)
    const started = Date.now()
    const order = this.startStep(step.name, phase, command)
    let output = ''
    try {
      const result = await session.exec(command, step.timeout ?? this.ctx.inventory.timeouts.command)
      output = result.output
      if (result.dropped) throw new Error(`connection dropped during "${command}"`)
      const problem = this.checkOutput(step, result.output, result.exitCode)
      if (problem) throw new Error(problem)
      this.finishStep(order, {action: step.name, phase, command, status: 'completed', output, error: null}, started)
      return output
    } catch (error) {
      const message = errorMessage(error)
      this.finishStep(order, {action: step.name, phase, command, status: 'failed', output: output || partialOutput(error), error: message}, started)
      throw new DeviceTaskError(this.name, `step "${step.name}" failed: ${message}`, error)
    }
  }

  /**
   * A step that makes the device reload: send it, expect the connection to drop, then wait until SSH login works
   * again **and** the facts prove a reboot after the reload was sent. Past timeouts.boot the device is failed.
   * @returns the facts after the reboot
   */
  private async reloadStep(step: PlaybookStep, before: DeviceFacts, phase: 'upgrade' | 'rollback' = 'upgrade'): Promise<DeviceFacts> {
    if (phase === 'upgrade') this.started.add(step.name)
    const session = await this.connect('upgrade')
    const command = expandTemplate(step.command, this.vars, 'text')
    this.phase(DevicePhase.upgrading, step.name)
    const started = Date.now()
    const order = this.startStep(step.name, phase, command)
    let sawDown = false
    // The fence: the intent is durable before the command that reloads the device leaves this host.
    failpoint(`before-reload:${this.name}`)
    this.ctx.fence?.record(before)
    this.fenceOpen = true
    try {
      const result = await session.exec(command, step.timeout ?? this.ctx.inventory.timeouts.command)
      if (this.signal.aborted) {
        // The session was closed by our own halt, not by a reload: the step was cut short.
        this.finishStep(order, {action: step.name, phase, command, status: 'cancelled', output: result.output, error: 'chain halted while the command ran'}, started)
        throw new HaltedError(String(this.signal.reason ?? 'chain halted'))
      }
      sawDown = result.dropped
      failpoint(`rebooting:${this.name}`)
      // No exit status on a reload command: the device is probably going down; waiting for it proves it either way.
      if (!result.dropped && result.exitCode !== undefined) {
        const problem = this.checkOutput(step, result.output, result.exitCode)
        if (problem) throw new Error(problem)
      } else {
        const problem = this.checkPatterns(step, result.output, false)
        if (problem) throw new Error(problem)
      }
      this.finishStep(order, {action: step.name, phase, command, status: 'completed', output: result.output, error: null}, started)
    } catch (error) {
      if (error instanceof HaltedError) throw error
      const message = errorMessage(error)
      this.finishStep(order, {action: step.name, phase, command, status: 'failed', output: partialOutput(error), error: message}, started)
      throw new DeviceTaskError(this.name, `step "${step.name}" failed: ${message}`, error)
    }
    this.closeSession()
    return this.waitForReboot(before, started, sawDown)
  }

  private async waitForReboot(before: DeviceFacts, reloadSentAt: number, sawDownInitially: boolean, resumed = false): Promise<DeviceFacts> {
    const {timeouts} = this.ctx.inventory
    // A resumed run may start long after the reload was sent: it still looks at the device for a full boot timeout.
    const deadline = resumed ? Math.max(reloadSentAt + timeouts.boot, Date.now() + timeouts.boot) : reloadSentAt + timeouts.boot
    const poll = Math.min(10_000, Math.max(250, Math.floor(timeouts.boot / 60)))
    let sawDown = sawDownInitially
    let lastProblem = ''
    const order = this.startStep('wait for reload', 'reboot', null)
    this.phase(DevicePhase.rebooting, 'waiting for the device to reload and come back')
    const fail = (message: string, cause?: unknown): never => {
      if (!this.signal.aborted) {
        this.ctx.fence?.clear('failed')
        this.fenceOpen = false
      }
      this.finishStep(order, {action: 'wait for reload', phase: 'reboot', command: null, status: this.signal.aborted ? 'cancelled' : 'failed', output: null, error: message}, reloadSentAt)
      throw this.signal.aborted ? new HaltedError(String(this.signal.reason)) : new DeviceTaskError(this.name, message, cause)
    }
    while (Date.now() < deadline) {
      if (this.signal.aborted) fail(`chain halted while waiting for ${this.name} to come back`)
      try {
        const remaining = deadline - Date.now()
        this.session = await connectDevice({
          device: this.name,
          host: this.ctx.device.host,
          port: this.ctx.device.port,
          credentials: this.ctx.credentials,
          hostKey: this.ctx.hostKey,
          timeoutMs: Math.max(500, Math.min(timeouts.connect, remaining)),
        })
        const result = await this.session.exec(this.facts.command, Math.max(500, Math.min(timeouts.command, deadline - Date.now())))
        if (result.dropped) {
          sawDown = true
          this.closeSession()
        } else {
          const facts = parseFacts(result.output, this.facts)
          if (rebootedSince(before, facts, Date.now() - reloadSentAt, sawDown)) {
            this.ctx.fence?.clear('rebooted')
            this.fenceOpen = false
            const waited = Date.now() - reloadSentAt
            this.finishStep(order, {action: 'wait for reload', phase: 'reboot', command: null, status: 'completed', output: `back after ${formatMs(waited)}, ${summarizeFacts(facts)}`, error: null}, reloadSentAt)
            this.phase(DevicePhase.verifying, `back on ${facts.version}`)
            return facts
          }
          lastProblem = `still up since ${before.restartedAt ?? 'before the reload'}`
          this.closeSession()
        }
      } catch (error) {
        this.closeSession()
        // A host key or login refused after the reload is a stop, not a wait: the device is not who we expect.
        if (error instanceof ConnectError && (error.kind === 'host_key' || error.kind === 'auth')) fail(error.message, error)
        if (error instanceof ConnectError) sawDown = true
        lastProblem = errorMessage(error)
      }
      await sleep(Math.min(poll, Math.max(0, deadline - Date.now())), undefined, {signal: this.signal}).catch(() => undefined)
    }
    if (!sawDown) fail(`reload did not happen: ${this.name} never went down and still reports ${before.restartedAt ? `"System restarted at ${before.restartedAt}"` : 'its old uptime'} after ${formatMs(timeouts.boot)}`)
    return fail(`did not come back within ${formatMs(timeouts.boot)} after the reload (${lastProblem})`)
  }

  private checkOutput(step: PlaybookStep, output: string, exitCode: number | undefined): string | undefined {
    const pattern = this.checkPatterns(step, output, true)
    if (pattern) return pattern
    if (exitCode !== undefined && exitCode !== 0) return `exit status ${exitCode}: ${firstLines(output)}`
    if (exitCode === undefined) return 'the command ended without an exit status'
    return undefined
  }

  private checkPatterns(step: PlaybookStep, output: string, checkExpect: boolean): string | undefined {
    for (const p of this.ctx.playbook.error_patterns) {
      const m = new RegExp(expandTemplate(p, this.vars, 'regex'), 'm').exec(output)
      if (m) return `device reported an error: ${lineAt(output, m.index)}`
    }
    if (step.reject !== undefined) {
      const m = new RegExp(expandTemplate(step.reject, this.vars, 'regex'), 'm').exec(output)
      if (m) return `output matches /${step.reject}/: ${lineAt(output, m.index)}`
    }
    if (checkExpect && step.expect !== undefined) {
      const re = new RegExp(expandTemplate(step.expect, this.vars, 'regex'), 'm')
      if (!re.test(output)) return `output does not match /${re.source}/`
    }
    return undefined
  }

  // --- gates -----------------------------------------------------------------

  private async gate(type: GateType, gate: Playbook['gates']['after'][number]): Promise<void> {
    this.checkHalted()
    if (gate.kind === 'device_command') await this.connect(type === 'before' ? 'readiness' : 'upgrade')
    const evaluation = await this.evaluate(type, gate)
    if (evaluation.decision === 'veto') throw new GateVetoError(evaluation)
  }

  private async evaluate(type: GateType, gate: Playbook['gates']['after'][number], extraEnv: Record<string, string> = {}): Promise<GateEvaluation> {
    const evaluation = await evaluateGate(gate, {
      runId: this.ctx.runId,
      stack: this.ctx.inventory.stack,
      type,
      device: this.name,
      playbookFile: this.ctx.playbook.file,
      defaultTimeoutMs: this.ctx.inventory.timeouts.gate,
      ...(this.session && !this.session.isClosed ? {session: this.session as DeviceSession} : {}),
      expand: (text, mode) => expandTemplate(text, this.vars, mode),
      hiddenEnv: this.ctx.hiddenEnv,
      extraEnv,
      signal: this.signal,
    })
    this.ctx.events.emit('gateEvaluated', evaluation)
    return evaluation
  }

  // --- reporting ---------------------------------------------------------------

  /** A device finished before a resume: it is only checked, and those checks are not steps of its (final) run. */
  private get quiet(): boolean {
    return this.ctx.resume?.state === 'done'
  }

  private startStep(action: string, phase: StepExecution['phase'], command: string | null): number {
    this.checkHalted()
    if (this.quiet) return 0
    const order = this.ctx.nextOrder()
    this.ctx.events.emit('stepStarted', {device: this.name, order, action, phase, command})
    return order
  }

  private finishStep(order: number, step: Omit<StepExecution, 'order' | 'device' | 'started_at' | 'duration_ms'>, started: number): void {
    if (this.quiet) return
    const output = step.output && step.output.length > OUTPUT_CAP ? step.output.slice(0, OUTPUT_CAP) + '\n[output truncated]' : step.output
    this.ctx.events.emit('stepFinished', {...step, output, order, device: this.name, started_at: new Date(started).toISOString(), duration_ms: Date.now() - started})
  }

  private record(step: Omit<StepExecution, 'order' | 'device' | 'started_at' | 'duration_ms'> & {status: StepStatus}, started: number): void {
    if (this.quiet) return
    const order = this.ctx.nextOrder()
    this.ctx.events.emit('stepStarted', {device: this.name, order, action: step.action, phase: step.phase, command: step.command})
    this.finishStep(order, step, started)
  }

  private phase(phase: DevicePhase, detail: string): void {
    this.ctx.events.emit('devicePhase', {device: this.name, phase, detail})
  }

  private log(level: 'info' | 'warn' | 'error', message: string): void {
    this.ctx.events.emit('log', {level, device: this.name, message})
  }

  private checkHalted(): void {
    if (this.signal.aborted) throw new HaltedError(String(this.signal.reason ?? 'chain halted'))
  }
}

function summarizeFacts(f: DeviceFacts): string {
  return `version ${f.version}${f.uptimeSeconds === undefined ? '' : `, uptime ${formatMs(f.uptimeSeconds * 1000)}`}${f.restartedAt ? `, restarted at ${f.restartedAt}` : ''}`
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function partialOutput(error: unknown): string | null {
  return error instanceof CommandTimeoutError && error.partialOutput ? error.partialOutput : null
}

function lineAt(text: string, index: number): string {
  const start = text.lastIndexOf('\n', index) + 1
  const end = text.indexOf('\n', index)
  return text.slice(start, end === -1 ? undefined : end).trim().slice(0, 160)
}

function firstLines(text: string): string {
  return text.trim().split('\n').slice(0, 2).join(' / ').slice(0, 200)
}
