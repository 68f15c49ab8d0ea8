/**
 * The embedded default: every node of the chain in this process, each with its own TCP listener on
 * loopback and a real connection to its neighbours (docs/chainsync.md "Embedded chain").
 */
import {ChainSyncNode, type ChainSyncNodeOptions} from './node.js'

export interface LocalChainOptions {
  /** Node names in chain order (Head first). */
  names: readonly string[]
  /** @default '127.0.0.1' */
  host?: string
  extensions?: boolean
  predecessorTimeoutMs: number
  connectTimeoutMs?: number
  heartbeatMs?: number
  reconnectGraceMs?: number
  /** Each node's transport (TLS identities differ per node); plain TCP when it returns undefined. */
  transportFor?: (name: string) => ChainSyncNodeOptions['transport']
  /** Each node's outbox (the run journal's). */
  outboxFor?: (name: string) => ChainSyncNodeOptions['outbox']
  log?: ChainSyncNodeOptions['log']
  /** Every node's clock. @default systemClock */
  clock?: ChainSyncNodeOptions['clock']
}

/**
 * Starts one listening node per name on an ephemeral loopback port, then connects every adjacent pair.
 * @returns the nodes in chain order. Close them with {@link closeChain}.
 * @throws when a listener cannot bind or a pair cannot connect (every node already started is closed first).
 */
export async function startLocalChain(opts: LocalChainOptions): Promise<ChainSyncNode[]> {
  const host = opts.host ?? '127.0.0.1'
  const nodes = opts.names.map((name, i) => {
    const prev = opts.names[i - 1]
    const next = opts.names[i + 1]
    return new ChainSyncNode({
      name,
      listen: {host, port: 0},
      ...(prev === undefined ? {} : {predecessor: {name: prev, host, port: 0}}),
      ...(next === undefined ? {} : {successor: {name: next}}),
      ...(opts.extensions === undefined ? {} : {extensions: opts.extensions}),
      predecessorTimeoutMs: opts.predecessorTimeoutMs,
      ...(opts.connectTimeoutMs === undefined ? {} : {connectTimeoutMs: opts.connectTimeoutMs}),
      ...(opts.heartbeatMs === undefined ? {} : {heartbeatMs: opts.heartbeatMs}),
      ...(opts.reconnectGraceMs === undefined ? {} : {reconnectGraceMs: opts.reconnectGraceMs}),
      ...(opts.transportFor?.(name) ? {transport: opts.transportFor(name)!} : {}),
      ...(opts.outboxFor?.(name) ? {outbox: opts.outboxFor(name)!} : {}),
      ...(opts.log ? {log: opts.log} : {}),
      ...(opts.clock ? {clock: opts.clock} : {}),
    })
  })
  try {
    await Promise.all(nodes.map((n) => n.listen()))
    for (let i = 1; i < nodes.length; i++) nodes[i]!.setPredecessorAddress(host, nodes[i - 1]!.address.port)
    await Promise.all(nodes.map((n) => n.connect()))
  } catch (error) {
    await closeChain(nodes)
    throw error
  }
  return nodes
}

/** Closes every node (listeners, connections, timers). */
export async function closeChain(nodes: readonly ChainSyncNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.close()))
}
