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
  /** True when the transport admitted the connection through the listener's {@link InboundGate} (before any handshake). */
  admitted?: boolean
}

/**
 * The node's admission of inbound connections (src/protocol/admission.ts). A transport consults it as soon as TCP has
 * accepted a connection, before reading a byte of it (so before any TLS handshake).
 */
export interface InboundGate {
  /**
   * @param source the connection's source address
   * @param expire called when the connection's handshake did not finish in time: end the connection
   * @returns a ticket to hold while the connection is open, or the reason to refuse it (end it at once)
   */
  admit(source: string, expire: (reason: string) => void): InboundTicket | {refused: string}
}

/** An admitted inbound connection's claim on the gate's caps. */
export interface InboundTicket {
  /** The transport's handshake is over (done or failed; at once without one). Idempotent. */
  handshakeDone(): void
  /** The connection closed. Idempotent. */
  release(): void
}

export interface ChainSyncTransport {
  /** `tcp` or `tls`, for logs. */
  readonly kind: string
  /**
   * The transport proves who every inbound peer is ({@link PeerInfo.identity}): a node then refuses any connection
   * without an identity, not only one with another identity (docs/security.md "The ChainSync control plane").
   */
  readonly authenticates?: boolean
  /**
   * Listens; every inbound connection that passed the transport's own checks reaches `onConnection`.
   * Connections refused by the transport are reported through `onRefused` with a reason.
   * With a `gate`, every accepted TCP connection is admitted by it first (before any handshake), the ticket is
   * released when the connection closes, and the peer info says `admitted: true`.
   * @throws the listen error (EADDRINUSE …)
   */
  listen(
    host: string,
    port: number,
    onConnection: (socket: ChainSyncSocket, peer: PeerInfo) => void,
    onRefused: (remote: string, reason: string) => void,
    gate?: InboundGate,
  ): Promise<ChainSyncListener>
  /**
   * Connects to `expectedPeer` (its node name) at host:port.
   * @throws when the connection fails or the peer is not `expectedPeer`
   */
  connect(host: string, port: number, expectedPeer: string): Promise<ChainSyncSocket>
}

/** Plain TCP: no authentication (draft §11 recommends TLS for production). */
export const tcpTransport: ChainSyncTransport = {
  kind: 'tcp',
  authenticates: false,
  async listen(host, port, onConnection, onRefused, gate) {
    const server = gatedServer(gate, onRefused, (socket, ticket) => {
      // No handshake on plain TCP.
      ticket?.handshakeDone()
      onConnection(socket, {remote: remoteOf(socket), identity: undefined, source: socket.remoteAddress ?? '?', ...(ticket ? {admitted: true} : {})})
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
 * A TCP server whose every connection is first admitted by `gate` (when given): a refused connection is reported to
 * `onRefused` and destroyed before a byte of it is read; an admitted one reaches `handle` with its ticket, released
 * when the connection closes. A connection whose handshake deadline expires is reported and destroyed.
 */
export function gatedServer(
  gate: InboundGate | undefined,
  onRefused: (remote: string, reason: string) => void,
  handle: (socket: net.Socket, ticket: InboundTicket | undefined) => void,
): net.Server {
  const report = (remote: string, reason: string) => {
    try {
      onRefused(remote, reason)
    } catch {
      // A failing logger must not take the listener down.
    }
  }
  return net.createServer((socket) => {
    socket.on('error', () => socket.destroy())
    if (!gate) return handle(socket, undefined)
    const remote = remoteOf(socket)
    const admitted = gate.admit(socket.remoteAddress ?? '?', (reason) => {
      ended.add(socket)
      report(remote, reason)
      socket.destroy()
    })
    if ('refused' in admitted) {
      socket.destroy()
      return report(remote, admitted.refused)
    }
    socket.once('close', () => admitted.release())
    handle(socket, admitted)
  })
}

/** Connections a gate ended after admitting them (handshake deadline). */
const ended = new WeakSet<net.Socket>()

/** The gate ended this connection (its handshake deadline expired); it was reported then. */
export function endedByGate(socket: net.Socket): boolean {
  return ended.has(socket)
}

/** `address:port` of a socket's peer, for logs. */
export function remoteOf(socket: net.Socket): string {
  return socket.remoteAddress === undefined ? 'unknown peer (gone before its address was read)' : `${socket.remoteAddress}:${socket.remotePort}`
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
