/**
 * Image staging, part of readiness (issue #10, docs/staging.md): when the inventory sets `target.image_file`, every
 * device that lacks the image gets it before the READY wave, so no device reloads unless every device has the image
 * staged and verified.
 *
 * Per device: read the free space and whether the image is there (`stage.free_space`), skip when it is there with the
 * right digest (`stage.verify`), refuse when it does not fit, copy it (`scp` or `sftp`, on a connection of its own,
 * under `timeouts.transfer`, at most `staging.concurrency` devices at once across the run), retry an interrupted copy
 * from scratch with backoff up to `staging.attempts`, then verify the digest on the device. Every part is a readiness
 * step in the journal. The run's shared part (copy limiter, digests) is `staging-pool.ts`.
 */
import {basename} from 'node:path'

import type {PlaybookStage} from '../config/types.js'
import {escapeRegExp} from '../config/template.js'
import type {StagingProgress} from '../model/events.js'
import {DevicePhase} from '../model/status.js'
import {formatMs} from '../util/duration.js'
import {errorMessage, firstLines} from '../util/text.js'
import {checkOutput} from './checks.js'
import {DeviceTaskError} from './errors.js'
import {ConnectError} from './ssh-session.js'
import {connectTransfer, TransferInterruptedError, type TransferSession, TransferTimeoutError} from './staging-ssh.js'
import {type ImageDigests, StagingPool} from './staging-pool.js'
import type {DeviceState} from './state.js'
import type {DeviceSteps} from './steps.js'

/** Pause before copy attempt `attempt + 1` after attempt `attempt` was interrupted: 1 s, 2 s, 4 s, … at most 30 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(30_000, 1000 * 2 ** (attempt - 1))
}

/** `1.0 GiB`, `512.0 MiB`, `3.2 KiB`, `17 bytes`. */
export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${n} bytes`
}

/** `112.4 MB/s` (decimal megabytes, like scp). */
export function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`
}

/** What `stage.free_space.command` told about the destination. */
export interface FreeSpace {
  /** Free bytes, from the pattern's `free` group. */
  free: number
  /** The image's name appears in the listing. */
  present: boolean
}

/**
 * Reads a listing of the destination (IOS-XE `dir flash:`).
 * @param pattern the free-space pattern, placeholders expanded (regex mode), with a `(?<free>\d+)` group
 * @returns undefined when the pattern does not match
 */
export function parseFreeSpace(output: string, pattern: string, image: string, unit = 1): FreeSpace | undefined {
  const m = new RegExp(pattern, 'm').exec(output)
  const free = m?.groups?.['free']
  if (free === undefined || !/^\d+$/.test(free)) return undefined
  const present = new RegExp(`(?:^|[\\s/:])${escapeRegExp(image)}\\s*$`, 'm').test(output)
  return {free: Number(free) * unit, present}
}

const ACTION = {free: 'stage: free space', present: 'stage: check staged image', copy: 'stage: copy image', verify: 'stage: verify image'} as const

/**
 * Stages the inventory's image on the device, as part of its readiness (after its facts were read). Does nothing when
 * `target.image_file` is not set, or when the device already runs the target and the playbook skips such devices.
 * @throws DeviceTaskError (the device is not ready): no `stage` section, no room, a copy failed `staging.attempts`
 *   times, the device refused it, or its digest on the device is wrong; HaltedError when the chain halted meanwhile
 */
export async function stageImage(state: DeviceState): Promise<void> {
  const {steps} = state
  const {inventory, playbook} = steps.ctx
  const file = inventory.target.image_file
  if (file === undefined) return
  const stage = playbook.stage
  const image = inventory.target.image
  if (!stage) {
    throw new DeviceTaskError(steps.name, `target.image_file is set, but the playbook "${playbook.name}" has no stage section (how to copy the image and verify it): add one (docs/staging.md)`)
  }
  if (playbook.skip_if_on_target && state.factsBefore?.version === inventory.target.version) {
    steps.log('info', `already runs ${inventory.target.version}: the image is not staged`)
    return
  }
  steps.phase(DevicePhase.readiness, `staging ${image}`)
  const pool = steps.ctx.staging ?? new StagingPool(inventory.staging.concurrency)
  let digests: ImageDigests
  try {
    const got = await pool.digests(inventory.target, () => steps.now)
    digests = got.digests
    if (got.first) {
      steps.log('info', `image ${basename(file)} (${formatBytes(digests.size)}, ${digests.size} bytes): md5 ${digests.md5}, sha512 ${digests.sha512}${got.computedMs > 0 ? ` (read in ${formatMs(got.computedMs)})` : ''}`)
    }
  } catch (error) {
    throw new DeviceTaskError(steps.name, `cannot stage the image: ${errorMessage(error)}`, error)
  }
  steps.vars.target = {...steps.vars.target, md5: digests.md5, sha512: digests.sha512}
  const remotePath = `${stage.destination}${image}`

  const space = await readFreeSpace(steps, stage, image, digests.size)
  if (space.present && (await alreadyStaged(steps, stage))) {
    steps.phase(DevicePhase.readiness, `${image} already staged, digest verified`)
    return
  }
  await copyWithRetries(steps, stage, {file, image, remotePath, size: digests.size, pool})
  await verifyCopy(steps, stage, image)
  steps.phase(DevicePhase.readiness, `${image} staged and verified`)
}

