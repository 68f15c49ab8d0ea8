import {Args, Flags} from '@oclif/core'

import {certsInitCommand, ChainupCommand} from '../../src/index.js'

export default class CertsInit extends ChainupCommand {
  static override summary = 'Create a CA and one TLS certificate per device for ChainSync over TLS 1.3 with mutual authentication.'
  static override description = `Writes DIR/ca.crt, DIR/ca.key and DIR/<device>.crt, DIR/<device>.key (keys 0600) with CN = SAN = the device name. Refuses to overwrite without --force.
It reads the inventory's stack and devices[].name (and says so); the chainsync.tls files it names may not exist yet (write the inventory first, then run this), every other rule of the inventory still applies (bad input: exit 2). It warns when chainsync.tls.ca / cert_dir name other files than DIR/ca.crt and DIR.`
  static override examples = ['<%= config.bin %> certs init pki --inventory stack.yml']

  static override args = {
    dir: Args.string({description: 'directory to write the CA and certificates to', required: true}),
  }

  static override flags = {
    inventory: Flags.string({description: 'inventory whose devices get a certificate', required: true}),
    days: Flags.integer({description: 'validity in days', default: 365}),
    force: Flags.boolean({description: 'replace existing files (a new CA: every node needs its new certificate)'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(CertsInit)
    const out = await certsInitCommand({dir: args.dir, inventoryPath: flags.inventory, days: flags.days, force: flags.force})
    for (const line of out.lines) this.log(line)
    for (const warning of out.warnings) process.stderr.write(warning + '\n')
  }
}
