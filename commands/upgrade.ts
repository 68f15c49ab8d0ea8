import {Args, Flags} from '@oclif/core'

import {ChainupCommand, dryRunCommand, fleetCommand, interruptSignals, stateDirectory, upgradeCommand, type ChainExecutionResult, type FleetExecutionResult, type Plan, terminalJson} from '../src/index.js'

export default class Upgrade extends ChainupCommand {
  static override summary = 'Upgrade a switch stack one device after another, coordinated by ChainSync nodes.'
  static override description = `Reads the inventory and its playbook, runs one ChainSync node per device, and upgrades the devices strictly in chain order once every device is ready. Every run is journaled; Ctrl-C lets the device in progress finish, then stops (chainup resume continues).
With a maintenance window in the inventory (window:) it starts only inside the window, parks the run before a device whose estimated duration no longer fits in what is left of it, and the next upgrade of the stack inside a window continues the parked run (docs/operations.md). Without a TTY nothing waits for input: fit for cron (chainup schedule prints the crontab line).
Exit codes (stable): 0 completed, 1 failed, 2 bad input, 3 vetoed (also parked by the maintenance window), 4 stack locked by another run, 5 not started: outside the maintenance window, 130 cancelled.`
  static override examples = ['<%= config.bin %> upgrade inventories/lab.yml --lab', '<%= config.bin %> upgrade stack.yml --json > result.json', '<%= config.bin %> upgrade stack.yml --dry-run', '<%= config.bin %> upgrade stack.yml --json --log-file /var/log/chainup/stack.log > /var/lib/chainup/stack.json', '<%= config.bin %> upgrade stack.yml --ignore-window --new-run']

  static override args = {
    inventory: Args.string({description: 'inventory file (YAML); several (or a shell glob) upgrade a fleet of stacks (docs/fleets.md)', required: true}),
  }

  /** More than one inventory: a fleet (docs/fleets.md). */
  static override strict = false

  static override flags = {
    lab: Flags.boolean({description: "start simulated switches and a trap receiver for the inventory's devices (loopback only) and run against them"}),
    json: Flags.boolean({description: 'print the ChainExecutionResult as JSON on stdout (progress goes to stderr)'}),
    'state-dir': Flags.string({description: 'state directory: journal and results (default $XDG_STATE_HOME/chainup)'}),
    'no-extensions': Flags.boolean({description: "send only the draft's READY/START/COMPLETE lines (no HELLO/EXECUTING/ABORT/HEARTBEAT/ROUND)"}),
    concurrency: Flags.integer({description: 'fleet (several inventories): stacks upgraded at once', default: 1, min: 1}),
    'max-failed': Flags.integer({description: 'fleet: this many failed stacks stop the fleet (running stacks park); default: no limit', min: 1}),
    'log-file': Flags.string({description: 'also append the plain timestamped progress lines to this file (for cron; created 0600)'}),
    'ignore-window': Flags.boolean({description: "start even outside the inventory's maintenance window and do not park for it (journaled as windowIgnored)"}),
    'new-run': Flags.boolean({description: 'start a new run even when the stack\'s last run was parked by the maintenance window (which otherwise continues)'}),
    transcript: Flags.string({description: "write every device session (sent and received, timestamped, secrets redacted) to DIR/<run id>/<device>.log"}),
    'dry-run': Flags.boolean({description: "upgrade nothing: the same as `chainup plan INVENTORY --check` (only the playbook's read-only facts and readiness commands are sent; docs/plan.md)"}),
  }

  async run(): Promise<ChainExecutionResult | FleetExecutionResult | Plan | Plan[]> {
    const {args, argv, flags} = await this.parse(Upgrade)
    if (flags['dry-run']) {
      const dry = await dryRunCommand({inventoryPaths: argv as string[], lab: flags.lab, json: flags.json, stateDir: stateDirectory(flags['state-dir']), stdout: process.stdout, stderr: process.stderr})
      process.exitCode = dry.exitCode
      return dry.plans.length === 1 ? dry.plans[0]! : dry.plans
    }
    const signals = interruptSignals()
    try {
      if (argv.length > 1) {
        const fleet = await fleetCommand({
          inventoryPaths: argv as string[],
          lab: flags.lab,
          json: flags.json,
          stateDir: stateDirectory(flags['state-dir']),
          concurrency: flags.concurrency,
          ...(flags['max-failed'] === undefined ? {} : {maxFailed: flags['max-failed']}),
          ...(flags['no-extensions'] ? {extensions: false} : {}),
          ...(flags['log-file'] ? {logFile: flags['log-file']} : {}),
          ...(flags['ignore-window'] ? {ignoreWindow: true} : {}),
          stdout: process.stdout,
          stderr: process.stderr,
          cancel: signals.cancel,
          kill: signals.kill,
        })
        if (flags.json) process.stdout.write(terminalJson(fleet.result) + '\n')
        process.exitCode = fleet.exitCode
        return fleet.result
      }
      const {result, exitCode} = await upgradeCommand({
        inventoryPath: args.inventory,
        lab: flags.lab,
        json: flags.json,
        stateDir: stateDirectory(flags['state-dir']),
        ...(flags['no-extensions'] ? {extensions: false} : {}),
        ...(flags['log-file'] ? {logFile: flags['log-file']} : {}),
        ...(flags['ignore-window'] ? {ignoreWindow: true} : {}),
        ...(flags['new-run'] ? {newRun: true} : {}),
        ...(flags.transcript ? {transcriptDir: flags.transcript} : {}),
        stdout: process.stdout,
        stderr: process.stderr,
        cancel: signals.cancel,
        kill: signals.kill,
      })
      if (flags.json) process.stdout.write(terminalJson(result) + '\n')
      process.exitCode = exitCode
      return result
    } finally {
      signals.dispose()
    }
  }
}
