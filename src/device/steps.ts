/**
 * The core every part of a device's work shares: its SSH session (host key verified), its placeholders, reading
 * facts, running one step with its output checks, evaluating a gate, and reporting each step. Readiness, the task,
 * the reload and the rollback are built on it (`readiness.ts`, `task.ts`, `reload.ts`, `rollback.ts`).
 */
import {expandTemplate, type TemplateVars} from '../config/template.js'
import type {DeviceEntry, Gate, Inventory, Playbook, PlaybookStep} from '../config/types.js'
import {evaluateGate} from '../gates/engine.js'
import type {StagingProgress} from '../model/events.js'
import type {GateEvaluation, GateType, StepExecution, StepPhase} from '../model/result.js'
import {DevicePhase} from '../model/status.js'
import type {Clock} from '../util/clock.js'
import {formatMs} from '../util/duration.js'
import {errorMessage, withoutSecrets} from '../util/text.js'
import {checkOutput, type CheckPatterns} from './checks.js'
import {DeviceTaskError, GateVetoError, HaltedError} from './errors.js'
import {parseFacts, type DeviceFacts} from './facts.js'
import {PromptTimeoutError} from './interactive.js'
import type {HostKeySource} from './known-hosts.js'
import type {DeviceReport} from './report.js'
import type {StagingPool} from './staging-pool.js'
import type {TransferDialer} from './staging-ssh.js'
import {reusingFactsAnswers} from './answer-reuse.js'
import type {Probe} from './probe.js'
import {CommandTimeoutError, connectDevice, type Credentials, type DeviceConnection, type Dialer, type ExecOptions} from './ssh-session.js'
import {DeviceTranscript} from './transcript.js'

/** Step output kept in the result and journal, bytes (characters) at most; the rest is cut with a marker. */
export const OUTPUT_CAP = 65_536

/** Everything a device worker needs from the run. */
export interface DeviceContext {
  runId: string
  inventory: Inventory
  playbook: Playbook
  device: DeviceEntry
  credentials: Credentials
  hostKey: HostKeySource
  report: DeviceReport
  /** Environment variable names gates must not see. */
  hiddenEnv: readonly string[]
  /** Aborted when the chain halts. */
  signal: AbortSignal
  /** Times waits and measures durations. */
  clock: Clock
  /** Opens SSH sessions. @default connectDevice (ssh2, host key verified) */
  dial?: Dialer
  /** Probes the SSH port with a TCP connect while waiting for a boot. @default tcpProbe */
  probe?: Probe
  /** The device's sysUpTime in seconds (`snmp.uptime`), or undefined when it does not answer; unset when not configured. */
  sysUpTime?: () => Promise<number | undefined>
  /** Image staging shared by the run's workers: the copy limiter and the image's digests (`staging.ts`). @default one of its own */
  staging?: StagingPool
  /** Opens the SSH connection an image copy runs on. @default connectTransfer (ssh2, host key verified) */
  transferDial?: TransferDialer
  /** Receives the image copy's progress (the run turns it into `stagingProgress` events). */
  onStagingProgress?: (progress: StagingProgress) => void
  /** `--transcript DIR`: every session of this device is written to `DIR/<runId>/<device>.log` (transcript.ts). */
  transcriptDir?: string
}

/** A step's result without the fields {@link DeviceSteps} fills in. */
export type StepRecord = Omit<StepExecution, 'order' | 'device' | 'started_at' | 'duration_ms'>

export class DeviceSteps {
  readonly name: string
  readonly vars: TemplateVars & {previous?: {version: string; image: string}}
  /** The playbook's facts with this device's placeholders expanded. */
  readonly facts: Playbook['facts']
  /** Aborted when the chain halts; a rollback replaces it with a signal of its own. */
  signal: AbortSignal
  /** When true (a device that finished before a resume is only checked), nothing is reported as a step. */
  quiet = false
  /** Upgrade steps started in this run (including before a restart): the ones a rollback compensates. */
  readonly started = new Set<string>()
  private session: DeviceConnection | undefined
  /** A {@link preconnect} in flight. */
  private preconnecting: Promise<void> | undefined
  private transcript: DeviceTranscript | undefined

