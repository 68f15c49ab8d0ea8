/**
 * `chainup node`: one device's ChainSync node as its own process (e.g. on a jump host next to the device). It joins
 * the round a neighbour starts (`ROUND:<id>`, or without extensions the predecessor's first READY), runs the device's
 * readiness and task for it, journals that device's part in its own state directory, writes its result there
 * (`runs/<run>.<device>.json`), and exits when that round is over (draft-dohmeyer-chainsync-03 §6.4: a node exits
 * after phase 4), with the round's exit code. With `persistent` it stays and joins the next rounds until stopped.
 *
 * Stopping (SIGTERM/SIGINT, e.g. `systemctl stop`) is a clean stop, exit 0, when no round is in progress (also while
 * it still waits for its neighbours). In a round it is chainup's cancel (docs/runs.md "Cancel"): the device's task in
 * progress finishes (no device is left half-upgraded), then the round is halted (ABORT both ways) and ends
 * `cancelled`, exit 130; before or after the device's task the round is halted at once. A second signal halts it at
 * once, the task included.
 */
import type {Writable} from 'node:stream'

import {loadStack} from '../config/load.js'
import {ExitCode, InputError} from '../errors.js'
import {openJournal} from '../journal/journal.js'
import {RunEvents} from '../model/events.js'
import type {NodeRoundHandle} from '../run/node-round.js'
import {runNodeRound} from '../run/node-round.js'
import {saveResult} from '../run/result-file.js'
import {resolveSecrets, secretValues} from '../run/secrets.js'
import {startChainNodes} from '../run/nodes.js'
import {runTransports} from '../run/transport.js'
import {attachPlainReporter} from '../ui/plain.js'
import {exitCodeFor} from './run-ui.js'

export interface NodeCommandOptions {
  inventoryPath: string
  device: string
  stateDir: string
  stdout: Writable
  /**
   * Aborting it (the first SIGTERM/SIGINT; its reason, e.g. `'SIGTERM'`, is logged) stops the node: at once when no
   * round is in progress, else after the device's task in progress, cancelling the round.
   */
  signal: AbortSignal
  /** Aborting it (a second SIGTERM/SIGINT) halts a round in progress at once, the device's task included. */
  kill?: AbortSignal
  /** Stay after a round and join the next ones until `signal` aborts. @default false: exit after the first round */
  persistent?: boolean
}

/**
 * Runs until its round is over (or, with `persistent`, until `signal` aborts).
 * @returns the exit code: without `persistent` its round's (0 completed, 1 failed, 3 vetoed, 130 cancelled); stopped by
 *   `signal`, 0 when no round was in progress, else the stopped round's (130 cancelled, or how it ended meanwhile)
 * @throws InputError (exit 2) for a bad inventory, an unknown device or one without a node address;
 *   Error when the neighbours do not connect within chainsync.connect_timeout
 */
