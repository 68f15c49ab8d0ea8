/**
 * ChainSync over TLS 1.3 with mutual authentication (draft-dohmeyer-chainsync-03 §11; docs/chainsync-security.md).
 * Either certificates from one CA (each node's CN / DNS SAN is its node name, optional SHA-256 pins) or TLS 1.3
 * external PSKs (identity = node name). The transport proves who the peer is; the node decides whether that peer
 * may take the position (node.ts refuses an inbound identity that is not its expected successor, and any connection
 * without one). The listener is a plain TCP server that asks the node's admission (rate limit, caps, handshake
 * deadline: admission.ts) before a connection reaches TLS, so a refused peer costs no handshake.
 */
import {createHmac, X509Certificate} from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'

import {ChainupError, InputError} from '../errors.js'
import {endedByGate, gatedServer, listenOn, remoteOf, type ChainSyncListener, type ChainSyncSocket, type ChainSyncTransport, type InboundTicket, type PeerInfo} from './transport.js'

export interface TlsTransportOptions {
  /** This node's name (must be the CN or a DNS SAN of `cert`). */
  self: string
  /** PEM: CA certificate(s) every peer certificate must chain to (nothing else is trusted). Either `ca`, `cert` and `key`, or `psk`. */
  ca?: string | Buffer
  /** PEM: this node's certificate, presented as server and as client. */
  cert?: string | Buffer
  /** PEM: this node's private key. */
  key?: string | Buffer
  /** Optional SHA-256 pins: node name -> fingerprint as Node prints `fingerprint256` ("AB:CD:…"; colons optional, any case). A peer whose certificate does not match its pin is refused. Pins add to the CA check, they do not replace it. */
  pins?: Record<string, string>
  /** TLS 1.3 external PSK instead of certificates: identity = node name; `keys[name]` is that node's key (hex string or Buffer, ≥ 16 bytes). A node needs its own key to dial and its successor's key to listen. */
  psk?: {keys: Record<string, Buffer | string>}
  /**
   * Handshake timeout (TCP connect included when dialing), ms, on the real clock (Node's TLS timers); a node's own
   * admission also ends inbound handshakes at NODE_LIMITS.handshakeTimeoutMs on its clock. @default 10000
   */
  handshakeTimeoutMs?: number
}

/** TLS 1.3 suites offered in PSK mode: OpenSSL derives external PSKs with SHA-256, so SHA-384 suites cannot carry them. */
export const PSK_CIPHERSUITES = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256'

/** Label of the PSK derivation ({@link pskLinkKey}); change it and every peer must change with it. */
const PSK_LABEL = 'chainsync-tls13-psk-v1'
/** Node names (the inventory's device-name pattern, src/config/common.ts NAME_PATTERN). */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const MIN_PSK_BYTES = 16

/**
 * The TLS 1.3 PSK of one link: HMAC-SHA256(key of the dialing node, "chainsync-tls13-psk-v1|<dialer>|<listener>").
 * Binding both names means a dialer completes the handshake only with the listener it meant to reach.
 */
export function pskLinkKey(dialerKey: Buffer, dialer: string, listener: string): Buffer {
  return createHmac('sha256', dialerKey).update(`${PSK_LABEL}|${dialer}|${listener}`).digest()
}

type Auth =
  | {kind: 'cert'; ca: string | Buffer; cert: string | Buffer; key: string | Buffer; context: tls.SecureContext; pins: Map<string, string>}
  | {kind: 'psk'; keys: Map<string, Buffer>}

/**
 * A ChainSync transport over TLS 1.3 with mutual authentication.
 * Inbound identity rule (certificates): the client certificate's subject CN; without a CN, its first DNS SAN.
 * Outbound: the server certificate's CN or one of its DNS SANs must equal `expectedPeer` exactly.
 * @throws InputError `TLS_CONFIG_INVALID` for an unusable configuration (checked here, before any socket).
 */
