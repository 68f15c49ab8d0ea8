/**
 * What `chainup plan` (and `chainup upgrade --dry-run`) does apart from flag parsing: load and check the input (the
 * same loader as `upgrade`, exit 2 on bad input), read past durations from the journal if there is one, with `check`
 * resolve the secrets and ask every device (read-only), and render the plan (docs/plan.md).
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import type {Writable} from 'node:stream'

import {loadStack} from '../config/load.js'
import {ExitCode} from '../errors.js'
import {JOURNAL_FILE} from '../journal/open.js'
import type {Lab} from '../lab/lab.js'
import {makePlan, planExitCode, renderPlan, type MakePlanOptions, type Plan} from '../plan/index.js'
import {resolveSecrets} from '../run/secrets.js'
import {terminalJson} from '../util/text.js'

export interface PlanCommandOptions {
  inventoryPath: string
  /** Contact every device (read-only): `--check`, `upgrade --dry-run`. */
  check: boolean
  /** Start simulated switches for the inventory's devices and check those (implies nothing without `check`). */
  lab: boolean
  json: boolean
  /** Where the journal is (its history feeds the estimates); a directory without one means no history. */
  stateDir: string
  stdout: Writable & {isTTY?: boolean}
  stderr: Writable
  /** Environment for secrets and NO_COLOR. @default process.env */
  env?: NodeJS.ProcessEnv
  /** "Now", for the window. @default new Date() */
  now?: Date
  /** Called once the lab runs, before any device is checked (tests read the simulators' command logs). */
  onLab?: (lab: Lab) => void
}

/**
 * Builds the plan and writes it to `stdout` (JSON with `json`, else the tables; warnings on `stderr`).
 * @returns the plan and its exit code (0, or 1 when `--check` found a device not reachable or not ready)
 * @throws InputError (exit 2) for bad files, or with `check` a missing secret, before any device is contacted
 */
export async function planCommand(opts: PlanCommandOptions): Promise<{plan: Plan; exitCode: ExitCode}> {
  const plan = await planFor(opts)
  if (opts.json) opts.stdout.write(terminalJson(plan) + '\n')
  else opts.stdout.write(await renderPlan(plan, {color: colorFor(opts)}))
  return {plan, exitCode: planExitCode(plan)}
}

/**
 * `chainup upgrade --dry-run` (= `plan --check`) for one inventory or several (a fleet): each inventory's plan in
 * turn; with `json` one plan object, or an array of them for several inventories.
 * @returns the plans and the exit code (1 when any plan's is)
 * @throws InputError (exit 2) as {@link planCommand}, before any device is contacted
 */
export async function dryRunCommand(opts: Omit<PlanCommandOptions, 'inventoryPath' | 'check'> & {inventoryPaths: string[]}): Promise<{plans: Plan[]; exitCode: ExitCode}> {
  const plans: Plan[] = []
  for (const inventoryPath of opts.inventoryPaths) {
    const plan = await planFor({...opts, inventoryPath, check: true})
    plans.push(plan)
    if (!opts.json) opts.stdout.write((plans.length > 1 ? '\n' : '') + (await renderPlan(plan, {color: colorFor(opts)})))
  }
  if (opts.json) opts.stdout.write(terminalJson(plans.length === 1 ? plans[0] : plans) + '\n')
  return {plans, exitCode: plans.some((p) => planExitCode(p) !== ExitCode.completed) ? ExitCode.failed : ExitCode.completed}
}

function colorFor(opts: Pick<PlanCommandOptions, 'stdout' | 'env'>): boolean {
  const env = opts.env ?? process.env
  return opts.stdout.isTTY === true && !env.NO_COLOR && !env.CI
}

/** The plan, without writing it. */
async function planFor(opts: PlanCommandOptions): Promise<Plan> {
  const env = opts.env ?? process.env
  const {inventory, playbook} = await loadStack(opts.inventoryPath)
  const file = join(opts.stateDir, JOURNAL_FILE)
  const journal = existsSync(file) ? {file} : undefined
  let lab: Lab | undefined
  try {
    let check: MakePlanOptions['check']
    if (opts.check) {
      let secretEnv = env
      if (opts.lab) {
        const {startLab} = await import('../lab/lab.js')
        lab = await startLab(inventory, {trapReceivers: false, env})
        secretEnv = {...env, ...lab.env}
        opts.onLab?.(lab)
      }
      const {utils} = (await import('ssh2')).default
      const secrets = resolveSecrets(inventory, secretEnv, (key, passphrase) => utils.parseKey(key, passphrase))
      for (const w of secrets.warnings) opts.stderr.write(w + '\n')
      check = {credentials: secrets.credentials, ...(lab ? {hostKeys: lab.hostKeys} : {})}
    }
    return await makePlan(inventory, playbook, {...(journal ? {journal} : {}), ...(check ? {check} : {}), ...(opts.now ? {now: opts.now} : {})})
  } finally {
    await lab?.stop()
  }
}
