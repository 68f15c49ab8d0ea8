import {Flags} from '@oclif/core'

import {ChainupCommand, nodeCommand, stateDirectory} from '../src/index.js'

export default class Node extends ChainupCommand {
  static override summary = "Run one device's ChainSync node as its own process (e.g. on a jump host next to the device)."
  static override description = `Listens on the device's devices[].node address, dials its predecessor's, and takes part in every round a neighbour announces: readiness, then the device's upgrade when its turn comes. Runs until SIGTERM or SIGINT.
Mark the device "remote: true" in the inventory so that chainup upgrade does not run this node itself.`
  static override examples = ['<%= config.bin %> node --inventory stack.yml --device sw2']

  static override flags = {
    inventory: Flags.string({description: 'inventory file (YAML)', required: true}),
    device: Flags.string({description: 'the device whose node this is', required: true}),
    'state-dir': Flags.string({description: 'state directory (default $XDG_STATE_HOME/chainup)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Node)
    const stop = new AbortController()
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort(sig))
    await nodeCommand({inventoryPath: flags.inventory, device: flags.device, stateDir: stateDirectory(flags['state-dir']), stdout: process.stdout, signal: stop.signal})
  }
}
