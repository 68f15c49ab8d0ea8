import {execFileSync} from 'node:child_process'
import {randomBytes, randomUUID} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import tls from 'node:tls'

import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {InputError} from '../../../src/errors.js'
import {fingerprint256, initCerts, type CertBundle} from '../../../src/protocol/certs.js'
import {ChainSyncNode, type NodeLogEntry} from '../../../src/protocol/node.js'
import {PSK_CIPHERSUITES, pskLinkKey, tlsTransport, type TlsTransportOptions} from '../../../src/protocol/tls.js'
import type {ChainSyncListener, ChainSyncSocket, ChainSyncTransport, PeerInfo} from '../../../src/protocol/transport.js'

const HOST = '127.0.0.1'
/** The openssl CLI checks (docs' commands, PSK derivation) need it; Debian and CI have it. */
const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
})()
let dir: string
let pki: CertBundle
let otherPki: CertBundle

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-tls-'))
  pki = await initCerts(join(dir, 'pki'), ['sw1', 'sw2', 'sw3'])
  otherPki = await initCerts(join(dir, 'other'), ['sw1', 'sw2'])
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** Certificate options of node `name` from `bundle` (trusting `bundle`'s CA unless `ca` is given). */
function certOpts(name: string, bundle: CertBundle = pki, extra: Partial<TlsTransportOptions> = {}): TlsTransportOptions {
  const node = bundle.nodes[name]!
  return {self: name, ca: bundle.ca, cert: node.cert, key: node.key, ...extra}
}

interface Listening {
  listener: ChainSyncListener
  port: number
  connections: Array<{socket: ChainSyncSocket; peer: PeerInfo}>
  refused: Array<{remote: string; reason: string}>
  /** Resolves with the next refusal (or one that already happened). */
  nextRefusal(): Promise<{remote: string; reason: string}>
  nextConnection(): Promise<{socket: ChainSyncSocket; peer: PeerInfo}>
}

/** Listens with `transport`; every accepted socket answers each line with `ECHO:<line>`. */
async function listen(transport: ChainSyncTransport): Promise<Listening> {
  const connections: Listening['connections'] = []
  const refused: Listening['refused'] = []
  const waiters: {refused: Array<() => void>; connected: Array<() => void>} = {refused: [], connected: []}
  const listener = await transport.listen(
    HOST,
    0,
    (socket, peer) => {
      connections.push({socket, peer})
      let buffer = ''
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString()
        let nl
        while ((nl = buffer.indexOf('\n')) >= 0) {
          socket.write(`ECHO:${buffer.slice(0, nl)}\n`)
          buffer = buffer.slice(nl + 1)
        }
      })
      for (const w of waiters.connected.splice(0)) w()
    },
    (remote, reason) => {
      refused.push({remote, reason})
      for (const w of waiters.refused.splice(0)) w()
    },
  )
  cleanup.push(() => {
    for (const c of connections) c.socket.destroy()
    return listener.close()
  })
  /** Resolves with list[index] once it exists. */
  const waitFor = <T>(list: T[], key: 'refused' | 'connected', index: number) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${key} event #${index + 1} within 5 s`)), 5000)
      const check = () => {
        const item = list[index]
        if (item === undefined) return void waiters[key].push(check)
        clearTimeout(timer)
        resolve(item)
      }
      check()
    })
  let refusalsTaken = 0
  let connectionsTaken = 0
  return {
    listener,
    port: listener.address.port,
    connections,
    refused,
    nextRefusal: () => waitFor(refused, 'refused', refusalsTaken++),
    nextConnection: () => waitFor(connections, 'connected', connectionsTaken++),
  }
}

/** Writes a line and resolves with the first line that comes back. */
function roundTrip(socket: ChainSyncSocket, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = ''
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString()
      const nl = buffer.indexOf('\n')
      if (nl >= 0) {
        socket.off('data', onData)
        resolve(buffer.slice(0, nl))
      }
    }
    socket.on('data', onData)
    socket.once('close', () => reject(new Error('closed before a reply')))
    socket.write(`${line}\n`)
  })
}