/** Runs one command on the command session as a readiness step; `judge` turns its output into the step's outcome. */
async function checkStep(
  steps: DeviceSteps,
  action: string,
  command: string,
  timeoutMs: number,
  judge: (output: string, exitCode: number | undefined) => {ok: true; summary: string} | {ok: false; error: string},
): Promise<{output: string; summary: string}> {
  const session = await steps.connect('readiness')
  const started = steps.now
  const order = steps.startStep(action, 'readiness', command)
  let output = ''
  try {
    const result = await session.exec(command, timeoutMs)
    output = result.output
    if (result.dropped) throw new Error(`connection dropped during "${command}"`)
    const verdict = judge(result.output, result.exitCode)
    if (!verdict.ok) throw new Error(verdict.error)
    steps.finishStep(order, {action, phase: 'readiness', command, status: 'completed', output: `${verdict.summary}\n${output}`, error: null}, started)
    return {output, summary: verdict.summary}
  } catch (error) {
    steps.finishStep(order, {action, phase: 'readiness', command, status: 'failed', output: output || null, error: errorMessage(error)}, started)
    throw new DeviceTaskError(steps.name, `step "${action}" failed: ${errorMessage(error)}`, error)
  }
}

async function readFreeSpace(steps: DeviceSteps, stage: PlaybookStage, image: string, size: number): Promise<FreeSpace> {
  let space: FreeSpace | undefined
  const command = steps.command(stage.free_space.command)
  await checkStep(steps, ACTION.free, command, steps.ctx.inventory.timeouts.command, (output, exitCode) => {
    const problem = checkOutput({name: ACTION.free, command}, output, exitCode, steps.patterns)
    if (problem) return {ok: false, error: problem}
    space = parseFreeSpace(output, steps.patterns.expand(stage.free_space.pattern), image, stage.free_space.unit)
    if (!space) return {ok: false, error: `cannot read the free space: the output of "${command}" does not match /${stage.free_space.pattern}/`}
    // A copy over a present image replaces it: its space is reused.
    if (!space.present && space.free < size) {
      return {ok: false, error: `not enough space on ${stage.destination} for ${image}: it needs ${formatBytes(size)} (${size} bytes), ${formatBytes(space.free)} (${space.free} bytes) free; delete old images (e.g. install remove inactive) and run again`}
    }
    return {ok: true, summary: `${formatBytes(space.free)} free, ${image} ${space.present ? 'present' : 'not present'}`}
  })
  return space!
}

/** The image is on the device: does its digest match? (A mismatch is not a failure here: the image is copied again.) */
async function alreadyStaged(steps: DeviceSteps, stage: PlaybookStage): Promise<boolean> {
  const command = steps.command(stage.verify.command)
  let matches = false
  await checkStep(steps, ACTION.present, command, stage.verify.timeout ?? steps.ctx.inventory.timeouts.command, (output, exitCode) => {
    matches = checkOutput({name: ACTION.present, command, expect: stage.verify.expect}, output, exitCode, steps.patterns) === undefined
    return {ok: true, summary: matches ? 'already staged: its digest matches, no copy needed' : 'present, but its digest does not match: copying it again'}
  })
  return matches
}

async function verifyCopy(steps: DeviceSteps, stage: PlaybookStage, image: string): Promise<void> {
  const command = steps.command(stage.verify.command)
  await checkStep(steps, ACTION.verify, command, stage.verify.timeout ?? steps.ctx.inventory.timeouts.command, (output, exitCode) => {
    const problem = checkOutput({name: ACTION.verify, command, expect: stage.verify.expect}, output, exitCode, steps.patterns)
    if (problem) return {ok: false, error: `the copy of ${image} on the device does not have the image's digest (${problem}; it printed: ${firstLines(output)}); the device is not ready`}
    return {ok: true, summary: `${image} verified on the device`}
  })
}

interface CopyJob {
  file: string
  image: string
  remotePath: string
  size: number
  pool: StagingPool
}

