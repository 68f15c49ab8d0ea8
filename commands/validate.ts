import {Args} from '@oclif/core'

import {ChainupCommand, validateCommand} from '../src/index.js'

export default class Validate extends ChainupCommand {
  static override summary = 'Check an inventory (and its playbook) or a playbook without touching any device.'
  static override description = 'Prints every problem as FILE:LINE:COL PATH: MESSAGE and exits 2, or prints a summary and exits 0.'
  static override examples = ['<%= config.bin %> validate inventories/lab.yml', '<%= config.bin %> validate playbooks/ios-xe-install.yml']

  static override args = {
    file: Args.string({description: 'inventory or playbook file (YAML)', required: true}),
  }

  async run(): Promise<void> {
    const {args} = await this.parse(Validate)
    for (const line of await validateCommand(args.file)) this.log(line)
  }
}
