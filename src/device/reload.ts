/**
 * Reload and return (docs/decisions.md #7, #8): chainup *reloads* a device (sends the step marked `reload: true`),
 * then waits for it to *boot*: SSH login works again **and** its facts prove a boot after the reload was sent.
 * The reload fence (docs/runs.md) is committed before the command leaves and cleared once the device is back, so a
 * resumed run waits for a device instead of reloading it twice.
 */
import type {PlaybookStep} from '../config/types.js'
import type {StepPhase} from '../model/result.js'
import {DevicePhase, type FenceOutcome} from '../model/status.js'
import {formatMs} from '../util/duration.js'
import {failpoint} from '../util/failpoint.js'
import {errorMessage} from '../util/text.js'
import {checkOutput, checkPatterns} from './checks.js'
import {DeviceTaskError, HaltedError} from './errors.js'
import {parseFacts, rebootedSince, type DeviceFacts} from './facts.js'
import {fingerprintOf, repinKnownHosts} from './known-hosts.js'
import {tcpProbe} from './probe.js'
import {SNMP_UPTIME_PRECISION_MS} from './sysuptime.js'
import {ConnectError} from './ssh-session.js'
import {summarizeFacts, type DeviceSteps} from './steps.js'

/** The journal's reload fence for one device. */
export interface ReloadFence {
  /** Commits the intent to reload (with the boot facts before it); called before the reload command is sent. */
  record(before: DeviceFacts): void
  /** Clears the fence once waiting ended. */
  clear(outcome: FenceOutcome): void
}

/** How often the boot wait probes the device's SSH port with a TCP connect, ms (issue #12: boot seen ≤ 250 ms). */
export const PROBE_MS = 150

/** How long one TCP probe may take before the device counts as away for it, ms. */
const PROBE_TIMEOUT_MS = 1000

/** The step name under which the wait for a boot is reported (stored as in v0.1). */
export const BOOT_WAIT_STEP = 'wait for reload'

export class Reload {
  /** A reload was sent and the device has not been seen back yet (the fence is open). */
  fenceOpen = false

  constructor(
    private readonly steps: DeviceSteps,
    private readonly fence: ReloadFence | undefined,
  ) {}

  /**
   * Sends a reload step, expects the connection to drop, then waits for the boot ({@link waitForBoot}).
   * @param before the facts before the reload (their boot time is what must change)
   * @returns the facts after the boot
   * @throws DeviceTaskError when the command reports an error or the device does not come back within timeouts.boot;
   *   HaltedError when the chain halts meanwhile
   */
  async send(step: PlaybookStep, before: DeviceFacts, phase: Extract<StepPhase, 'upgrade' | 'rollback'> = 'upgrade'): Promise<DeviceFacts> {
    const {steps} = this
    if (phase === 'upgrade') steps.started.add(step.name)
    const session = await steps.connect('upgrade')
    const command = steps.command(step.command)
    steps.phase(DevicePhase.upgrading, step.name)
    const started = steps.now
    const order = steps.startStep(step.name, phase, command)
    let sawDown = false
    // The fence: the intent is durable before the command that reloads the device leaves this host.
    failpoint(`before-reload:${steps.name}`)
    this.fence?.record(before)
    this.fenceOpen = true
    try {
      const result = await session.exec(command, step.timeout ?? steps.ctx.inventory.timeouts.command, steps.execOptions(step))
      if (steps.signal.aborted) {
        // The session was closed by our own halt, not by a reload: the step was cut short.
        steps.finishStep(order, {action: step.name, phase, command, status: 'cancelled', output: result.output, error: 'chain halted while the command ran'}, started)
        throw new HaltedError(String(steps.signal.reason ?? 'chain halted'))
      }
      sawDown = result.dropped
      failpoint(`rebooting:${steps.name}`)
      // No exit status on a reload command: the device is probably going down; waiting for it proves it either way.
      const problem =
        !result.dropped && result.exitCode !== undefined ? checkOutput(step, result.output, result.exitCode, steps.patterns) : checkPatterns(step, result.output, false, steps.patterns)
      if (problem) throw new Error(problem)
      steps.finishStep(order, {action: step.name, phase, command, status: 'completed', output: result.output, error: null}, started)
    } catch (error) {
      if (error instanceof HaltedError) throw error
      const message = errorMessage(error)
      steps.finishStep(order, {action: step.name, phase, command, status: 'failed', output: partial(error), error: message}, started)
      throw new DeviceTaskError(steps.name, `step "${step.name}" failed: ${message}`, error)
    }
    steps.closeSession()
    return this.waitForBoot(before, started, sawDown)
  }

