import {Args, Flags} from '@oclif/core'

import {ChainupCommand, planCommand, stateDirectory, type Plan} from '../src/index.js'

export default class PlanCmd extends ChainupCommand {
  static override summary = 'Show what an upgrade would do: every command per device, gates, timeouts, estimates, the window.'
  static override description = `Offline by default: validates the inventory and playbook (exit 2 on bad input) and prints the ordered plan without contacting any device. With --check it also connects to every device in parallel (host keys verified) and sends only the playbook's facts and readiness commands, which are read-only, to report reachability, host key, version, skip or upgrade, image on flash, free space and rollback feasibility. See docs/plan.md.
Exit codes: 0 (offline, or every device checked ok), 1 (--check found a device unreachable or not ready), 2 bad input.`
  static override examples = [
    '<%= config.bin %> plan inventories/lab.yml',
    '<%= config.bin %> plan stack.yml --json > plan.json',
    '<%= config.bin %> plan inventories/lab.yml --check --lab',
    '<%= config.bin %> plan stack.yml --check --json',
  ]

  static override args = {
    inventory: Args.string({description: 'inventory file (YAML)', required: true}),
  }

  static override flags = {
    check: Flags.boolean({description: "connect to every device (read-only: only the playbook's facts and readiness commands) and report what it finds"}),
    lab: Flags.boolean({description: "with --check: start simulated switches for the inventory's devices (loopback only) and check those"}),
    json: Flags.boolean({description: 'print the plan as JSON on stdout (shape: docs/plan.md)'}),
    'state-dir': Flags.string({description: 'state directory whose journal holds past runs for the estimates (default $XDG_STATE_HOME/chainup)'}),
  }

  async run(): Promise<Plan> {
    const {args, flags} = await this.parse(PlanCmd)
    const {plan, exitCode} = await planCommand({
      inventoryPath: args.inventory,
      check: flags.check,
      lab: flags.lab,
      json: flags.json,
      stateDir: stateDirectory(flags['state-dir']),
      stdout: process.stdout,
      stderr: process.stderr,
    })
    process.exitCode = exitCode
    return plan
  }
}
