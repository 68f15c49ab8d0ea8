/**
 * Test fixture for `chainup serve`: lab inventories written to an inventories directory (the server's `--lab` starts
 * their simulators per run), and the real application listening on 127.0.0.1 with a real journal.
 */
import {mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {parse, stringify} from 'yaml'

import {openJournal, type Journal} from '../../../src/journal/journal.js'
import {buildApp} from '../../../src/serve/app.js'
import {tokenHash, TokenTable} from '../../../src/serve/auth.js'
import type {RunRegistry} from '../../../src/serve/runs.js'
import {freePorts, ROOT, type DeviceSpec} from '../../helpers/lab-stack.js'

export const TOKENS = {operator: 'op-token-0123456789', viewer: 'view-token-0123456789'}

export interface InventorySpec {
  devices: DeviceSpec[]
  gates?: Partial<Record<'before' | 'after' | 'on_error' | 'final', unknown[]>>
  stack?: string
  bootTime?: string
}

/** Writes `NAME.yml` (and its playbook) into `dir` for simulated devices on free loopback ports. */
export async function writeInventory(dir: string, name: string, spec: InventorySpec): Promise<string> {
  const ports = await freePorts(spec.devices.length)
  const shipped = parse(readFileSync(join(ROOT, 'playbooks/ios-xe-install.yml'), 'utf8')) as Record<string, unknown>
  mkdirSync(join(dir, 'playbooks'), {recursive: true})
  writeFileSync(join(dir, 'playbooks', `${name}.yml`), stringify({...shipped, gates: {...(shipped.gates as object), ...spec.gates}}))
  writeFileSync(join(dir, 'known_hosts'), '# lab keys are checked by fingerprint\n')
  const path = join(dir, `${name}.yml`)
  writeFileSync(
    path,
    stringify({
      stack: spec.stack ?? name,
      playbook: `./playbooks/${name}.yml`,
      target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
      ssh: {username: 'netops', password_env: `CHAINUP_SERVE_TEST_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`, known_hosts: './known_hosts'},
      timeouts: {settle: 'PT0S', command: 'PT10S', boot: 'PT10S', predecessor: 'PT30S', gate: 'PT10S', connect: 'PT5S'},
      lab: {version: '17.06.05', boot_time: spec.bootTime ?? 'PT0.3S'},
      devices: spec.devices.map((d, i) => ({
        name: d.name,
        host: '127.0.0.1',
        port: ports[i],
        ...(d.faults ? {lab: {faults: d.faults}} : {}),
      })),
    }),
  )
  return path
}

export interface Served {
  url: string
  dir: string
  inventories: string
  stateDir: string
  journal: Journal
  runs: RunRegistry
  /** fetch with the operator's token unless `token` says otherwise (null: none). */
  call(path: string, init?: RequestInit & {token?: string | null; json?: unknown}): Promise<Response>
  close(): Promise<void>
}

/** The application on 127.0.0.1:0 with tokens (or none), `--lab`, a fresh state directory. */
export async function serve(options: {tokens?: boolean; stateDir?: string; dir?: string} = {}): Promise<Served> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'chainup-serve-'))
  const inventories = join(dir, 'inventories')
  mkdirSync(inventories, {recursive: true})
  const stateDir = options.stateDir ?? join(dir, 'state')
  const tokens = options.tokens === false ? null : TokenTable.parse(`operator-alice operator ${tokenHash(TOKENS.operator)}\nviewer-bob viewer ${tokenHash(TOKENS.viewer)}\n`, 'tokens')
  const journal = await openJournal(stateDir)
  const {app, runs} = await buildApp({stateDir, inventoriesDir: inventories, tokens, lab: true, journal, ssePollMs: 200})
  await app.listen({host: '127.0.0.1', port: 0})
  const address = app.server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`
  return {
    url,
    dir,
    inventories,
    stateDir,
    journal,
    runs,
    call(path, init = {}) {
      const {token = TOKENS.operator, json, ...rest} = init
      const headers = new Headers(rest.headers)
      if (token !== null) headers.set('authorization', `Bearer ${token}`)
      if (json !== undefined) headers.set('content-type', 'application/json')
      return fetch(`${url}${path}`, {...rest, headers, ...(json === undefined ? {} : {method: rest.method ?? 'POST', body: JSON.stringify(json)})})
    },
    async close() {
      await app.close()
      journal.close()
    },
  }
}

/** Reads an SSE response body until it ends; each event as {id, event, data}. */
export async function readSse(res: Response, stopWhen?: (e: {id: string | null; event: string; data: string}) => boolean): Promise<Array<{id: string | null; event: string; data: string}>> {
  const out: Array<{id: string | null; event: string; data: string}> = []
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  for (;;) {
    const {value, done} = await reader.read()
    if (done) break
    buffer += decoder.decode(value, {stream: true})
    let cut: number
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut)
      buffer = buffer.slice(cut + 2)
      let id: string | null = null
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = line.slice(4)
        else if (line.startsWith('event: ')) event = line.slice(7)
        else if (line.startsWith('data: ')) data.push(line.slice(6))
      }
      if (data.length === 0) continue
      const e = {id, event, data: data.join('\n')}
      out.push(e)
      if (stopWhen?.(e)) {
        await reader.cancel()
        return out
      }
    }
  }
  return out
}
