/** chainup's core library; the oclif commands import only from here. */
export {ChainupCommand} from './cli/base.js'
export {stateDirectory} from './cli/state-dir.js'
export {exitCodeFor, upgradeCommand, type UpgradeCommandOptions} from './cli/upgrade.js'
export {validateCommand} from './cli/validate.js'
export {nodeCommand, type NodeCommandOptions} from './cli/node.js'
export {certsInitCommand} from './cli/certs.js'
export {ChainupError, ExitCode, InputError, formatError} from './errors.js'
export type {ChainExecutionResult, GateEvaluation, StepExecution} from './run/result.js'
