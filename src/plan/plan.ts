/**
 * `chainup plan` in one call (docs/plan.md): the offline plan, and with `check` the devices' answers to their
 * read-only readiness commands, and the exit code that follows from them.
 */
import type {Inventory, Playbook} from '../config/types.js'
import {ExitCode} from '../errors.js'
import type {Journal} from '../journal/journal.js'
import {applyChecks, buildPlan} from './build.js'
import {checkDevices, checkPassed, type CheckOptions} from './check.js'
import type {Plan} from './types.js'

export interface MakePlanOptions {
  /** The journal whose history feeds the estimates (only its `file` is read); undefined: timeouts only. */
  journal?: Pick<Journal, 'file'>
  /** Contact the devices (`--check`): how to reach them. Undefined: offline, nothing is opened. */
  check?: CheckOptions
  /** "Now", for the window. @default new Date() */
  now?: Date
}

/** The plan; with `check`, after asking every device in parallel (read-only; never throws for a device's problem). */
export async function makePlan(inventory: Inventory, playbook: Playbook, opts: MakePlanOptions = {}): Promise<Plan> {
  const now = opts.now ?? new Date()
  const plan = buildPlan(inventory, playbook, {...(opts.journal ? {journal: opts.journal} : {}), now})
  if (!opts.check) return plan
  const checks = await checkDevices(inventory, playbook, opts.check)
  return applyChecks(plan, checks, inventory, playbook, now)
}

/**
 * The plan's exit code: 0 offline, or when `--check` found every device reachable, its host key ok, its version read
 * and every readiness command passing (rollback readiness included with `on_failure: rollback`); 1 otherwise.
 */
export function planExitCode(plan: Plan): ExitCode {
  if (!plan.checked) return ExitCode.completed
  return plan.devices.every((d) => d.check !== undefined && checkPassed(d.check)) ? ExitCode.completed : ExitCode.failed
}
