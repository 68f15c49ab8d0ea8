/**
 * Builds the ChainSync nodes this process runs for an inventory: all of them (embedded default) or only the
 * devices not marked `remote` (the others run `chainup node` elsewhere). docs/chainsync.md "Connections".
 */
import type {Inventory} from '../config/types.js'
import {closeChain, startLocalChain} from '../protocol/local-chain.js'
import {ChainSyncNode, type ChainSyncNodeOptions, type NodeLogEntry} from '../protocol/node.js'
import type {ChainSyncTransport} from '../protocol/transport.js'

export interface ChainNodesOptions {
  /** Overrides inventory.chainsync.extensions (the `--no-extensions` flag). */
  extensions?: boolean
  /** The transport of each device's node (TLS identities differ per node); plain TCP when absent. */
  transportFor?: (device: string) => ChainSyncTransport | undefined
  /** Each node's outbox (the run journal's, seed 001 §5). */
  outboxFor?: (device: string) => ChainSyncNodeOptions['outbox']
  log?: (entry: NodeLogEntry) => void
  /** Only these devices (default: every device not marked remote). */
  only?: readonly string[]
}

/** Node options shared by every node of the inventory. */
export function nodeSettings(inventory: Inventory, opts: ChainNodesOptions) {
  const cs = inventory.chainsync
  return {
    extensions: opts.extensions ?? cs.extensions,
    predecessorTimeoutMs: inventory.timeouts.predecessor,
    connectTimeoutMs: cs.connect_timeout,
    heartbeatMs: cs.heartbeat,
    reconnectGraceMs: cs.reconnect_grace,
    ...(opts.log ? {log: opts.log} : {}),
  }
}

/**
 * Starts (listens and connects) the nodes of the devices this process runs.
 * Without remote devices: every node on an ephemeral loopback port (embedded default; `node` addresses are not needed).
 * Otherwise each local node listens on its `devices[].node` address and dials its predecessor's.
 * @returns the nodes by device name, in chain order
 * @throws when a node cannot listen or its neighbours do not connect within chainsync.connect_timeout
 */
export async function startChainNodes(inventory: Inventory, opts: ChainNodesOptions = {}): Promise<Map<string, ChainSyncNode>> {
  const devices = inventory.devices
  const wanted = new Set(opts.only ?? devices.filter((d) => !d.remote).map((d) => d.name))
  const settings = nodeSettings(inventory, opts)
  // Every node in this process: node addresses only matter to nodes in other processes, so use loopback.
  if (wanted.size === devices.length) {
    const nodes = await startLocalChain({
      names: devices.map((d) => d.name),
      ...settings,
      ...(opts.transportFor ? {transportFor: opts.transportFor} : {}),
      ...(opts.outboxFor ? {outboxFor: opts.outboxFor} : {}),
    })
    return new Map(nodes.map((n) => [n.name, n]))
  }
  const nodes = new Map<string, ChainSyncNode>()
  devices.forEach((d, i) => {
    if (!wanted.has(d.name)) return
    if (!d.node) throw new Error(`${d.name}: no ChainSync node address (devices[${i}].node)`)
    const prev = devices[i - 1]
    const next = devices[i + 1]
    if (prev && !prev.node) throw new Error(`${prev.name}: no ChainSync node address (devices[${i - 1}].node)`)
    nodes.set(
      d.name,
      new ChainSyncNode({
        name: d.name,
        listen: d.node,
        ...(prev ? {predecessor: {name: prev.name, ...prev.node!}} : {}),
        ...(next ? {successor: {name: next.name}} : {}),
        announceRounds: true,
        ...settings,
        ...(opts.transportFor?.(d.name) ? {transport: opts.transportFor(d.name)!} : {}),
        ...(opts.outboxFor?.(d.name) ? {outbox: opts.outboxFor(d.name)!} : {}),
      }),
    )
  })
  try {
    await Promise.all([...nodes.values()].map((n) => n.listen()))
    await Promise.all([...nodes.values()].map((n) => n.connect()))
  } catch (error) {
    await closeChain([...nodes.values()])
    throw error
  }
  return nodes
}
