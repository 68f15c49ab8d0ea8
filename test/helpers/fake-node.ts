/**
 * A stand-in for one ChainSync node as a device agent sees it (join, locallyReady, taskFinished, abort, atomically,
 * forget and its events), with no sockets: a test plays the neighbours by emitting `startTask`, `exit`, `halted`.
 * Every call is logged in order.
 */
import {EventEmitter} from 'node:events'

import type {ChainSyncNode, ChainSyncNodeEvents} from '../../src/protocol/node.js'

export class FakeNode extends EventEmitter<ChainSyncNodeEvents> {
  readonly calls: string[] = []
  readonly rounds = new Set<string>()

  constructor(readonly name: string) {
    super()
  }

  join(roundId: string): void {
    this.calls.push(`join ${roundId}`)
    this.rounds.add(roundId)
  }

  locallyReady(roundId: string): void {
    this.calls.push(`locallyReady ${roundId}`)
  }

  taskFinished(roundId: string): void {
    this.calls.push(`taskFinished ${roundId}`)
  }

  abort(roundId: string, reason: string): void {
    this.calls.push(`abort ${roundId}: ${reason}`)
    if (this.rounds.has(roundId)) this.emit('halted', {roundId, reason, origin: 'local'})
  }

  forget(roundId: string): void {
    this.calls.push(`forget ${roundId}`)
    this.rounds.delete(roundId)
  }

  atomically<T>(fn: () => T): T {
    return fn()
  }

  /** Typed as the real node for the agent's options. */
  get asNode(): ChainSyncNode {
    return this as unknown as ChainSyncNode
  }
}