export async function nodeCommand(opts: NodeCommandOptions): Promise<ExitCode> {
  const {inventory, playbook} = await loadStack(opts.inventoryPath)
  const index = inventory.devices.findIndex((d) => d.name === opts.device)
  const device = inventory.devices[index]
  if (!device) {
    throw new InputError(`${opts.inventoryPath}: no device "${opts.device}"`, {code: 'NO_SUCH_DEVICE', problems: [`devices: ${inventory.devices.map((d) => d.name).join(', ')}`]})
  }
  if (!device.node) throw new InputError(`${opts.inventoryPath} devices[${index}].node: ${device.name} has no ChainSync node address (host:port)`, {code: 'NO_NODE_ADDRESS'})
  const secrets = resolveSecrets(inventory)
  const line = (text: string) => opts.stdout.write(`${new Date().toISOString()} ${device.name} ${text}\n`)
  if (!inventory.chainsync.tls && !inventory.chainsync.insecure_plain_tcp) {
    throw new InputError(`${opts.inventoryPath} chainsync: chainup node runs a node in its own process, so its links must be authenticated by configuration: set chainsync.tls, or chainsync.insecure_plain_tcp: true`, {
      code: 'CHAINSYNC_UNAUTHENTICATED',
      hint: 'see docs/chainsync-security.md (chainup certs init, or a PSK file)',
    })
  }
  const links = await runTransports(inventory, [device.name])
  for (const warning of [...links.warnings, ...secrets.warnings]) line(`warn: ${warning.replace(/^warning: /, '')}`)
  const transport = links.transportFor(device.name)
  const journal = await openJournal(opts.stateDir, {secrets: secretValues(secrets)})
  const why = () => String(opts.signal.reason ?? 'signal')
  try {
    const starting = startChainNodes(inventory, {
      only: [device.name],
      transportFor: () => transport,
      log: (e) => e.level !== 'debug' && line(`${e.level}: chainsync: ${e.message}`),
    })
    // The neighbours may take up to chainsync.connect_timeout to come up: a stop meanwhile does not wait for them.
    const node = (await untilAborted(starting, opts.signal))?.get(device.name)
    if (!node) {
      void starting.then((started) => Promise.all([...started.values()].map((n) => n.close())), () => undefined)
      line(`${why()}: stopping before the neighbours connected: no round joined (exit 0)`)
      return ExitCode.completed
    }
    line(`node listening on ${device.node.host}:${device.node.port} (${transport?.kind ?? 'tcp'}), neighbours connected`)
    /** Rounds in progress (a stop halts them before the node closes); `working`: the device's task runs. */
    const active = new Map<string, {round: NodeRoundHandle; saved: Promise<void>; working: boolean}>()
    node.on('startTask', ({roundId}) => {
      const entry = active.get(roundId)
      if (entry) entry.working = true
    })

    /** Set by a stop, or (not persistent) once its round is over: no round is joined any more. */
    let stopping = false
    let exitCode: ExitCode = ExitCode.completed
    /** Resolves when the node should close: `signal` aborted, or (not persistent) its round is over. */
    let finish!: () => void
    const finished = new Promise<void>((resolve) => (finish = resolve))
    /** Halts a round now: it ends `cancelled`, the neighbours learn it by ABORT, the device's work stops. */
    const haltRound = (roundId: string, round: NodeRoundHandle, reason: string) => {
      round.halt.record('cancelled', reason)
      node.abort(roundId, reason)
      round.halt.abort(reason)
    }
    const onStop = () => {
      stopping = true
      if (active.size === 0) line(`${why()}: stopping: no round in progress`)
      for (const [roundId, {round, working}] of active) {
        const reason = `node ${device.name} stopped (${why()})`
        if (working && round.halt.requestStop('cancelled', reason)) {
          // The agent halts the round (ABORT both ways) when the task ends: the device is not left half-upgraded.
          line(`${why()}: round ${roundId}: the device's task in progress finishes, then the round is cancelled (again to stop at once)`)
        } else {
          line(`${why()}: round ${roundId}: cancelling it now (the device's task is not running)`)
          haltRound(roundId, round, reason)
        }
      }
      finish()
    }
    const onKill = () => {
      for (const [roundId, {round}] of active) {
        line(`${String(opts.kill?.reason ?? 'signal')}: round ${roundId}: stopping at once`)
        haltRound(roundId, round, `node ${device.name} stopped at once (second ${String(opts.kill?.reason ?? 'signal')})`)
      }
    }
    opts.signal.addEventListener('abort', onStop, {once: true})
    opts.kill?.addEventListener('abort', onKill, {once: true})
    if (opts.signal.aborted) onStop()
    node.on('roundAnnounced', ({roundId}) => {
      if (stopping) return
      if (!opts.persistent && active.size > 0) {
        line(`warn: not joining round ${roundId}: this node takes part in one round and then exits (start it with --persistent to join several)`)
        return
      }
      line(`joining round ${roundId}`)
      const events = new RunEvents()
      events.redactSecrets(secretValues(secrets))
      // A node round has no runStarted: the lines learn the chain (who goes next) and the target from the inventory.
      attachPlainReporter(events, opts.stdout, undefined, {devices: inventory.devices.map((d) => d.name), target: inventory.target.version})
      const round = runNodeRound({runId: roundId, inventory, playbook, device, node, secrets, events, journal})
      // With --persistent, the exit code is that of a round the stop interrupted, not of earlier rounds (their
      // results are in runs/): a stop with no round in progress is a clean one.
      const counts = () => !opts.persistent || opts.signal.aborted
      const saved = round.done
        .then((result) => {
          const file = saveResult(opts.stateDir, result, `${roundId}.${device.name}`)
          line(`round ${roundId} ${result.status}${result.reason ? `: ${result.reason}` : ''}; result saved to ${file}`)
          if (counts()) exitCode = exitCodeFor(result)
        })
        .catch((error: Error) => {
          line(`error: round ${roundId}: ${error.message}`)
          if (counts()) exitCode = ExitCode.failed
        })
        .finally(() => {
          if (active.get(roundId)?.round === round) active.delete(roundId)
          if (!opts.persistent) finish()
        })
      const entry = {round, saved, working: false}
      events.on('deviceOutcome', () => (entry.working = false))
      active.set(roundId, entry)
    })

    await finished
    stopping = true
    // A stopped round ends once its device's task is over (or at once); the result is saved before the node closes.
    await Promise.allSettled([...active.values()].map((r) => r.saved))
    opts.signal.removeEventListener('abort', onStop)
    opts.kill?.removeEventListener('abort', onKill)
    await node.close()
    line(opts.signal.aborted ? `node stopped (exit ${exitCode})` : `node closed after round (exit ${exitCode})`)
    return exitCode
  } finally {
    journal.close()
  }
}

/** `work`'s value, or undefined when `signal` aborts first (`work` goes on; the caller cleans up after it). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined)
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = () => resolve(undefined)
    signal.addEventListener('abort', onAbort, {once: true})
    work.then(
      (value) => (signal.removeEventListener('abort', onAbort), resolve(value)),
      (error: unknown) => (signal.removeEventListener('abort', onAbort), reject(error)),
    )
  })
}