async function dial(transport: ChainSyncTransport, port: number, expectedPeer: string): Promise<ChainSyncSocket> {
  const socket = await transport.connect(HOST, port, expectedPeer)
  cleanup.push(() => socket.destroy())
  return socket
}

/** A raw node:tls client (for clients the transport would never build); resolves when the connection closes. */
function rawTlsClient(port: number, options: tls.ConnectionOptions): Promise<{secure: boolean; error?: string}> {
  return new Promise((resolve) => {
    let secure = false
    let error: string | undefined
    const s = tls.connect({host: HOST, port, checkServerIdentity: () => undefined, ...options}, () => {
      secure = true
      s.write('HELLO:sw2\n')
    })
    cleanup.push(() => s.destroy())
    s.on('error', (e: Error & {code?: string}) => (error = e.code ?? e.message))
    s.on('close', () => resolve(error === undefined ? {secure} : {secure, error}))
    s.resume()
  })
}

/** A raw TCP client that writes `payload` (if any) and waits for the close. */
function rawTcpClient(port: number, payload?: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({host: HOST, port}, () => payload !== undefined && s.write(payload))
    cleanup.push(() => s.destroy())
    s.on('error', () => undefined)
    s.on('close', () => resolve())
    s.resume()
  })
}

describe('tlsTransport with certificates', () => {
  it('connects a valid pair over TLS 1.3 and carries a line both ways; the listener reports the client CN', async () => {
    const server = await listen(tlsTransport(certOpts('sw1')))
    const client = (await dial(tlsTransport(certOpts('sw2')), server.port, 'sw1')) as tls.TLSSocket
    expect(client.getProtocol()).toBe('TLSv1.3')
    expect(await roundTrip(client, 'HELLO:sw2')).toBe('ECHO:HELLO:sw2')
    const {socket, peer} = await server.nextConnection()
    expect((socket as tls.TLSSocket).getProtocol()).toBe('TLSv1.3')
    expect(peer.identity).toBe('sw2')
    expect(peer.remote).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(peer.source).toBe('127.0.0.1')
    expect(server.refused).toEqual([])
  })

  it('refuses a client without a certificate', async () => {
    const server = await listen(tlsTransport(certOpts('sw1')))
    await rawTlsClient(server.port, {ca: pki.ca, minVersion: 'TLSv1.3'})
    const r = await server.nextRefusal()
    expect(r.reason).toBe('client presented no certificate')
    expect(r.remote).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(server.connections).toEqual([])
  })

  it('refuses a client certificate from another CA, naming the certificate and the cause', async () => {
    const server = await listen(tlsTransport(certOpts('sw1')))
    // Trusts our CA (so it gets as far as presenting its certificate) but its own certificate is from the other CA.
    const client = tlsTransport({self: 'sw2', ca: pki.ca, cert: otherPki.nodes.sw2!.cert, key: otherPki.nodes.sw2!.key})
    // TLS 1.3: the client's handshake completes before the listener checks its certificate, then the socket closes.
    const socket = await dial(client, server.port, 'sw1')
    await new Promise((r) => socket.once('close', r))
    const r = await server.nextRefusal()
    expect(r.reason).toBe('client certificate CN="sw2" DNS:"sw2" rejected: not issued by the configured CA (UNABLE_TO_VERIFY_LEAF_SIGNATURE)')
    expect(r.remote).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(server.connections).toEqual([])
  })

  it('fails to connect to a server whose certificate is from another CA', async () => {
    const server = await listen(tlsTransport(certOpts('sw1', otherPki)))
    await expect(tlsTransport(certOpts('sw2')).connect(HOST, server.port, 'sw1')).rejects.toThrow(
      /TLS connection to sw1 at 127\.0\.0\.1:\d+ refused: server certificate not issued by the configured CA/,
    )
  })

  it('reports the identity of a valid certificate of the wrong device (sw3), leaving the successor check to the node', async () => {
    const server = await listen(tlsTransport(certOpts('sw1')))
    await dial(tlsTransport(certOpts('sw3')), server.port, 'sw1')
    const {peer} = await server.nextConnection()
    expect(peer.identity).toBe('sw3')
  })

  it('refuses to connect when the server presents a valid certificate of another device', async () => {
    const server = await listen(tlsTransport(certOpts('sw3')))
    await expect(tlsTransport(certOpts('sw1')).connect(HOST, server.port, 'sw2')).rejects.toThrow(
      'refused: server certificate names CN="sw3" DNS:"sw3", expected "sw2"',
    )
    // The listener sees the dialer abort the handshake.
    expect((await server.nextRefusal()).reason).toBe('peer closed the connection during the TLS handshake')
    expect(server.connections).toEqual([])
  })

  it('checks pins both ways: a matching pin passes, a mismatch is refused', async () => {
    const fp = (name: string) => fingerprint256(pki.nodes[name]!.cert)
    expect(fp('sw2')).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)

    // Listener pins sw2 to sw3's fingerprint: the genuine sw2 does not match.
    const strict = await listen(tlsTransport(certOpts('sw1', pki, {pins: {sw2: fp('sw3')}})))
    const socket = await dial(tlsTransport(certOpts('sw2')), strict.port, 'sw1')
    await new Promise((r) => socket.once('close', r))
    expect((await strict.nextRefusal()).reason).toBe(`client certificate of "sw2" does not match its pin (got ${fp('sw2')})`)
    expect(strict.connections).toEqual([])

    // Correct pins (lower case without colons is accepted too) let the pair in, both ways.
    const pinned = await listen(tlsTransport(certOpts('sw1', pki, {pins: {sw2: fp('sw2').replace(/:/g, '').toLowerCase()}})))
    const ok = await dial(tlsTransport(certOpts('sw2', pki, {pins: {sw1: fp('sw1')}})), pinned.port, 'sw1')
    expect(await roundTrip(ok, 'x')).toBe('ECHO:x')
    expect((await pinned.nextConnection()).peer.identity).toBe('sw2')

    // The dialer pins sw1 wrongly: it refuses the server.
    await expect(tlsTransport(certOpts('sw2', pki, {pins: {sw1: fp('sw3')}})).connect(HOST, pinned.port, 'sw1')).rejects.toThrow(
      `server certificate of "sw1" does not match its pin (got ${fp('sw1')})`,
    )
  })

  it('refuses a plain TCP client that speaks ChainSync, and one that says nothing (handshake timeout)', async () => {
    const server = await listen(tlsTransport(certOpts('sw1', pki, {handshakeTimeoutMs: 300})))
    await rawTcpClient(server.port, 'HELLO:sw2\n')
    const r = await server.nextRefusal()
    expect(r.reason).toBe('not a TLS 1.3 ClientHello: plain TCP or another protocol (ERR_SSL_WRONG_VERSION_NUMBER)')
    expect(r.remote).toMatch(/^127\.0\.0\.1:\d+$/)

    const t0 = Date.now()
    await rawTcpClient(server.port)
    expect((await server.nextRefusal()).reason).toBe('TLS handshake not completed within 300 ms')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250)
    expect(server.connections).toEqual([])
  })

  it('a TLS client fails cleanly against a plain TCP server, whether it answers or stays silent', async () => {
    // Both read what they get (a paused socket would never see the client's FIN, and close() would wait for it).
    const talkative = net.createServer((s) => {
      s.on('error', () => undefined).resume()
      s.end('READY:0123\n')
    })
    const silent = net.createServer((s) => s.on('error', () => undefined).resume())
    const sockets: net.Socket[] = []
    silent.on('connection', (s) => sockets.push(s))
    for (const srv of [talkative, silent]) {
      await new Promise<void>((r) => srv.listen(0, HOST, r))
      cleanup.push(() => new Promise((r) => srv.close(r)))
    }
    cleanup.push(() => sockets.forEach((s) => s.destroy()))
    const client = tlsTransport(certOpts('sw2', pki, {handshakeTimeoutMs: 300}))
    await expect(client.connect(HOST, (talkative.address() as net.AddressInfo).port, 'sw1')).rejects.toThrow(/refused: the listener does not speak TLS \(plain TCP\?\)/)
    await expect(client.connect(HOST, (silent.address() as net.AddressInfo).port, 'sw1')).rejects.toThrow(/refused: TLS handshake timed out after 300 ms/)
  })

  it('refuses a TLS 1.2-only client', async () => {
    const server = await listen(tlsTransport(certOpts('sw1')))
    const node = pki.nodes.sw2!
    const result = await rawTlsClient(server.port, {ca: pki.ca, cert: node.cert, key: node.key, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2'})
    expect(result).toEqual({secure: false, error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'})
    expect((await server.nextRefusal()).reason).toBe('client does not offer TLS 1.3 (ERR_SSL_UNSUPPORTED_PROTOCOL)')
  })

  it('refuses to dial a TLS 1.2-only listener', async () => {
    const old = tls.createServer({ca: pki.ca, cert: pki.nodes.sw1!.cert, key: pki.nodes.sw1!.key, maxVersion: 'TLSv1.2', requestCert: true})
    old.on('tlsClientError', () => undefined)
    await new Promise<void>((r) => old.listen(0, HOST, r))
    cleanup.push(() => new Promise((r) => old.close(r)))
    await expect(tlsTransport(certOpts('sw2')).connect(HOST, (old.address() as net.AddressInfo).port, 'sw1')).rejects.toThrow(/^TLS connection to sw1 at 127\.0\.0\.1:\d+ refused: the listener does not accept TLS 1\.3$/)
  })

  it('survives garbage and half handshakes, then still accepts a valid client', async () => {
    const server = await listen(tlsTransport(certOpts('sw1', pki, {handshakeTimeoutMs: 500})))
    const payloads: Buffer[] = [
      randomBytes(1),
      randomBytes(300),
      Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), randomBytes(512)]), // a handshake record header, then noise
      Buffer.from([0x16, 0x03, 0x03, 0xff, 0xff]), // claims a 64 KiB record, sends nothing more
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    ]
    await Promise.all(payloads.map((p) => rawTcpClient(server.port, p)))
    await Promise.all(Array.from({length: 20}, () => rawTcpClient(server.port, randomBytes(1 + Math.floor(Math.random() * 2000)))))
    expect(server.refused.length).toBeGreaterThanOrEqual(payloads.length)
    const ok = await dial(tlsTransport(certOpts('sw2')), server.port, 'sw1')
    expect(await roundTrip(ok, 'still here')).toBe('ECHO:still here')
  })

  it('rejects unusable configurations before any socket exists, listing every problem', () => {
    const problems = (opts: TlsTransportOptions) => {
      try {
        tlsTransport(opts)
      } catch (error) {
        expect(error).toBeInstanceOf(InputError)
        expect((error as InputError).code).toBe('TLS_CONFIG_INVALID')
        return (error as InputError).problems
      }
      throw new Error('no error')
    }
    expect(problems({self: 'sw1'})).toEqual(['give ca, cert and key, or psk'])
    expect(problems({self: 'sw1', ca: pki.ca})).toEqual(['ca, cert and key go together: one of them is missing'])
    expect(problems({...certOpts('sw1'), psk: {keys: {}}})).toEqual(['give either ca/cert/key or psk, not both'])
    expect(problems(certOpts('sw1', pki, {self: 'sw2', pins: {sw3: 'AB:CD'}}))).toEqual([
      'cert: names CN="sw1" DNS:"sw1", not this node "sw2" (its CN or a DNS SAN must be the node name)',
      'pins.sw3: expected a SHA-256 fingerprint such as "AB:CD:…" (32 bytes in hex)',
    ])
    expect(problems({...certOpts('sw1'), key: pki.nodes.sw2!.key})[0]).toMatch(/^ca\/cert\/key: .*key values mismatch/)
    expect(problems({self: 'sw1', psk: {keys: {sw1: 'abcd', sw2: 'xyz', 'bad name': randomBytes(32)}}})).toEqual([
      'psk.keys.sw1: 2 bytes, at least 16 needed (32 random bytes recommended: openssl rand -hex 32)',
      'psk.keys.sw2: expected hex digits or a Buffer',
      'psk.keys: "bad name" is not a node name',
    ])
    expect(problems({self: 'sw1', psk: {keys: {}}, pins: {}})).toEqual(['pins: certificate pins have no meaning in PSK mode'])
  })

  it.skipIf(!hasOpenssl)('works with certificates made by the openssl commands of docs/chainsync-security.md', async () => {
    const docs = readFileSync(new URL('../../../docs/chainsync-security.md', import.meta.url), 'utf8')
    const script = /<!-- openssl-init -->\s*```sh[^\n]*\n([\s\S]*?)```/.exec(docs)?.[1]
    expect(script).toBeDefined()
    const work = mkdtempSync(join(tmpdir(), 'chainup-openssl-'))
    cleanup.push(() => rmSync(work, {recursive: true, force: true}))
    writeFileSync(join(work, 'init.sh'), `set -eu\nNODES="sw1 sw2"\n${script!}`)
    execFileSync('sh', ['init.sh'], {cwd: work, stdio: 'pipe'})
    const read = (f: string) => readFileSync(join(work, f), 'utf8')
    const opts = (name: string): TlsTransportOptions => ({self: name, ca: read('ca.crt'), cert: read(`${name}.crt`), key: read(`${name}.key`)})
    const server = await listen(tlsTransport(opts('sw1')))
    const socket = await dial(tlsTransport(opts('sw2')), server.port, 'sw1')
    expect(await roundTrip(socket, 'HELLO:sw2')).toBe('ECHO:HELLO:sw2')
    expect((await server.nextConnection()).peer.identity).toBe('sw2')
  })
})

