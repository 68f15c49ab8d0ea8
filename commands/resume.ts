import {Args, Flags} from '@oclif/core'

import {ChainupCommand, interruptSignals, resumeCommand, resumeFleetCommand, stateDirectory, type ChainExecutionResult, type FleetExecutionResult, terminalJson} from '../src/index.js'

export default class Resume extends ChainupCommand {
  static override summary = 'Continue a run (or a fleet) whose process died (kill -9, power loss) or that was cancelled.'
  static override description = `Re-derives each device's phase from the journal and from the device itself, then continues the chain: finished devices are not touched again, a device whose reload was sent is waited for, never reloaded twice. A run that already finished is reported and exits 0.
Exit codes as for upgrade.`
  static override examples = ['<%= config.bin %> resume 0b9f4c1e-7c0e-4a59-9a43-1d1f1f4d9a10']

  static override args = {
    run: Args.string({description: 'run id (execution_id), or a fleet id: resumes its unfinished stack runs', required: true}),
  }

  static override flags = {
    json: Flags.boolean({description: 'print the ChainExecutionResult as JSON on stdout (progress goes to stderr)'}),
    'state-dir': Flags.string({description: 'state directory: journal and results (default $XDG_STATE_HOME/chainup)'}),
    lab: Flags.boolean({description: 'the run was a --lab run: start the simulated switches again (those the journal shows upgraded start on the target) and continue on them'}),
    transcript: Flags.string({description: "write every device session (sent and received, timestamped, secrets redacted) to DIR/<run id>/<device>.log"}),
  }

  async run(): Promise<ChainExecutionResult | FleetExecutionResult> {
    const {args, flags} = await this.parse(Resume)
    const signals = interruptSignals()
    try {
      const ui = {json: flags.json, stateDir: stateDirectory(flags['state-dir']), stdout: process.stdout, stderr: process.stderr, cancel: signals.cancel, kill: signals.kill}
      const fleet = await resumeFleetCommand({...ui, fleetId: args.run})
      if (fleet) {
        if (flags.json) process.stdout.write(terminalJson(fleet.result) + '\n')
        process.exitCode = fleet.exitCode
        return fleet.result
      }
      const {result, exitCode, already} = await resumeCommand({
        runId: args.run,
        json: flags.json,
        stateDir: stateDirectory(flags['state-dir']),
        ...(flags.transcript ? {transcriptDir: flags.transcript} : {}),
        lab: flags.lab,
        stdout: process.stdout,
        stderr: process.stderr,
        cancel: signals.cancel,
        kill: signals.kill,
      })
      if (already && !flags.json) this.log(`run ${args.run} already finished: ${result.status}${result.reason ? ` (${result.reason})` : ''}; nothing to resume`)
      if (flags.json) process.stdout.write(terminalJson(result) + '\n')
      process.exitCode = exitCode
      return result
    } finally {
      signals.dispose()
    }
  }
}