export function tlsTransport(opts: TlsTransportOptions): ChainSyncTransport {
  const auth = checkOptions(opts)
  const self = opts.self
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? 10_000
  const versions = {minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3'} as const

  return {
    kind: 'tls',
    authenticates: true,

    async listen(host, port, onConnection, onRefused, gate) {
      /** Sockets still in the handshake or being checked: closing the listener ends them. */
      const pending = new Set<net.Socket>()
      /** PSK identity each socket presented (from the PSK callback, the only place it is visible). */
      const pskIdentities = new WeakMap<tls.TLSSocket, {identity: string; known: boolean}>()
      const refused = new WeakSet<tls.TLSSocket>()
      /** The gate's ticket of each admitted TCP connection. */
      const tickets = new WeakMap<net.Socket, InboundTicket>()

      const report = (remote: string, reason: string) => {
        try {
          onRefused(remote, reason)
        } catch {
          // A failing logger must not take the listener down.
        }
      }
      const refuse = (socket: tls.TLSSocket, reason: string) => {
        const raw = tcpOf(socket)
        pending.delete(raw ?? socket)
        tickets.get(raw!)?.handshakeDone()
        // A connection the gate ended (handshake deadline) was reported then; its TLS socket's error is not news.
        if (!refused.has(socket) && !(raw && endedByGate(raw))) {
          refused.add(socket)
          report(remoteOf(socket), reason)
        }
        socket.destroy()
      }

      // The TLS server never listens itself: the gated TCP server below hands it only the connections it admitted.
      const server = tls.createServer({
        ...versions,
        handshakeTimeout: handshakeTimeoutMs,
        ...(auth.kind === 'cert'
          ? {
              ca: auth.ca,
              cert: auth.cert,
              key: auth.key,
              requestCert: true,
              // Verified below from `socket.authorized` (the same OpenSSL chain check against `ca`): with `true`, Node
              // destroys an unverified client before its address can be read, and the refusal could not name the peer.
              rejectUnauthorized: false,
            }
          : {
              ciphers: PSK_CIPHERSUITES,
              pskCallback: (socket: tls.TLSSocket, identity: string) => {
                const key = auth.keys.get(identity)
                pskIdentities.set(socket, {identity, known: key !== undefined})
                // An unknown identity gets no key: the handshake then fails (the PSK is the only way in).
                return key === undefined ? null : pskLinkKey(key, identity, self)
              },
            }),
      })

      server.on('tlsClientError', (error, socket) => {
        const psk = pskIdentities.get(socket)
        refuse(socket, describeServerError(error, handshakeTimeoutMs, psk))
      })

      server.on('secureConnection', (socket: tls.TLSSocket) => {
        socket.on('error', () => socket.destroy())
        const raw = tcpOf(socket)
        if (raw) tickets.get(raw)?.handshakeDone()
        let identity: string
        try {
          const checked = auth.kind === 'cert' ? checkClientCert(socket, auth.pins) : checkPskClient(socket, pskIdentities.get(socket))
          if (!checked.ok) return refuse(socket, checked.reason)
          identity = checked.identity
        } catch (error) {
          return refuse(socket, `cannot check the peer: ${(error as Error).message}`)
        }
        pending.delete(raw ?? socket)
        const peer: PeerInfo = {remote: remoteOf(socket), identity, source: socket.remoteAddress ?? '?', ...(raw && tickets.has(raw) ? {admitted: true} : {})}
        try {
          onConnection(socket, peer)
        } catch {
          socket.destroy()
        }
      })

      // Admission (rate limit, caps) happens here, on the bare TCP connection: a refused peer costs no handshake.
      const tcp = gatedServer(gate, report, (raw, ticket) => {
        if (ticket) tickets.set(raw, ticket)
        pending.add(raw)
        raw.once('close', () => pending.delete(raw))
        // tls.Server's own connection listener wraps it and starts the handshake.
        server.emit('connection', raw)
      })
      const listener: ChainSyncListener = {
        address: await listenOn(tcp, host, port),
        close: () =>
          new Promise<void>((resolve) => {
            for (const s of pending) s.destroy()
            pending.clear()
            tcp.close(() => resolve())
          }),
      }
      return listener
    },

    connect(host, port, expectedPeer) {
      return new Promise<ChainSyncSocket>((resolve, reject) => {
        let settled = false
        let timer: NodeJS.Timeout | undefined
        const fail = (reason: string, cause?: unknown) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          socket.destroy()
          reject(new ChainupError(`TLS connection to ${expectedPeer} at ${host}:${port} refused: ${reason}`, {code: 'CHAINSYNC_TLS_CONNECT', cause}))
        }
        let socket: tls.TLSSocket
        if (auth.kind === 'cert') {
          const pin = auth.pins.get(expectedPeer)
          socket = tls.connect({
            ...versions,
            host,
            port,
            // ca (the only trust anchor), our certificate and key, parsed once.
            secureContext: auth.context,
            rejectUnauthorized: true,
            // Called only after the chain verified against `ca`; an Error return aborts the handshake.
            checkServerIdentity: (_host, cert) => {
              const names = certNames(cert)
              if (!names.cn.includes(expectedPeer) && !names.dns.includes(expectedPeer)) {
                return identityError(`server certificate names ${describeNames(names)}, expected "${expectedPeer}"`)
              }
              if (pin !== undefined && cert.fingerprint256 !== pin) {
                return identityError(`server certificate of "${expectedPeer}" does not match its pin (got ${cert.fingerprint256})`)
              }
              return undefined
            },
          })
        } else {
          const own = auth.keys.get(self)
          if (own === undefined) {
            reject(new InputError(`TLS-PSK: no key for this node "${self}": it needs its own key to dial ${expectedPeer}`, {code: 'TLS_CONFIG_INVALID'}))
            return
          }
          socket = tls.connect({
            ...versions,
            host,
            port,
            ciphers: PSK_CIPHERSUITES,
            pskCallback: () => ({identity: self, psk: pskLinkKey(own, self, expectedPeer)}),
            // No certificate in PSK mode: the listener proves it holds the link key, which names it (pskLinkKey). Node
            // calls this after every handshake (with an empty certificate after a PSK one); a listener that presented
            // a certificate instead did not use our PSK at all, however well its certificate verifies against the
            // system's trust store: refused.
            checkServerIdentity: (_host, cert) => (presentsCertificate(cert) ? identityError(pskCertificateRefusal(cert, expectedPeer)) : undefined),
          })
        }
        // A socket-level timeout of the transport, on the real clock like the server side's `handshakeTimeout` (Node's
        // tls.Server has no clock port): it bounds a TLS handshake, not a protocol timer of the node (src/util/clock.ts).
        timer = setTimeout(() => fail(`TLS handshake timed out after ${handshakeTimeoutMs} ms`), handshakeTimeoutMs)
        // Stays attached: errors after the handshake must never become uncaught exceptions (the node adds its own handler).
        socket.on('error', (error) => fail(describeClientError(error, auth.kind), error))
        socket.once('close', () => fail('connection closed during the TLS handshake'))
        socket.once('secureConnect', () => {
          if (settled) return
          if (socket.getProtocol() !== 'TLSv1.3') return fail(`negotiated ${socket.getProtocol() ?? 'no protocol'}, TLS 1.3 required`)
          if (auth.kind === 'psk') {
            // Belt and braces to checkServerIdentity: a PSK link has no certificate.
            const cert = socket.getPeerCertificate()
            if (presentsCertificate(cert)) return fail(pskCertificateRefusal(cert, expectedPeer))
          }
          settled = true
          clearTimeout(timer)
          // TLS 1.3: the server checks our certificate after this point; if it refuses us, this socket just closes.
          resolve(socket)
        })
      })
    },
  }
}