describe('tlsTransport with TLS 1.3 PSK', () => {
  const keys = {sw1: randomBytes(32), sw2: randomBytes(32).toString('hex'), sw3: randomBytes(32)}

  it('connects a PSK pair (identity = node name, a SHA-256 suite) and carries lines both ways', async () => {
    const server = await listen(tlsTransport({self: 'sw1', psk: {keys}}))
    const client = (await dial(tlsTransport({self: 'sw2', psk: {keys}}), server.port, 'sw1')) as tls.TLSSocket
    expect(client.getProtocol()).toBe('TLSv1.3')
    expect(PSK_CIPHERSUITES.split(':')).toContain(client.getCipher().standardName)
    expect(await roundTrip(client, 'HELLO:sw2')).toBe('ECHO:HELLO:sw2')
    expect((await server.nextConnection()).peer.identity).toBe('sw2')
    expect(server.refused).toEqual([])
  })

  it('refuses a wrong key, an unknown identity, and a dialer that meant another listener', async () => {
    const server = await listen(tlsTransport({self: 'sw1', psk: {keys}}))
    const wrong = tlsTransport({self: 'sw2', psk: {keys: {sw2: randomBytes(32)}}})
    await expect(wrong.connect(HOST, server.port, 'sw1')).rejects.toThrow(/refused: the listener rejected our PSK: wrong key, or it is not the expected node/)
    expect((await server.nextRefusal()).reason).toBe('wrong PSK for "sw2" (ERR_SSL_BINDER_DOES_NOT_VERIFY)')

    const stranger = tlsTransport({self: 'sw9', psk: {keys: {sw9: randomBytes(32)}}})
    await expect(stranger.connect(HOST, server.port, 'sw1')).rejects.toThrow(/refused/)
    expect((await server.nextRefusal()).reason).toMatch(/^unknown PSK identity "sw9"/)

    // sw2 holds the right key but dials sw3's listener believing it is sw1: the link key names sw1, so it fails.
    const sw3 = await listen(tlsTransport({self: 'sw3', psk: {keys}}))
    await expect(tlsTransport({self: 'sw2', psk: {keys}}).connect(HOST, sw3.port, 'sw1')).rejects.toThrow(/rejected our PSK/)
    expect((await sw3.nextRefusal()).reason).toBe('wrong PSK for "sw2" (ERR_SSL_BINDER_DOES_NOT_VERIFY)')
    expect(server.connections).toEqual([])
    expect(sw3.connections).toEqual([])
  })

  it.skipIf(!hasOpenssl)('derives the link key as documented (HMAC-SHA256 over label, dialer, listener)', () => {
    const k = Buffer.alloc(32, 1)
    expect(pskLinkKey(k, 'sw2', 'sw1').toString('hex')).toBe(
      execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${k.toString('hex')}`, '-r'], {input: 'chainsync-tls13-psk-v1|sw2|sw1'})
        .toString()
        .split(' ')[0],
    )
  })
})

describe('ChainSync nodes over tlsTransport', () => {
  const nodes: ChainSyncNode[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.close()))
  })

  it('runs one full round between two nodes over mutual TLS', async () => {
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({name: 'sw1', listen: {host: HOST, port: 0}, successor: {name: 'sw2'}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 5000, transport: tlsTransport(certOpts('sw1')), log: (e) => logs.push(e)})
    const tail = new ChainSyncNode({name: 'sw2', listen: {host: HOST, port: 0}, predecessor: {name: 'sw1', host: HOST, port: 0}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 5000, transport: tlsTransport(certOpts('sw2')), log: (e) => logs.push(e)})
    nodes.push(head, tail)
    await Promise.all([head.listen(), tail.listen()])
    tail.setPredecessorAddress(HOST, head.address.port)
    await Promise.all([head.connect(), tail.connect()])

    const roundId = randomUUID()
    const started: string[] = []
    for (const n of [head, tail]) {
      n.join(roundId)
      n.on('startTask', () => {
        started.push(n.name)
        setImmediate(() => n.taskFinished(roundId))
      })
    }
    const done = new Promise<void>((resolve, reject) => {
      head.on('exit', ({chainDone}) => (chainDone ? resolve() : reject(new Error('head exit without chainDone'))))
      for (const n of [head, tail]) n.on('halted', ({reason}) => reject(new Error(reason)))
    })
    head.locallyReady(roundId)
    tail.locallyReady(roundId)
    await done
    expect(started).toEqual(['sw1', 'sw2'])
    expect(head.draftMessagesSent(roundId) + tail.draftMessagesSent(roundId)).toBe(4)
    expect(logs.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([])
  })

  it('refuses sw2 dialing with sw3\'s certificate: sw1 logs the refusal and no link forms', async () => {
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({name: 'sw1', listen: {host: HOST, port: 0}, successor: {name: 'sw2'}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 1500, transport: tlsTransport(certOpts('sw1')), log: (e) => logs.push(e)})
    // The impostor: node "sw2" holding a valid certificate, but sw3's.
    const impostor = new ChainSyncNode({name: 'sw2', listen: {host: HOST, port: 0}, predecessor: {name: 'sw1', host: HOST, port: 0}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 1500, transport: tlsTransport(certOpts('sw3')), log: (e) => logs.push(e)})
    nodes.push(head, impostor)
    await Promise.all([head.listen(), impostor.listen()])
    impostor.setPredecessorAddress(HOST, head.address.port)
    const [headResult, impostorResult] = await Promise.allSettled([head.connect(), impostor.connect()])
    expect(headResult.status).toBe('rejected')
    expect((headResult as PromiseRejectedResult).reason.message).toMatch(/^node sw1: successor sw2 did not connect/)
    expect(impostorResult.status).toBe('rejected')
    const refusal = logs.find((l) => l.node === 'sw1' && l.level === 'warn')
    expect(refusal?.message).toMatch(/^refused connection from 127\.0\.0\.1:\d+: authenticated as "sw3", expected successor "sw2"$/)
    // TLS 1.3: the impostor's handshake completed; it learns of the refusal only when no HELLO comes back.
    expect(logs.some((l) => l.node === 'sw2' && /connection closed before HELLO \(refused by the predecessor\?\)/.test(l.message))).toBe(true)
  })
})
