import {Flags} from '@oclif/core'

import {ChainupCommand, nodeCommand, stateDirectory} from '../src/index.js'

export default class Node extends ChainupCommand {
  static override summary = "Run one device's ChainSync node as its own process (e.g. on a jump host next to the device)."
  static override description = `Listens on the device's devices[].node address, dials its predecessor's, and takes part in the round a neighbour starts: readiness, then the device's upgrade when its turn comes. Exits when that round is over (draft-dohmeyer-chainsync-03 §6.4), with its exit code: 0 completed, 1 failed, 3 vetoed, 130 cancelled; 2 for bad input. With --persistent it joins round after round until SIGTERM or SIGINT.
Mark the device "remote: true" in the inventory so that chainup upgrade does not run this node itself.`
  static override examples = ['<%= config.bin %> node --inventory stack.yml --device sw2']

  static override flags = {
    inventory: Flags.string({description: 'inventory file (YAML)', required: true}),
    device: Flags.string({description: 'the device whose node this is', required: true}),
    'state-dir': Flags.string({description: 'state directory (default $XDG_STATE_HOME/chainup)'}),
    persistent: Flags.boolean({description: 'stay after a round and join the next ones until SIGTERM/SIGINT (e.g. under systemd)'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(Node)
    const stop = new AbortController()
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => stop.abort(sig))
    process.exitCode = await nodeCommand({
      inventoryPath: flags.inventory,
      device: flags.device,
      stateDir: stateDirectory(flags['state-dir']),
      stdout: process.stdout,
      signal: stop.signal,
      persistent: flags.persistent,
    })
  }
}
