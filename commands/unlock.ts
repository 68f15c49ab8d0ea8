import {Args, Flags} from '@oclif/core'

import {ChainupCommand, stateDirectory, unlockCommand} from '../src/index.js'

export default class Unlock extends ChainupCommand {
  static override summary = "Release a stack's lock left by a run whose process is gone."
  static override description = `Without --force only a lock whose process is no longer running on this host is released. A holder still running here, or one on another host (which cannot be checked from here, e.g. a container restarted under a new host name), is refused with exit 4 and the exact command to run after checking it. Every release is journaled on the holder's run: who unlocked (user, pid, host) and the old holder.`
  static override examples = ['<%= config.bin %> unlock access-stack-1', '<%= config.bin %> unlock access-stack-1 --force --state-dir /var/lib/chainup']

  static override args = {
    stack: Args.string({description: 'stack name (the inventory\'s "stack")', required: true}),
  }

  static override flags = {
    force: Flags.boolean({description: 'release it even though its holder may still be running (check that it is not first)'}),
    'state-dir': Flags.string({description: 'state directory: journal and results (default $XDG_STATE_HOME/chainup)'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Unlock)
    const out = await unlockCommand({stack: args.stack, stateDir: stateDirectory(flags['state-dir']), force: flags.force === true})
    for (const w of out.warnings) process.stderr.write(w + '\n')
    for (const line of out.lines) this.log(line)
  }
}
