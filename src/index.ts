/**
 * chainup's core library; the oclif commands import only from here. Start-up matters (issue #12: a cron job, a
 * completion, `--version`): what every command needs is imported at once and is small; each command's own work is
 * loaded only when that command runs (`lazy`), so `chainup validate` does not load SSH, SQLite, SNMP or the HTTP server.
 */
export {ChainupCommand} from './cli/base.js'
export {stateDirectory} from './cli/state-dir.js'
export {interruptSignals} from './cli/interrupt.js'
export {ChainupError, ExitCode, InputError, formatError} from './errors.js'
export {terminalJson} from './util/text.js'
export {SCHEMA_KINDS as schemaKinds} from './config/schema-kinds.js'
export type {UpgradeCommandOptions} from './cli/upgrade.js'
export type {PlanCommandOptions} from './cli/plan.js'
export type {Plan, PlanDevice, DeviceCheck} from './plan/index.js'
export type {NodeCommandOptions} from './cli/node.js'
export type {ChainExecutionResult, FleetExecutionResult, GateEvaluation, StepExecution} from './model/result.js'
export type {FleetCommandOptions} from './cli/fleet.js'
export type {ResumeCommandOptions} from './cli/resume.js'
export type {UnlockCommandOptions, UnlockOutcome} from './cli/unlock.js'
export type {Schedule, ScheduleCommandOptions} from './cli/schedule.js'
export type {ServeCommandOptions, ServeHandle} from './cli/serve.js'

/** `name` of the module `load` imports, as an async function that imports the module on its first call. */
function lazy<M, K extends keyof M>(load: () => Promise<M>, name: K): M[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never {
  return (async (...args: unknown[]) => ((await load())[name] as (...a: unknown[]) => unknown)(...args)) as never
}

export const upgradeCommand = lazy(() => import('./cli/upgrade.js'), 'upgradeCommand')
export const exitCodeFor = lazy(() => import('./cli/upgrade.js'), 'exitCodeFor')
export const validateCommand = lazy(() => import('./cli/validate.js'), 'validateCommand')
export const planCommand = lazy(() => import('./cli/plan.js'), 'planCommand')
export const dryRunCommand = lazy(() => import('./cli/plan.js'), 'dryRunCommand')
export const nodeCommand = lazy(() => import('./cli/node.js'), 'nodeCommand')
export const certsInitCommand = lazy(() => import('./cli/certs.js'), 'certsInitCommand')
export const fleetCommand = lazy(() => import('./cli/fleet.js'), 'fleetCommand')
export const resumeFleetCommand = lazy(() => import('./cli/fleet.js'), 'resumeFleetCommand')
export const resumeCommand = lazy(() => import('./cli/resume.js'), 'resumeCommand')
export const historyCommand = lazy(() => import('./cli/history.js'), 'historyCommand')
export const showCommand = lazy(() => import('./cli/history.js'), 'showCommand')
export const formatHistory = lazy(() => import('./cli/history.js'), 'formatHistory')
export const formatTree = lazy(() => import('./cli/history.js'), 'formatTree')
export const formatVerify = lazy(() => import('./cli/history.js'), 'formatVerify')
export const unlockCommand = lazy(() => import('./cli/unlock.js'), 'unlockCommand')
export const schemaCommand = lazy(() => import('./cli/schema.js'), 'schemaCommand')
export const scheduleCommand = lazy(() => import('./cli/schedule.js'), 'scheduleCommand')
export const serveCommand = lazy(() => import('./cli/serve.js'), 'serveCommand')