  /**
   * Waits until the device is back (issue #10 "Proof of return", docs/devices.md): (a) it was seen going away or its
   * boot evidence changed, (b) SSH works with the pinned host key, (c) its boot is newer than the reload
   * ({@link rebootedSince}), and (d) it kept answering with that boot for the settle time (inventory
   * `timeouts.settle`, else the playbook's `settle`). Reconnects back off (500 ms doubling up to timeouts.boot/60,
   * between 250 ms and 10 s); a device seen up on its old boot is simply polled again, never taken as back. A host
   * key or login refused stops at once (the device is not who we expect).
   * @param reloadSentAt epoch ms the reload was sent
   * @param sawDownInitially the reload command's connection already dropped
   * @param resumed a resumed run looks at the device for a full timeouts.boot even if the reload was sent long ago
   * @returns the facts after the boot
   * @throws DeviceTaskError ("reload did not happen", "did not come back within …", "did not stay up …");
   *   HaltedError on a halt
   */
  async waitForBoot(before: DeviceFacts, reloadSentAt: number, sawDownInitially: boolean, resumed = false): Promise<DeviceFacts> {
    const {steps} = this
    const {timeouts} = steps.ctx.inventory
    const settle = timeouts.settle ?? steps.ctx.playbook.settle
    const cliPrecision = steps.facts.uptime_precision
    const clock = steps.ctx.clock
    const backBy = resumed ? Math.max(reloadSentAt + timeouts.boot, clock.now() + timeouts.boot) : reloadSentAt + timeouts.boot
    const poll = Math.min(10_000, Math.max(250, Math.floor(timeouts.boot / 60)))
    const backoff = (attempt: number) => Math.min(poll, 500 * 2 ** Math.min(attempt, 10))
    const probe = steps.ctx.probe ?? tcpProbe
    let sawDown = sawDownInitially
    let lastProblem = ''
    let attempt = 0
    /** When the next SSH login may be tried (logins back off; TCP probes do not log in and run every PROBE_MS). */
    let nextLogin = clock.now()
    /** When it was first seen back (with the proof), and with which facts; reset if it stops answering. */
    let back: {since: number; facts: DeviceFacts} | undefined
    const order = steps.startStep(BOOT_WAIT_STEP, 'reboot', null)
    steps.phase(DevicePhase.booting, 'waiting for the device to reload and come back')
    const fail = (message: string, cause?: unknown): never => {
      if (!steps.signal.aborted) this.clear('failed')
      steps.finishStep(order, {action: BOOT_WAIT_STEP, phase: 'reboot', command: null, status: steps.signal.aborted ? 'cancelled' : 'failed', output: null, error: message}, reloadSentAt)
      throw steps.signal.aborted ? new HaltedError(String(steps.signal.reason)) : new DeviceTaskError(steps.name, message, cause)
    }
    const lostAfterBack = () => {
      if (back) lastProblem = `stopped answering ${formatMs(clock.now() - back.since)} after it came back on ${back.facts.version}`
      back = undefined
    }
    /** Until when this attempt may wait: the boot deadline, or while settling the settle's end (plus one poll). */
    const until = () => (back ? back.since + settle + poll : backBy)
    while (clock.now() < until()) {
      if (steps.signal.aborted) fail(`chain halted while waiting for ${steps.name} to come back`)
      // A TCP connect first (cheap, no login): a closed port is the device away; the moment it opens again an SSH
      // login follows at once, so the boot is seen ~PROBE_MS after the device listens again, not a backoff later.
      if (!(await probe(steps.ctx.device.host, steps.ctx.device.port, Math.min(PROBE_TIMEOUT_MS, timeouts.connect)))) {
        if (!sawDown || back) attempt = 0
        sawDown = true
        nextLogin = clock.now()
        if (back) lostAfterBack()
        else lastProblem = `${steps.ctx.device.host}:${steps.ctx.device.port} does not accept connections`
        await clock.sleep(Math.min(PROBE_MS, Math.max(0, until() - clock.now())), steps.signal)
        continue
      }
      if (!back && clock.now() < nextLogin) {
        await clock.sleep(Math.min(PROBE_MS, nextLogin - clock.now()), steps.signal)
        continue
      }
      try {
        const session = await steps.dial(Math.max(500, Math.min(timeouts.connect, until() - clock.now())))
        const result = await session.exec(steps.facts.command, Math.max(500, Math.min(timeouts.command, until() - clock.now())))
        if (result.dropped) {
          sawDown = true
          lostAfterBack()
          steps.closeSession()
        } else {
          const facts = await steps.withSnmpUptime(parseFacts(result.output, steps.facts))
          // An uptime read over SNMP has its own precision (TimeTicks), not the CLI's.
          const precision = facts.uptimeSource === 'snmp' ? SNMP_UPTIME_PRECISION_MS : cliPrecision
          if (back && rebootedSince(back.facts, facts, clock.now() - back.since, false, precision)) {
            // It booted again while settling (some installs reload twice): the settle time starts over.
            back = {since: clock.now(), facts}
          } else if (!back && rebootedSince(before, facts, clock.now() - reloadSentAt, sawDown, precision)) {
            back = {since: clock.now(), facts}
            if (settle > 0) steps.phase(DevicePhase.booting, `back on ${facts.version}, settling for ${formatMs(settle)}`)
          } else if (!back) {
            lastProblem = `still up since ${before.restartedAt ?? 'before the reload'} (no reload seen)`
          }
          if (back && clock.now() - back.since >= settle) {
            this.clear('rebooted')
            const settled = settle > 0 ? `, answering for ${formatMs(clock.now() - back.since)}` : ''
            steps.finishStep(order, {action: BOOT_WAIT_STEP, phase: 'reboot', command: null, status: 'completed', output: `back after ${formatMs(back.since - reloadSentAt)}${settled}, ${summarizeFacts(back.facts)}`, error: null}, reloadSentAt)
            steps.phase(DevicePhase.verifying, `back on ${back.facts.version}`)
            // The session stays open for the steps after the reload.
            return back.facts
          }
          steps.closeSession()
        }
      } catch (error) {
        steps.closeSession()
        // A changed host key after this device's own reload may be pinned (host_key_policy: repin-after-reload).
        if (error instanceof ConnectError && error.kind === 'host_key' && this.repin(error, sawDown)) continue
        // Otherwise a host key or login refused after the reload is a stop, not a wait: the device is not who we expect.
        if (error instanceof ConnectError && (error.kind === 'host_key' || error.kind === 'auth')) fail(error.message, error)
        if (error instanceof ConnectError) sawDown = true
        if (back) lostAfterBack()
        else lastProblem = errorMessage(error)
      }
      if (back) await clock.sleep(Math.min(poll, Math.max(0, back.since + settle - clock.now())), steps.signal)
      else nextLogin = clock.now() + Math.min(backoff(attempt++), Math.max(0, backBy - clock.now()))
    }
    if (!sawDown) fail(`reload did not happen: ${steps.name} never went down and still reports ${before.restartedAt ? `"System restarted at ${before.restartedAt}"` : 'its old uptime'} after ${formatMs(timeouts.boot)}`)
    return fail(`did not come back within ${formatMs(timeouts.boot)} after the reload (${lastProblem})`)
  }