// --- configuration -----------------------------------------------------------

function checkOptions(opts: TlsTransportOptions): Auth {
  const problems: string[] = []
  if (!NODE_NAME.test(opts.self)) problems.push(`self: "${opts.self}" is not a node name`)
  if (opts.handshakeTimeoutMs !== undefined && !(opts.handshakeTimeoutMs > 0)) problems.push(`handshakeTimeoutMs: expected a positive number of ms, got ${opts.handshakeTimeoutMs}`)
  const certParts = [opts.ca, opts.cert, opts.key].filter((x) => x !== undefined).length
  if (opts.psk && certParts > 0) problems.push('give either ca/cert/key or psk, not both')
  else if (!opts.psk && certParts !== 3) problems.push(certParts === 0 ? 'give ca, cert and key, or psk' : 'ca, cert and key go together: one of them is missing')
  if (opts.psk && opts.pins) problems.push('pins: certificate pins have no meaning in PSK mode')
  if (problems.length > 0) throw configError(problems)

  if (opts.psk) {
    const keys = new Map<string, Buffer>()
    for (const [name, value] of Object.entries(opts.psk.keys)) {
      const key = typeof value === 'string' ? (/^(?:[0-9a-fA-F]{2})+$/.test(value) ? Buffer.from(value, 'hex') : undefined) : Buffer.from(value)
      if (!NODE_NAME.test(name)) problems.push(`psk.keys: "${name}" is not a node name`)
      else if (key === undefined) problems.push(`psk.keys.${name}: expected hex digits or a Buffer`)
      else if (key.length < MIN_PSK_BYTES) problems.push(`psk.keys.${name}: ${key.length} bytes, at least ${MIN_PSK_BYTES} needed (32 random bytes recommended: openssl rand -hex 32)`)
      else keys.set(name, key)
    }
    if (problems.length > 0) throw configError(problems)
    return {kind: 'psk', keys}
  }

  const {ca, cert, key} = opts as Required<Pick<TlsTransportOptions, 'ca' | 'cert' | 'key'>>
  let context: tls.SecureContext
  try {
    context = tls.createSecureContext({ca, cert, key, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3'})
  } catch (error) {
    throw configError([`ca/cert/key: ${(error as Error).message}`], error)
  }
  let own: X509Certificate
  try {
    own = new X509Certificate(cert)
  } catch (error) {
    throw configError([`cert: not a PEM certificate (${(error as Error).message})`], error)
  }
  const ownNames = x509Names(own)
  if (!ownNames.cn.includes(opts.self) && !ownNames.dns.includes(opts.self)) {
    problems.push(`cert: names ${describeNames(ownNames)}, not this node "${opts.self}" (its CN or a DNS SAN must be the node name)`)
  }
  const pins = new Map<string, string>()
  for (const [name, value] of Object.entries(opts.pins ?? {})) {
    const pin = normalizePin(value)
    if (pin === undefined) problems.push(`pins.${name}: expected a SHA-256 fingerprint such as "AB:CD:…" (32 bytes in hex)`)
    else pins.set(name, pin)
  }
  if (problems.length > 0) throw configError(problems)
  return {kind: 'cert', ca, cert, key, context, pins}
}

function configError(problems: string[], cause?: unknown): InputError {
  return new InputError('invalid ChainSync TLS configuration', {
    code: 'TLS_CONFIG_INVALID',
    problems,
    hint: 'see docs/chainsync-security.md',
    ...(cause === undefined ? {} : {cause}),
  })
}

/** "ab:cd…" or "ABCD…" → "AB:CD:…" (Node's `fingerprint256` form); undefined when it is not 32 bytes of hex. */
function normalizePin(value: string): string | undefined {
  const hex = value.replace(/:/g, '').toUpperCase()
  if (!/^[0-9A-F]{64}$/.test(hex)) return undefined
  return hex.match(/../g)!.join(':')
}

// --- peer checks -------------------------------------------------------------

type Checked = {ok: true; identity: string} | {ok: false; reason: string}

/** Inbound, certificates: chain verified, TLS 1.3, a fresh handshake, a node name, and its pin if any. */
function checkClientCert(socket: tls.TLSSocket, pins: Map<string, string>): Checked {
  if (socket.getProtocol() !== 'TLSv1.3') return {ok: false, reason: `negotiated ${socket.getProtocol() ?? 'no protocol'}, TLS 1.3 required`}
  const cert = socket.getPeerCertificate()
  if (!cert || Object.keys(cert).length === 0) return {ok: false, reason: 'client presented no certificate'}
  if (!socket.authorized) {
    return {ok: false, reason: `client certificate ${describeNames(certNames(cert))} rejected: ${describeVerifyError(String(socket.authorizationError))}`}
  }
  if (socket.isSessionReused()) return {ok: false, reason: 'session resumption is not accepted'}
  const names = certNames(cert)
  const identity = names.cn.length > 0 ? names.cn : names.dns.slice(0, 1)
  if (identity.length !== 1) {
    return {ok: false, reason: identity.length === 0 ? 'client certificate names no node (no CN, no DNS SAN)' : `client certificate has ${identity.length} CNs: ambiguous identity`}
  }
  const name = identity[0]!
  if (!NODE_NAME.test(name)) return {ok: false, reason: `client certificate names ${JSON.stringify(name)}, which is not a node name`}
  const pin = pins.get(name)
  if (pin !== undefined && cert.fingerprint256 !== pin) return {ok: false, reason: `client certificate of "${name}" does not match its pin (got ${cert.fingerprint256})`}
  return {ok: true, identity: name}
}

/** Inbound, PSK: the identity whose key completed the handshake. */
function checkPskClient(socket: tls.TLSSocket, psk: {identity: string; known: boolean} | undefined): Checked {
  if (socket.getProtocol() !== 'TLSv1.3') return {ok: false, reason: `negotiated ${socket.getProtocol() ?? 'no protocol'}, TLS 1.3 required`}
  // A handshake that never asked for our external PSK is a ticket resumption: it proves no node name.
  if (!psk?.known) return {ok: false, reason: 'no PSK identity presented (session resumption is not accepted)'}
  return {ok: true, identity: psk.identity}
}

interface CertNames {
  cn: string[]
  dns: string[]
}

/** Subject CN(s) and DNS SANs of a peer certificate as Node reports it. */
function certNames(cert: tls.PeerCertificate): CertNames {
  const cn = (cert.subject as tls.Certificate | undefined)?.CN
  return {cn: cn === undefined ? [] : ([] as string[]).concat(cn), dns: parseDnsSans(cert.subjectaltname)}
}

function x509Names(cert: X509Certificate): CertNames {
  const cn = cert.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3))
  return {cn, dns: parseDnsSans(cert.subjectAltName)}
}