  constructor(readonly ctx: DeviceContext) {
    this.name = ctx.device.name
    this.signal = ctx.signal
    this.vars = {stack: ctx.inventory.stack, target: ctx.inventory.target, device: {name: ctx.device.name, host: ctx.device.host}}
    const f = ctx.playbook.facts
    const re = (p: string | undefined) => (p === undefined ? undefined : expandTemplate(p, this.vars, 'regex'))
    this.facts = {
      command: expandTemplate(f.command, this.vars, 'text'),
      version: re(f.version)!,
      ...(f.uptime === undefined ? {} : {uptime: re(f.uptime)!}),
      ...(f.restarted_at === undefined ? {} : {restarted_at: re(f.restarted_at)!}),
      uptime_precision: f.uptime_precision,
    }
  }

  get now(): number {
    return this.ctx.clock.now()
  }

  /** Placeholders expanded for a command line. */
  command(text: string): string {
    return expandTemplate(text, this.vars, 'text')
  }

  /** The patterns {@link checkOutput} applies, with this device's placeholders. */
  get patterns(): CheckPatterns {
    return {errorPatterns: this.ctx.playbook.error_patterns.map((p) => expandTemplate(p, this.vars, 'regex')), expand: (p) => expandTemplate(p, this.vars, 'regex')}
  }

  /** The open session, or a new one (host key verified). @throws DeviceTaskError, recorded as a failed `connect` step */
  async connect(phase: StepPhase, timeoutMs = this.ctx.inventory.timeouts.connect): Promise<DeviceConnection> {
    this.checkHalted()
    if (this.preconnecting) await this.preconnecting
    if (this.session && !this.session.isClosed) return this.session
    try {
      this.session = await this.dial(timeoutMs)
      return this.session
    } catch (error) {
      this.record({action: 'connect', phase, command: null, status: 'failed', output: null, error: errorMessage(error)}, this.now)
      throw new DeviceTaskError(this.name, errorMessage(error), error)
    }
  }

  /** A new session without reporting anything (the boot wait polls with it). @throws ConnectError */
  async dial(timeoutMs: number): Promise<DeviceConnection> {
    // A session this one replaces (e.g. one opened ahead of a resumed task's boot wait) must not stay open.
    this.closeSession()
    const {device} = this.ctx
    const {playbook} = this.ctx
    const connection = await (this.ctx.dial ?? connectDevice)({
      device: device.name,
      host: device.host,
      port: device.port,
      credentials: this.ctx.credentials,
      hostKey: this.ctx.hostKey,
      timeoutMs,
      maxOutputBytes: this.ctx.inventory.ssh.max_output_bytes,
      // Interactive sessions (interactive.ts): the playbook's default mode, prompt and pager.
      ...(playbook.session === undefined ? {} : {session: playbook.session}),
      interactive: {...(playbook.prompt === undefined ? {} : {prompt: playbook.prompt}), ...(playbook.pager === undefined ? {} : {pager: playbook.pager})},
      ...(this.transcriptFile() ? {transcript: this.transcriptFile()!} : {}),
    })
    this.session = reusingFactsAnswers(connection, this.facts.command, () => this.ctx.clock.now())
    return this.session
  }

  /** How a step's command runs: its own `session` mode and `answers` (placeholders expanded), else the playbook's. */
  execOptions(step: PlaybookStep): ExecOptions {
    return {
      ...(step.session === undefined ? {} : {session: step.session}),
      ...(step.answers === undefined ? {} : {answers: step.answers.map((a) => ({prompt: expandTemplate(a.prompt, this.vars, 'regex'), send: a.send}))}),
    }
  }