  /**
   * `host_key_policy: repin-after-reload`: pins the key the device offered after its own reload, once it was seen
   * going away (a key that changes before that is refused like under `strict`: it is not the reload that changed it).
   * The new fingerprint replaces this device's host key source for the rest of the run, the known_hosts file (if the
   * key came from one) is rewritten atomically, and the change is reported with the old and new fingerprints.
   * @returns true when the key was pinned (dial again), false when the policy does not allow it
   */
  private repin(error: ConnectError, sawDown: boolean): boolean {
    const {steps} = this
    const {ctx} = steps
    if (ctx.inventory.ssh.host_key_policy !== 'repin-after-reload' || error.offeredKey === undefined) return false
    if (!sawDown) {
      steps.log('warn', `${error.message}; not re-pinned: the device was not seen going away for its reload yet (host_key_policy: repin-after-reload accepts a new key only after the device's own reload)`)
      return false
    }
    const pinned = fingerprintOf(error.offeredKey)
    const source = ctx.hostKey
    let old: string[]
    let knownHosts: string | null = null
    if (source.kind === 'known_hosts') {
      try {
        old = repinKnownHosts(source.file, ctx.device.host, ctx.device.port, error.offeredKey)
      } catch (writeError) {
        steps.log('error', `${error.message}; not re-pinned: cannot update ${source.file}: ${errorMessage(writeError)}`)
        return false
      }
      knownHosts = source.file
    } else {
      old = [source.fingerprint]
    }
    ctx.hostKey = {kind: 'fingerprint', fingerprint: pinned}
    steps.ctx.report.hostKeyRepinned({old, new: pinned, knownHosts})
    steps.log('warn', `host key changed after its reload: ${old.join(', ') || '(none)'} -> ${pinned}; pinned (host_key_policy: repin-after-reload)${knownHosts ? `, ${knownHosts} updated` : '; update devices[].host_key in the inventory'}`)
    return true
  }

  private clear(outcome: FenceOutcome): void {
    this.fence?.clear(outcome)
    this.fenceOpen = false
  }
}

function partial(error: unknown): string | null {
  const p = (error as {partialOutput?: unknown} | undefined)?.partialOutput
  return typeof p === 'string' && p ? p : null
}