/** Errors after which a fresh copy may succeed. */
function retryable(error: unknown): boolean {
  if (error instanceof TransferInterruptedError || error instanceof TransferTimeoutError) return true
  return error instanceof ConnectError && (error.kind === 'unreachable' || error.kind === 'timeout')
}

async function copyWithRetries(steps: DeviceSteps, stage: PlaybookStage, job: CopyJob): Promise<void> {
  const attempts = steps.ctx.inventory.staging.attempts
  for (let attempt = 1; ; attempt++) {
    steps.checkHalted()
    steps.phase(DevicePhase.readiness, `staging ${job.image}: waiting for a copy slot`)
    let release: () => void
    try {
      release = await job.pool.limiter.acquire(steps.signal)
    } catch {
      steps.checkHalted()
      throw new DeviceTaskError(steps.name, 'halted while waiting to copy the image')
    }
    try {
      await copyOnce(steps, stage, job, attempt, attempts)
      return
    } catch (error) {
      steps.checkHalted()
      if (!retryable(error) || attempt >= attempts) {
        const tried = attempt > 1 ? ` (attempt ${attempt} of ${attempts})` : ''
        throw new DeviceTaskError(steps.name, `copying ${job.image} failed${tried}: ${errorMessage(error)}`, error)
      }
      steps.log('warn', `copy of ${job.image} interrupted (attempt ${attempt} of ${attempts}): ${errorMessage(error)}; retrying from scratch in ${formatMs(retryDelayMs(attempt))}`)
    } finally {
      release()
    }
    await steps.ctx.clock.sleep(retryDelayMs(attempt), steps.signal)
  }
}

async function copyOnce(steps: DeviceSteps, stage: PlaybookStage, job: CopyJob, attempt: number, attempts: number): Promise<void> {
  const {ctx} = steps
  const {device, inventory, clock} = ctx
  const command = stage.method === 'scp' ? `scp -t ${job.remotePath}` : `sftp put ${job.remotePath}`
  steps.phase(DevicePhase.readiness, `staging ${job.image}: copying (${stage.method}${attempt > 1 ? `, attempt ${attempt} of ${attempts}` : ''})`)
  const started = steps.now
  const order = steps.startStep(ACTION.copy, 'readiness', command)
  let session: TransferSession | undefined
  let timedOut = false
  let lastEmit = 0
  let lastDecile = -1
  const progress = (bytes: number, state: StagingProgress['state']) => {
    const now = clock.now()
    const decile = Math.floor((bytes * 10) / Math.max(1, job.size))
    if (state === 'copying' && now - lastEmit < 250 && decile === lastDecile) return
    lastEmit = now
    lastDecile = decile
    const seconds = (now - started) / 1000
    ctx.onStagingProgress?.({device: device.name, image: job.image, bytes, total: job.size, bytesPerSecond: seconds > 0 ? bytes / seconds : 0, attempt, state})
  }
  let sent = 0
  const timer = clock.setTimeout(() => {
    timedOut = true
    session?.close()
  }, inventory.timeouts.transfer)
  const onHalt = () => session?.close()
  steps.signal.addEventListener('abort', onHalt, {once: true})
  try {
    session = await (ctx.transferDial ?? connectTransfer)({
      device: device.name,
      host: device.host,
      port: device.port,
      credentials: ctx.credentials,
      hostKey: ctx.hostKey,
      timeoutMs: inventory.timeouts.connect,
    })
    if (timedOut || steps.signal.aborted) session.close()
    progress(0, 'copying')
    const request = {file: job.file, size: job.size, remotePath: job.remotePath, name: job.image, onBytes: (n: number) => progress((sent = n), 'copying')}
    await (stage.method === 'scp' ? session.scp(request) : session.sftp(request))
    progress(job.size, 'copied')
    const ms = steps.now - started
    steps.finishStep(order, {action: ACTION.copy, phase: 'readiness', command, status: 'completed', output: `copied ${job.size} bytes (${formatBytes(job.size)}) in ${formatMs(ms)} (${formatRate(ms > 0 ? (job.size * 1000) / ms : 0)}), attempt ${attempt} of ${attempts}`, error: null}, started)
  } catch (caught) {
    const error = timedOut ? new TransferTimeoutError(inventory.timeouts.transfer) : caught
    progress(sent, 'failed')
    steps.finishStep(order, {action: ACTION.copy, phase: 'readiness', command, status: 'failed', output: `${sent} of ${job.size} bytes sent, attempt ${attempt} of ${attempts}`, error: errorMessage(error)}, started)
    throw error
  } finally {
    clock.clearTimeout(timer)
    steps.signal.removeEventListener('abort', onHalt)
    session?.close()
  }
}
