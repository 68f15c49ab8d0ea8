/**
 * HTTP gates (issue #11, docs/playbook.md "HTTP gates") against a real HTTP server on 127.0.0.1 that checks the
 * signature: allow, veto, a body that is not the answer, non-2xx, a timeout (fake clock), no secret, nobody listening;
 * and the playbook schema of `http:`.
 */
import {createHmac, timingSafeEqual} from 'node:crypto'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadPlaybook} from '../../src/config/load.js'
import type {Gate} from '../../src/config/types.js'
import {evaluateGate, gateSignature, type GateContext, type HttpGateRequest} from '../../src/gates/engine.js'
import {FakeClock, until} from '../helpers/fake-clock.js'

const SECRET = 'gate-hmac-key-0123456789'
process.env.CHAINUP_TEST_GATE_SECRET = SECRET

interface Seen {
  path: string
  method: string
  headers: IncomingMessage['headers']
  body: HttpGateRequest
  signatureOk: boolean
}

let server: Server
let base = ''
const seen: Seen[] = []
const hanging: ServerResponse[] = []

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks)
      const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`)
      const given = Buffer.from(String(req.headers['x-chainup-signature'] ?? ''))
      const signatureOk = given.length === expected.length && timingSafeEqual(given, expected)
      seen.push({path: req.url ?? '', method: req.method ?? '', headers: req.headers, body: JSON.parse(raw.toString('utf8')) as HttpGateRequest, signatureOk})
      const path = (req.url ?? '').split('?')[0]
      if (path === '/signed' && !signatureOk) return void res.writeHead(401).end('bad signature')
      switch (path) {
        case '/allow':
        case '/signed':
          return void res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({decision: 'allow', reason: 'CHG0042 approved'}))
        case '/veto':
          return void res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({decision: 'veto', reason: 'change freeze\u001b[31m until Monday'}))
        case '/garbage':
          return void res.writeHead(200).end('<html>maintenance</html>')
        case '/wrong':
          return void res.writeHead(200).end(JSON.stringify({decision: 'maybe'}))
        case '/boom':
          return void res.writeHead(500).end('internal error\nstack trace')
        case '/hang':
          return void hanging.push(res)
        default:
          return void res.writeHead(404).end()
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  for (const res of hanging) res.destroy()
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

const vars: Record<string, string> = {stack: 'core', 'target.version': '17.09.05', 'target.image': 'cat9k.bin', 'device.name': 'sw2', 'device.host': '10.0.0.2', 'previous.version': '17.06.05'}
const ctx = (over: Partial<GateContext> = {}): GateContext => ({
  runId: 'run-42',
  stack: 'core',
  type: 'before',
  device: 'sw2',
  playbookFile: '/nonexistent/playbook.yml',
  defaultTimeoutMs: 5000,
  expand: (t) =>
    t.replace(/\{\{\s*([^{}]*?)\s*\}\}/g, (_w, name: string) => {
      const v = vars[name]
      if (v === undefined) throw new Error(`no value for ${name}`)
      return v
    }),
  ...over,
})
const http = (path: string, extra: Partial<Extract<Gate, {kind: 'http'}>['http']> = {}): Gate => ({kind: 'http', name: 'change approved', http: {url: `${base}${path}`, method: 'POST', headers: {}, ...extra}})

describe('evaluateGate: http', () => {
  it('allows with the answer\'s reason, and POSTs the gate context', async () => {
    seen.length = 0
    const g = await evaluateGate(http('/allow', {headers: {'X-Change': 'CHG-{{ device.name }}'}}), ctx())
    expect(g).toEqual({type: 'before', name: 'change approved', device: 'sw2', decision: 'allow', reason: 'CHG0042 approved'})
    const req = seen[0] as Seen
    expect(req.method).toBe('POST')
    expect(req.headers['content-type']).toBe('application/json')
    expect(req.headers['x-change']).toBe('CHG-sw2')
    expect(req.headers['x-chainup-signature']).toBeUndefined()
    expect(req.body).toEqual({
      run_id: 'run-42',
      stack: 'core',
      device: 'sw2',
      gate: {type: 'before', name: 'change approved'},
      target: {version: '17.09.05', image: 'cat9k.bin'},
      facts: {stack: 'core', 'target.version': '17.09.05', 'target.image': 'cat9k.bin', 'target.md5': '', 'target.sha512': '', 'device.name': 'sw2', 'device.host': '10.0.0.2', 'previous.version': '17.06.05', 'previous.image': ''},
    })
  })

  it('signs the body with HMAC-SHA256 (sha256=<hex>) when secret_env is set; the server verifies it', async () => {
    seen.length = 0
    const g = await evaluateGate(http('/signed', {secret_env: 'CHAINUP_TEST_GATE_SECRET', method: 'PUT'}), ctx({device: null, type: 'final'}))
    expect(g.decision).toBe('allow')
    expect(seen[0]?.signatureOk).toBe(true)
    expect(seen[0]?.method).toBe('PUT')
    expect(seen[0]?.body.device).toBeNull()
    expect(gateSignature('{}', 'k')).toBe(`sha256=${createHmac('sha256', 'k').update('{}').digest('hex')}`)
  })

  it('vetoes with the answer\'s reason (control characters made printable)', async () => {
    const g = await evaluateGate(http('/veto'), ctx())
    expect(g.decision).toBe('veto')
    expect(g.reason).toMatch(/^change freeze.*until Monday$/)
    expect(g.reason).not.toContain('\u001b')
  })

  it.each([
    ['/garbage', /answered HTTP 200 with a body that is not JSON/],
    ['/wrong', /answered without "decision": "allow" or "veto" \(got "maybe"\)/],
    ['/boom', /answered HTTP 500: internal error$/],
    ['/missing', /answered HTTP 404$/],
  ])('vetoes when %s answers something else', async (path, reason) => {
    const g = await evaluateGate(http(path), ctx())
    expect(g.decision).toBe('veto')
    expect(g.reason).toMatch(reason)
  })

  it('vetoes on a timeout (the gate\'s clock)', async () => {
    const clock = new FakeClock()
    const before = hanging.length
    const pending = evaluateGate(http('/hang', {timeout: 30_000}), ctx({clock}))
    await until(() => hanging.length > before)
    clock.advance(29_999)
    await new Promise((r) => setTimeout(r, 20))
    clock.advance(1)
    const g = await pending
    expect(g).toMatchObject({decision: 'veto'})
    expect(g.reason).toMatch(/\/hang did not answer within 30(\.0)?s$/)
  })

  it('vetoes when the secret is not set or nobody listens', async () => {
    expect((await evaluateGate(http('/signed', {secret_env: 'CHAINUP_TEST_GATE_SECRET_UNSET'}), ctx())).reason).toBe('secret_env CHAINUP_TEST_GATE_SECRET_UNSET is not set: the request cannot be signed')
    const closed = createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const port = (closed.address() as AddressInfo).port
    await new Promise((r) => closed.close(r))
    const g = await evaluateGate({kind: 'http', name: 'x', http: {url: `http://127.0.0.1:${port}/`, method: 'POST', headers: {}}}, ctx())
    expect(g.decision).toBe('veto')
    expect(g.reason).toMatch(/could not be reached: ECONNREFUSED/)
  })

  it('fills placeholders into the URL, URL-encoded', async () => {
    seen.length = 0
    vars['device.name'] = 'sw 2/a'
    try {
      await evaluateGate(http('/allow?device={{ device.name }}'), ctx())
    } finally {
      vars['device.name'] = 'sw2'
    }
    expect(seen[0]?.path).toBe('/allow?device=sw%202%2Fa')
  })
})