/** `DNS:a, DNS:b, IP Address:…` → [a, b]. Node quotes values with special characters; those never equal a node name. */
function parseDnsSans(san: string | undefined): string[] {
  if (!san) return []
  return san
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4))
}

function describeNames(names: CertNames): string {
  const parts = [...names.cn.map((n) => `CN=${JSON.stringify(n)}`), ...names.dns.map((n) => `DNS:${JSON.stringify(n)}`)]
  return parts.length > 0 ? parts.join(' ') : '(no CN, no DNS SAN)'
}

/** A handshake's peer certificate is a real one (Node reports `{}` when the peer presented none, as after a PSK handshake). */
function presentsCertificate(cert: tls.PeerCertificate | undefined): cert is tls.PeerCertificate {
  return cert !== undefined && cert !== null && Object.keys(cert).length > 0
}

function pskCertificateRefusal(cert: tls.PeerCertificate, expectedPeer: string): string {
  return `the listener presented a certificate (${describeNames(certNames(cert))}) instead of using the PSK of "${expectedPeer}": a ChainSync PSK listener never does`
}

function identityError(message: string): Error {
  return Object.assign(new Error(message), {code: 'ERR_CHAINSYNC_PEER_IDENTITY'})
}

/** The TCP connection under a server-side TLS socket (Node keeps it as `_parent` when it wraps a net.Socket). */
function tcpOf(socket: tls.TLSSocket): net.Socket | undefined {
  const parent = (socket as unknown as {_parent?: unknown})._parent
  return parent instanceof net.Socket ? parent : undefined
}

