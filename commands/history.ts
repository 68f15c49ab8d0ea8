import {Flags} from '@oclif/core'

import {ChainupCommand, formatHistory, historyCommand, stateDirectory, terminalJson} from '../src/index.js'

export default class History extends ChainupCommand {
  static override summary = 'List runs from the journal, newest first.'
  static override examples = ['<%= config.bin %> history --stack access-stack-1 --status failed', '<%= config.bin %> history --json --limit 100']

  static override flags = {
    stack: Flags.string({description: 'only runs of this stack'}),
    status: Flags.string({description: 'only runs with this status', options: ['running', 'completed', 'failed', 'vetoed', 'cancelled']}),
    limit: Flags.integer({description: 'runs per page (1-1000)', default: 20}),
    page: Flags.integer({description: 'page number, from 1', default: 1}),
    json: Flags.boolean({description: 'print the page as JSON'}),
    'state-dir': Flags.string({description: 'state directory (default $XDG_STATE_HOME/chainup)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(History)
    const page = await historyCommand({
      stateDir: stateDirectory(flags['state-dir']),
      ...(flags.stack ? {stack: flags.stack} : {}),
      ...(flags.status ? {status: flags.status as 'completed'} : {}),
      limit: flags.limit,
      page: flags.page,
    })
    this.log(flags.json ? terminalJson(page) : await formatHistory(page, process.stdout.isTTY === true))
  }
}