describe('playbook: http gates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-httpgate-'))
  const VALID = 'name: p\nfacts: {command: show version, version: "Version (?<version>\\\\S+)"}\nupgrade:\n  - {name: install, command: install}\n'
  const load = async (text: string) => {
    const file = join(dir, `p${Math.random().toString(36).slice(2)}.yml`)
    writeFileSync(file, text)
    return loadPlaybook(file)
  }

  it('loads url, method (POST by default), headers, timeout, secret_env; stack-wide too', async () => {
    const p = await load(`${VALID}gates:\n  before:\n    - {name: cab, scope: stack, http: {url: "https://cab.example/approve", secret_env: CAB_KEY, timeout: PT20S, headers: {X-Team: noc}}}\n  final:\n    - {name: chatops, http: {url: "http://127.0.0.1:9/done", method: PUT}}\n`)
    expect(p.gates.before[0]).toEqual({kind: 'http', name: 'cab', scope: 'stack', http: {url: 'https://cab.example/approve', method: 'POST', headers: {'X-Team': 'noc'}, timeout: 20_000, secret_env: 'CAB_KEY'}})
    expect(p.gates.final[0]).toEqual({kind: 'http', name: 'chatops', http: {url: 'http://127.0.0.1:9/done', method: 'PUT', headers: {}}})
  })

  it('refuses a bad url, method, both run and http, expect on an http gate (FILE:LINE:COL problems)', async () => {
    const problems = async (text: string) => {
      try {
        await load(text)
      } catch (error) {
        return ((error as {problems?: string[]}).problems ?? []).join('\n')
      }
      return 'loaded'
    }
    expect(await problems(`${VALID}gates:\n  after:\n    - {name: g, http: {url: "ftp://x/"}}\n`)).toMatch(/:\d+:\d+ gates\.after\[0\]\.http\.url: expected an http:\/\/ or https:\/\/ URL/)
    expect(await problems(`${VALID}gates:\n  after:\n    - {name: g, http: {url: "http://x/", method: GET}}\n`)).toMatch(/gates\.after\[0\]\.http\.method/)
    expect(await problems(`${VALID}gates:\n  after:\n    - {name: g, run: "true", http: {url: "http://x/"}}\n`)).toMatch(/gates\.after\[0\]\.http: a gate has either run \(a local command\) or http \(a call to another system\), not both/)
    expect(await problems(`${VALID}gates:\n  after:\n    - {name: g, expect: x, http: {url: "http://x/"}}\n`)).toMatch(/gates\.after\[0\]\.expect: expect only applies to device_command gates/)
  })
})