// --- reasons -----------------------------------------------------------------

function describeVerifyError(code: string): string {
  switch (code) {
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return `not issued by the configured CA (${code})`
    case 'CERT_HAS_EXPIRED':
      return 'certificate expired (CERT_HAS_EXPIRED)'
    case 'CERT_NOT_YET_VALID':
      return 'certificate not yet valid: check the clocks (CERT_NOT_YET_VALID)'
    case 'INVALID_PURPOSE':
      return 'certificate not usable for this purpose: it needs EKU serverAuth and clientAuth (INVALID_PURPOSE)'
    default:
      return code
  }
}

const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_HTTP_REQUEST', 'ERR_SSL_HTTPS_PROXY_REQUEST', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_EXCESSIVE_MESSAGE_SIZE', 'ERR_SSL_RECORD_LENGTH_MISMATCH', 'ERR_SSL_UNKNOWN_PROTOCOL'])

/** A listener-side handshake failure as one clear line. */
function describeServerError(error: Error & {code?: string}, timeoutMs: number, psk: {identity: string; known: boolean} | undefined): string {
  const code = error.code ?? ''
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return `TLS handshake not completed within ${timeoutMs} ms`
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'peer closed the connection during the TLS handshake'
  if (code === 'ERR_SSL_UNSUPPORTED_PROTOCOL') return 'client does not offer TLS 1.3 (ERR_SSL_UNSUPPORTED_PROTOCOL)'
  if (NOT_TLS.has(code)) return `not a TLS 1.3 ClientHello: plain TCP or another protocol (${code})`
  if (psk && !psk.known) return `unknown PSK identity ${JSON.stringify(psk.identity)} (${code || error.message})`
  if (psk && code === 'ERR_SSL_BINDER_DOES_NOT_VERIFY') return `wrong PSK for "${psk.identity}" (${code})`
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'client presented no certificate'
  return `TLS handshake failed (${code || 'no code'}): ${opensslReason(error.message)}`
}

