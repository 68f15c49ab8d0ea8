/**
 * `serveCommand` with `--tls-cert/--tls-key`: HTTPS on a non-loopback address (allowed with TLS and tokens), the
 * certificate verified by the client against its CA, bearer auth over it; plain HTTP is not answered.
 */
import {mkdtempSync, writeFileSync} from 'node:fs'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'

import {expect, it} from 'vitest'

import {serveCommand} from '../../../src/cli/serve.js'
import {initCerts} from '../../../src/protocol/certs.js'
import {tokenHash} from '../../../src/serve/auth.js'

function get(port: number, path: string, ca: string, token?: string): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const req = request({host: '127.0.0.1', servername: 'localhost', port, path, ca, headers: token ? {authorization: `Bearer ${token}`} : {}}, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body}))
    })
    req.on('error', reject)
    req.end()
  })
}

it('serves HTTPS with the given certificate off loopback, with tokens', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-serve-tls-'))
  const certs = await initCerts(join(dir, 'certs'), ['localhost'])
  writeFileSync(join(dir, 'tokens'), `ops operator ${tokenHash('tls-token-123456')}\n`)
  const log: string[] = []
  const server = await serveCommand({
    listen: '0.0.0.0:0',
    inventoriesDir: dir,
    stateDir: join(dir, 'state'),
    tokensFile: join(dir, 'tokens'),
    tlsCert: join(dir, 'certs', 'localhost.crt'),
    tlsKey: join(dir, 'certs', 'localhost.key'),
    lab: false,
    stderr: new Writable({write: (c, _e, cb) => (log.push(String(c)), cb())}),
  })
  try {
    expect(server.url).toMatch(/^https:\/\/0\.0\.0\.0:\d+$/)
    expect(log.join('')).toContain('chainup serve listening on https://')
    const port = Number(server.url.split(':').pop())
    expect((await get(port, '/v1/history', certs.ca)).status).toBe(401)
    const ok = await get(port, '/v1/history', certs.ca, 'tls-token-123456')
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.body)).toMatchObject({runs: [], total: 0})
    // A client that does not trust the CA is refused by its own TLS check.
    await expect(get(port, '/v1/history', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n')).rejects.toThrow()
    // Plain HTTP gets no API answer.
    const plain = await fetch(`http://127.0.0.1:${port}/v1/openapi.json`).then((r) => r.status, (e: Error) => e.message)
    expect(plain).not.toBe(200)
  } finally {
    await server.close()
  }
})
