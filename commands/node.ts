import {Flags} from '@oclif/core'

import {ChainupCommand, nodeCommand, stateDirectory} from '../src/index.js'

export default class Node extends ChainupCommand {
  static override summary = "Run one device's ChainSync node as its own process (e.g. on a jump host next to the device)."
  static override description = `Listens on the device's devices[].node address, dials its predecessor's, and takes part in the round a neighbour starts: readiness, then the device's upgrade when its turn comes. Exits when that round is over (draft-dohmeyer-chainsync-03 §6.4), with its exit code: 0 completed, 1 failed, 3 vetoed, 130 cancelled; 2 for bad input. With --persistent it joins round after round until SIGTERM or SIGINT.
SIGTERM or SIGINT (systemctl stop) with no round in progress, or while the node still waits for its neighbours, is a clean stop: exit 0 (with --persistent also after earlier rounds; their results are in runs/). During a round it cancels the round: the device's task in progress finishes first (no device is left half-upgraded), then the round is halted (ABORT to the neighbours) and ends cancelled, exit 130; a second signal halts it at once.
Mark the device "remote: true" in the inventory so that chainup upgrade does not run this node itself. Running it under systemd: docs/deploy.md.`
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
    const kill = new AbortController()
    // Handlers stay installed until the process exits: with none left, a library's signal-exit hook would re-raise
    // the signal and the process would die by it (exit 143 on SIGTERM) instead of stopping cleanly.
    const onSignal = (sig: NodeJS.Signals) => (stop.signal.aborted ? kill.abort(sig) : stop.abort(sig))
    process.on('SIGTERM', onSignal)
    process.on('SIGINT', onSignal)
    const code = await nodeCommand({
      inventoryPath: flags.inventory,
      device: flags.device,
      stateDir: stateDirectory(flags['state-dir']),
      stdout: process.stdout,
      signal: stop.signal,
      kill: kill.signal,
      persistent: flags.persistent,
    })
    // Stopped: exit now, even while a dial to neighbours that never came is still pending.
    if (stop.signal.aborted) this.exit(code)
    process.exitCode = code
  }
}
