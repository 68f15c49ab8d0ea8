/**
 * How ChainSync nodes reach each other: plain TCP or TLS 1.3 (docs/chainsync-security.md).
 * The node sees only byte streams; a transport authenticates the peer where it can.
 */
import net from 'node:net'
import type {Duplex} from 'node:stream'

/** A connected byte stream to a neighbour. */
export interface ChainSyncSocket extends Duplex {
  remoteAddress?: string | undefined
  remotePort?: number | undefined
  setNoDelay?(noDelay?: boolean): unknown
  setKeepAlive?(enable?: boolean, initialDelay?: number): unknown
}

export interface ChainSyncListener {
  readonly address: {host: string; port: number}
  close(): Promise<void>
}

/** What an inbound connection proved about its peer. */
export interface PeerInfo {
  /** `address:port` for logs. */
  remote: string
  /** The peer's authenticated node name (TLS certificate CN/SAN, or PSK identity); undefined on plain TCP. */
  identity: string | undefined
  /** Source address, for per-source rate limiting. */
  source: string
}

export interface ChainSyncTransport {
  /** `tcp` or `tls`, for logs. */
  readonly kind: string
  /**
   * Listens; every inbound connection that passed the transport's own checks reaches `onConnection`.
   * Connections refused by the transport are reported through `onRefused` with a reason.
   * @throws the listen error (EADDRINUSE …)
   */
  listen(host: string, port: number, onConnection: (socket: ChainSyncSocket, peer: PeerInfo) => void, onRefused: (remote: string, reason: string) => void): Promise<ChainSyncListener>
  /**
   * Connects to `expectedPeer` (its node name) at host:port.
   * @throws when the connection fails or the peer is not `expectedPeer`
   */
  connect(host: string, port: number, expectedPeer: string): Promise<ChainSyncSocket>
}

/** Plain TCP: no authentication (draft §11 recommends TLS for production). */
export const tcpTransport: ChainSyncTransport = {
  kind: 'tcp',
  async listen(host, port, onConnection) {
    const server = net.createServer((socket) => {
      socket.on('error', () => socket.destroy())
      const remote = `${socket.remoteAddress}:${socket.remotePort}`
      onConnection(socket, {remote, identity: undefined, source: socket.remoteAddress ?? '?'})
    })
    return {
      address: await listenOn(server, host, port),
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    }
  },
  connect(host, port) {
    return new Promise((resolve, reject) => {
      const s = net.connect({host, port})
      s.once('connect', () => {
        s.off('error', reject)
        resolve(s)
      })
      s.once('error', reject)
    })
  },
}

/**
 * Starts `server` listening on host:port (port 0 = any free one); later server errors are swallowed (a listener
 * must not crash its node).
 * @returns the bound address
 * @throws the listen error (EADDRINUSE …)
 */
export async function listenOn(server: net.Server, host: string, port: number): Promise<{host: string; port: number}> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', () => undefined)
  const a = server.address() as net.AddressInfo
  return {host: a.address, port: a.port}
}
