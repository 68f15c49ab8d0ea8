import {Args} from '@oclif/core'

import {ChainupCommand, schemaCommand, schemaKinds} from '../src/index.js'

export default class Schema extends ChainupCommand {
  static override summary = 'Print the JSON Schema of an inventory or a playbook file, for editors.'
  static override description = `Generated from the same schemas the loader checks with. The shipped files in schemas/ are this output; point an editor at one with a first line such as:
# yaml-language-server: $schema=../schemas/inventory.schema.json`
  static override examples = ['<%= config.bin %> schema inventory > inventory.schema.json', '<%= config.bin %> schema playbook']

  static override args = {
    kind: Args.string({description: 'which file kind', required: true, options: [...schemaKinds]}),
  }

  async run(): Promise<void> {
    const {args} = await this.parse(Schema)
    process.stdout.write(await schemaCommand(args.kind))
  }
}