  /** The device's transcript with `--transcript` (redacted with the run's secrets). */
  private transcriptFile(): DeviceTranscript | undefined {
    const dir = this.ctx.transcriptDir
    if (dir === undefined) return undefined
    const secrets = [this.ctx.credentials.password, this.ctx.credentials.passphrase, ...this.ctx.hiddenEnv.map((name) => process.env[name])]
    this.transcript ??= new DeviceTranscript(dir, this.ctx.runId, this.name, secrets, (message) => this.log('warn', message), () => this.ctx.clock.now())
    return this.transcript
  }

  /** The session if one is open (gates of kind device_command use it). */
  get openSession(): DeviceConnection | undefined {
    return this.session && !this.session.isClosed ? this.session : undefined
  }

  /**
   * Opens the session ahead of the task, silently (issue #12: the successor prepares while its predecessor works);
   * the task's {@link connect} then finds it open (or, if it failed or the device closed it meanwhile, dials as
   * usual). Nothing is sent on it: the facts baseline is still read when the task starts. Never throws.
   */
  preconnect(): void {
    if (this.openSession || this.preconnecting || this.signal.aborted) return
    this.preconnecting = this.dial(this.ctx.inventory.timeouts.connect).then(
      () => {
        if (this.signal.aborted) this.closeSession()
      },
      () => undefined,
    ).finally(() => (this.preconnecting = undefined))
  }

  /** Closes the SSH session if one is open. */
  closeSession(): void {
    this.session?.close()
    this.session = undefined
  }

  /** Reads the facts (`show version`). @throws DeviceTaskError */
  async readFacts(phase: StepPhase, recordStep = true): Promise<DeviceFacts> {
    const session = await this.connect(phase)
    const command = this.facts.command
    const started = this.now
    const order = recordStep ? this.startStep('facts', phase, command) : 0
    try {
      const result = await session.exec(command, this.ctx.inventory.timeouts.command)
      if (result.dropped) throw new Error(`connection dropped during "${command}"`)
      const facts = await this.withSnmpUptime(parseFacts(result.output, this.facts, this.name))
      if (recordStep) this.finishStep(order, {action: 'facts', phase, command, status: 'completed', output: summarizeFacts(facts), error: null}, started)
      return facts
    } catch (error) {
      const message = errorMessage(error)
      if (recordStep) this.finishStep(order, {action: 'facts', phase, command, status: 'failed', output: null, error: message}, started)
      throw new DeviceTaskError(this.name, message, error)
    }
  }

  /**
   * `facts` with the device's sysUpTime.0 as its uptime when the playbook's facts gave neither an uptime nor a
   * restart time and `snmp.uptime` is configured (docs/devices.md "Proof of return"); else `facts` unchanged.
   */
  async withSnmpUptime(facts: DeviceFacts): Promise<DeviceFacts> {
    if (facts.restartedAt !== undefined || facts.uptimeSeconds !== undefined || !this.ctx.sysUpTime) return facts
    const seconds = await this.ctx.sysUpTime()
    return seconds === undefined ? facts : {...facts, uptimeSeconds: seconds, uptimeSource: 'snmp'}
  }

  /** Runs one step that does not reload the device and checks its output. @returns its output @throws DeviceTaskError */
  async runStep(step: PlaybookStep, phase: StepPhase): Promise<string> {
    const session = await this.connect(phase)
    const command = this.command(step.command)
    this.phase(phase === 'readiness' ? DevicePhase.readiness : phase === 'rollback' ? DevicePhase.rolling_back : DevicePhase.upgrading, step.name)
    if (phase === 'upgrade') this.started.add(step.name)
    const started = this.now
    const order = this.startStep(step.name, phase, command)
    let output = ''
    try {
      const result = await session.exec(command, step.timeout ?? this.ctx.inventory.timeouts.command, this.execOptions(step))
      output = result.output
      if (result.dropped) throw new Error(`connection dropped during "${command}"`)
      const problem = checkOutput(step, result.output, result.exitCode, this.patterns)
      if (problem) throw new Error(problem)
      this.finishStep(order, {action: step.name, phase, command, status: 'completed', output, error: null}, started)
      return output
    } catch (error) {
      this.finishStep(order, {action: step.name, phase, command, status: 'failed', output: output || partialOutput(error), error: errorMessage(error)}, started)
      throw new DeviceTaskError(this.name, `step "${step.name}" failed: ${errorMessage(error)}`, error)
    }
  }