/** A dialer-side failure as one clear line. */
function describeClientError(error: Error & {code?: string}, mode: Auth['kind']): string {
  const code = error.code ?? ''
  if (code === 'ERR_CHAINSYNC_PEER_IDENTITY') return error.message
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return `the listener does not speak TLS (plain TCP?) (${code})`
  if (code === 'ECONNRESET') return 'connection reset during the TLS handshake (the listener may not speak TLS)'
  if (code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') return 'the listener requires a client certificate'
  if (code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION') return 'the listener does not accept TLS 1.3'
  if (mode === 'psk' && /CERT|SIGNATURE|ISSUER/.test(code)) {
    return `the listener presented a certificate (${code}): a ChainSync PSK listener never does, so it is not the expected node`
  }
  if (mode === 'psk' && /ALERT_(ILLEGAL_PARAMETER|DECRYPT_ERROR|HANDSHAKE_FAILURE)/.test(code)) {
    return `the listener rejected our PSK: wrong key, or it is not the expected node (${code})`
  }
  if (code.startsWith('ERR_SSL_') && code.includes('ALERT')) return `the listener refused the handshake (${code})`
  if (/CERT|SIGNATURE|ISSUER/.test(code)) return `server certificate ${describeVerifyError(code)}`
  return `${code ? `${code}: ` : ''}${opensslReason(error.message)}`
}

/** OpenSSL's reason ("unexpected message") out of its error line (`…:error:0A0000F4:SSL routines:func:reason:file:line:`). */
function opensslReason(text: string): string {
  const line = text.split('\n')[0]!.trim()
  return /:error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:]+):/.exec(line)?.[1] ?? line
}
