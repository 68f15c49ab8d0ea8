/**
 * The end of a run, as a network engineer expects it after Ansible's PLAY RECAP: one line per device with how it
 * ended, the run's reason, where the result was saved, and what to run next (`chainup show ID --tree`; `chainup resume
 * ID` after a cancel or a park). Written to stderr by the commands, so stdout stays the `--json` result.
 */
import type {ChainExecutionResult, FleetExecutionResult} from '../model/result.js'
import {formatMs} from '../util/duration.js'
import {shellWord} from '../util/shell.js'
import {printable} from '../util/text.js'

/** What the recap needs besides the result. */
export interface RecapContext {
  /** Where the result went: the run's own `result saved to …` line, or the path it should be at. */
  saved: string
  /** Appended to every suggested command: ` --state-dir DIR` when the run used a state directory other than the default, else ''. */
  stateDirArg: string
  /** The inventory file, for `chainup upgrade INVENTORY`. */
  inventory: string
  /** The run's devices were the lab's simulators (`--lab`): the suggested `upgrade` and `resume` carry `--lab`. */
  lab?: boolean
  /** The maintenance window parked the run (it ended `vetoed`; the next upgrade inside a window continues it). */
  parked: boolean
}


/** How a device ended, in a few words (`upgraded 17.06.05 -> 17.09.05`, `not started`). */
function deviceOutcome(d: ChainExecutionResult['devices'][number]): string {
  const before = d.version_before ?? '?'
  const after = d.version_after ?? d.version_before ?? '?'
  switch (d.status) {
    case 'upgraded':
      return `upgraded ${before} -> ${d.version_after ?? '?'}`
    case 'skipped':
      return `skipped, already on ${after}`
    case 'failed':
      return `failed${d.version_before || d.version_after ? `, on ${after}` : ''}`
    case 'cancelled':
      return `cancelled while it worked${d.version_before || d.version_after ? `, on ${after}` : ''}`
    case 'not_started':
      return 'not started'
    case 'remote':
      return 'its node ran in another process'
    case 'rolled_back':
      return `rolled back to ${after}`
    case 'rollback_failed':
      return `rollback failed${d.version_before || d.version_after ? `, on ${after}` : ''}`
    default:
      return d.status
  }
}

/** The hint lines after a run: what happened next and what to run. */
function nextSteps(result: ChainExecutionResult, ctx: RecapContext): string[] {
  const id = result.execution_id
  const sd = ctx.stateDirArg
  const lab = ctx.lab ? ' --lab' : ''
  const show = `chainup show ${id} --tree${sd}`
  const fresh = `chainup upgrade ${shellWord(ctx.inventory)}${lab}${sd}`
  const resume = `chainup resume ${id}${lab}${sd}`
  const rolledBack = result.devices.filter((d) => d.status === 'rolled_back').map((d) => d.name)
  const rollbackFailed = result.devices.filter((d) => d.status === 'rollback_failed').map((d) => d.name)
  switch (result.status) {
    case 'completed':
      return [`next: ${show}   (every step and gate of the run)`]
    case 'cancelled':
      return [`next: ${resume}   (continues the run: finished devices are not touched again, none is reloaded twice)`, `      ${show}   (where it stopped)`]
    case 'vetoed':
      if (ctx.parked) {
        return [
          `next: ${fresh} inside the next maintenance window continues this run (or: ${resume})`,
          `      ${show}   (where it parked)`,
        ]
      }
      return [`next: ${show}   (which gate vetoed, and why)`, `      ${fresh} starts a new run once that is settled (devices already on the target are skipped)`]
    case 'failed': {
      const lines: string[] = []
      if (rollbackFailed.length > 0) lines.push(`rollback failed on ${rollbackFailed.join(', ')}: check ${rollbackFailed.length === 1 ? 'it' : 'them'} by hand before anything else`)
      else if (rolledBack.length > 0) lines.push(`rolled back ${rolledBack.join(', ')} to the version${rolledBack.length === 1 ? '' : 's'} before the run`)
      if (result.reason?.startsWith('timeout: the run exceeded timeouts.run')) {
        lines.push('past timeouts.run no further device was started and nothing was rolled back (docs/runs.md "Cancellation")')
        lines.push(`next: ${show}   (what was done)`, `      ${fresh} in the next window starts a new run: devices already on the target are skipped`)
        return lines
      }
      lines.push(`next: ${show}   (the step or check that failed)`, `      ${fresh} starts a new run once the cause is fixed (devices already on the target are skipped)`)
      return lines
    }
  }
}

/**
 * The recap of one run (`chainup upgrade`, `chainup resume`), one string per line, made printable.
 * @example
 * RECAP run 2c49… (stack lab-stack): completed in 19.0s
 *   sw1  upgraded 17.06.05 -> 17.09.05
 * result saved to /var/lib/chainup/runs/2c49….json
 * next: chainup show 2c49… --tree   (every step and gate of the run)
 */
export function runRecap(result: ChainExecutionResult, ctx: RecapContext): string[] {
  const width = Math.max(...result.devices.map((d) => d.name.length), 3)
  const lines = [
    `RECAP run ${result.execution_id} (stack ${result.chain_id}): ${result.status} in ${formatMs(result.duration_ms)}`,
    ...result.devices.map((d) => `  ${d.name.padEnd(width)}  ${deviceOutcome(d)}`),
    ...(result.reason ? [`reason: ${result.reason}`] : []),
    ctx.saved,
    ...nextSteps(result, ctx),
  ]
  return lines.map(printable)
}

/** The recap of a fleet (`chainup upgrade A.yml B.yml …`, `chainup resume FLEET_ID`): one line per stack, then the hints. */
export function fleetRecap(result: FleetExecutionResult, ctx: {saved: string; stateDirArg: string}): string[] {
  const id = result.execution_id
  const sd = ctx.stateDirArg
  const rows = [
    ...result.stacks.map((s) => ({stack: s.chain_id, text: `${s.status}, run ${s.execution_id}`})),
    ...result.not_started.map((s) => ({stack: s.chain_id, text: `not started${s.reason ? `: ${s.reason}` : ''}`})),
  ]
  const width = Math.max(...rows.map((r) => r.stack.length), 5)
  const unfinished = result.status === 'cancelled' || result.stacks.some((s) => s.status === 'cancelled')
  const lines = [
    `RECAP fleet ${id}: ${result.status} in ${formatMs(result.duration_ms)}`,
    ...rows.map((r) => `  ${r.stack.padEnd(width)}  ${r.text}`),
    ...(result.reason ? [`reason: ${result.reason}`] : []),
    ctx.saved,
    `next: chainup show ${id} --tree${sd}   (every stack's run, device and step)`,
    ...(unfinished ? [`      chainup resume ${id}${sd}   (continues its unfinished stack runs and starts the stacks that did not start)`] : []),
  ]
  return lines.map(printable)
}
