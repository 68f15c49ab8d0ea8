import {Args, Flags} from '@oclif/core'

import {ChainupCommand, ExitCode, formatTree, formatVerify, showCommand, stateDirectory, terminalJson} from '../src/index.js'

export default class Show extends ChainupCommand {
  static override summary = "Show one run: its ChainExecutionResult, its operation-run tree, or a check of the journal's hash chain."
  static override examples = ['<%= config.bin %> show RUN_ID --tree', '<%= config.bin %> show RUN_ID --verify']

  static override args = {
    run: Args.string({description: 'run id (execution_id)', required: true}),
  }

  static override flags = {
    tree: Flags.boolean({description: 'draw the run -> device -> step hierarchy with statuses, durations and gate decisions'}),
    verify: Flags.boolean({description: 'check the hash chain and the tables against it; exit 1 and name the first tampered row if it does not hold'}),
    json: Flags.boolean({description: 'print JSON'}),
    'state-dir': Flags.string({description: 'state directory (default $XDG_STATE_HOME/chainup)'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Show)
    const shown = await showCommand({stateDir: stateDirectory(flags['state-dir']), runId: args.run, verify: flags.verify})
    if (flags.json) {
      this.log(terminalJson(flags.tree ? shown.tree : flags.verify ? shown.verify : (shown.result ?? shown.tree)))
    } else if (flags.tree || !shown.result) {
      this.log(await formatTree(shown.tree))
    } else if (!flags.verify) {
      this.log(terminalJson(shown.result))
    }
    if (shown.verify) {
      if (!flags.json) this.log(await formatVerify(shown.verify))
      if (!shown.verify.ok) process.exitCode = ExitCode.failed
    }
  }
}
