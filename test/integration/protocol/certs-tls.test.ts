/** Certificates from `chainup certs init` in a real TLS 1.3 handshake (the certificate files: test/protocol/certs.test.ts). */
import {X509Certificate} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import tls from 'node:tls'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {initCerts} from '../../../src/protocol/certs.js'
import {tlsTransport} from '../../../src/protocol/tls.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-certs-'))
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

describe('initCerts over TLS', () => {
  it('issues Ed25519 certificates that Node accepts for TLS 1.3 mutual authentication', async () => {
    const bundle = await initCerts(dir, ['sw1', 'sw2'], {keyType: 'ed25519'})
    expect(new X509Certificate(bundle.nodes.sw1!.cert).publicKey.asymmetricKeyType).toBe('ed25519')
    const server = tlsTransport({self: 'sw1', ca: bundle.ca, ...bundle.nodes.sw1!})
    const identities: Array<string | undefined> = []
    const listener = await server.listen('127.0.0.1', 0, (s, peer) => {
      identities.push(peer.identity)
      s.end()
    }, () => undefined)
    try {
      const socket = (await tlsTransport({self: 'sw2', ca: bundle.ca, ...bundle.nodes.sw2!}).connect('127.0.0.1', listener.address.port, 'sw1')) as tls.TLSSocket
      expect(socket.getProtocol()).toBe('TLSv1.3')
      await new Promise((r) => socket.once('close', r).resume())
      expect(identities).toEqual(['sw2'])
    } finally {
      await listener.close()
    }
  })
})