  /** Evaluates one gate (connecting first for a device_command gate) and reports it. @throws GateVetoError on a veto */
  async gate(type: GateType, gate: Gate): Promise<void> {
    this.checkHalted()
    if (gate.kind === 'device_command') await this.connect(type === 'before' ? 'readiness' : 'upgrade')
    const evaluation = await this.evaluate(type, gate)
    if (evaluation.decision === 'veto') throw new GateVetoError(evaluation)
  }

  /**
   * Evaluates one gate with whatever session is open (gates never throw: a problem is a veto).
   * @param extraEnv extra environment for a command gate (`CHAINUP_ERROR`); the run's secrets are redacted from it
   *   (the engine also escapes its control characters)
   */
  async evaluate(type: GateType, gate: Gate, extraEnv: Record<string, string> = {}): Promise<GateEvaluation> {
    const session = this.openSession
    const secrets = [this.ctx.credentials.password, this.ctx.credentials.passphrase, ...this.ctx.hiddenEnv.map((name) => process.env[name])]
    const env = Object.fromEntries(Object.entries(extraEnv).map(([name, value]) => [name, withoutSecrets(value, secrets)]))
    const evaluation = await evaluateGate(gate, {
      runId: this.ctx.runId,
      stack: this.ctx.inventory.stack,
      type,
      device: this.name,
      playbookFile: this.ctx.playbook.file,
      defaultTimeoutMs: this.ctx.inventory.timeouts.gate,
      ...(session ? {session} : {}),
      expand: (text, mode) => expandTemplate(text, this.vars, mode),
      hiddenEnv: this.ctx.hiddenEnv,
      extraEnv: env,
      signal: this.signal,
      clock: this.ctx.clock,
    })
    this.ctx.report.gateEvaluated(evaluation)
    return evaluation
  }

  // --- reporting ---------------------------------------------------------------

  startStep(action: string, phase: StepPhase, command: string | null): number {
    this.checkHalted()
    if (this.quiet) return 0
    const order = this.ctx.report.nextOrder()
    this.ctx.report.stepStarted({order, action, phase, command})
    return order
  }

  finishStep(order: number, step: StepRecord, started: number): void {
    if (this.quiet) return
    const output = step.output && step.output.length > OUTPUT_CAP ? step.output.slice(0, OUTPUT_CAP) + '\n[output truncated]' : step.output
    this.ctx.report.stepFinished({...step, output, order, started_at: new Date(started).toISOString(), duration_ms: this.now - started})
  }

  /** A step that started and finished at once (a skip, a failed connect). */
  record(step: StepRecord, started: number): void {
    if (this.quiet) return
    const order = this.ctx.report.nextOrder()
    this.ctx.report.stepStarted({order, action: step.action, phase: step.phase, command: step.command})
    this.finishStep(order, step, started)
  }

  phase(phase: DevicePhase, detail: string): void {
    this.ctx.report.phase(phase, detail)
  }

  log(level: 'info' | 'warn' | 'error', message: string): void {
    this.ctx.report.log(level, message)
  }

  /** @throws HaltedError once the chain halted */
  checkHalted(): void {
    if (this.signal.aborted) throw new HaltedError(String(this.signal.reason ?? 'chain halted'))
  }
}

/** One line about the facts read, for a step's output. */
export function summarizeFacts(f: DeviceFacts): string {
  return `version ${f.version}${f.uptimeSeconds === undefined ? '' : `, uptime ${formatMs(f.uptimeSeconds * 1000)}`}${f.restartedAt ? `, restarted at ${f.restartedAt}` : ''}`
}

function partialOutput(error: unknown): string | null {
  if (error instanceof CommandTimeoutError && error.partialOutput) return error.partialOutput
  // An interactive command that did not get its prompt back (interactive.ts PromptTimeoutError) keeps what it printed.
  return error instanceof PromptTimeoutError && error.partialOutput ? error.partialOutput : null
}
