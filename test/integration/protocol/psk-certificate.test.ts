/**
 * The PSK dialer refuses a listener that presents a certificate (issue #8 §1; FIELD-NOTES: a PSK client with
 * `checkServerIdentity: () => undefined` completes a handshake with any server whose certificate the host trusts,
 * without any PSK). Real cert-presenting TLS 1.3 servers on loopback: one whose CA the dialer does not trust, and one
 * whose CA it does, as a public CA would be (NODE_EXTRA_CA_CERTS, in a dialer process of its own).
 */
import {execFile} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import tls from 'node:tls'
import {promisify} from 'node:util'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {initCerts, type CertBundle} from '../../../src/protocol/certs.js'
import {tlsTransport} from '../../../src/protocol/tls.js'
import {compileModule} from './support/compile.js'

let dir: string
let pki: CertBundle
let compiled: {entry: string; cleanup: () => void}
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-psk-cert-'))
  // The impostor's certificate even names the expected predecessor.
  pki = await initCerts(join(dir, 'pki'), ['sw1'])
  compiled = compileModule('protocol/tls')
})
afterAll(() => {
  compiled?.cleanup()
  rmSync(dir, {recursive: true, force: true})
})

/** A TLS 1.3 server with sw1's certificate (no PSK) that greets as sw1. */
async function certServer(): Promise<{port: number; close: () => Promise<void>}> {
  const server = tls.createServer({cert: pki.nodes.sw1!.cert, key: pki.nodes.sw1!.key, minVersion: 'TLSv1.3'}, (socket) => {
    socket.on('error', () => undefined)
    socket.write('HELLO:sw1\n')
  })
  server.on('tlsClientError', () => undefined)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as {port: number}).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

describe('the PSK dialer refuses a listener that presents a certificate', () => {
  it('a certificate from a CA the host does not trust: refused, saying a PSK listener never presents one', async () => {
    const server = await certServer()
    try {
      const dialer = tlsTransport({self: 'sw2', psk: {keys: {sw2: randomBytes(32)}}})
      await expect(dialer.connect('127.0.0.1', server.port, 'sw1')).rejects.toThrow(/refused: the listener presented a certificate .*a ChainSync PSK listener never does/)
    } finally {
      await server.close()
    }
  })

  it('a certificate the host trusts (as a public CA would be): refused all the same, no link', async () => {
    const server = await certServer()
    try {
      const {stdout} = await promisify(execFile)(process.execPath, [join(import.meta.dirname, 'fixtures', 'psk-dial.mjs'), compiled.entry, String(server.port), randomBytes(32).toString('hex')], {
        env: {...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'pki', 'ca.crt')},
        timeout: 20_000,
      })
      const result = JSON.parse(stdout.trim()) as {connected: boolean; message?: string}
      // Before the fix the handshake completed and connect() resolved: the impostor was the "predecessor".
      expect(result).toEqual({
        connected: false,
        message: 'TLS connection to sw1 at 127.0.0.1:' + server.port + ' refused: the listener presented a certificate (CN="sw1" DNS:"sw1") instead of using the PSK of "sw1": a ChainSync PSK listener never does',
      })
    } finally {
      await server.close()
    }
  })
})
