/**
 * `chainup serve`'s API over real HTTP on 127.0.0.1 against the built-in lab and a real journal (issue #11): auth
 * refusals, DEC-002's status codes (200, 409 GATE_VETO with the result, 422, 400 with FILE:LINE:COL problems, 423),
 * RFC 7240 respond-async, cancel and resume, history pagination and filter, the council, plans, path traversal.
 */
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {readSse, serve, TOKENS, writeInventory, type Served} from './fixture.js'

let s: Served

beforeAll(async () => {
  s = await serve()
  await writeInventory(s.inventories, 'good', {devices: [{name: 'sw1'}, {name: 'sw2'}]})
  await writeInventory(s.inventories, 'vetoed', {devices: [{name: 'sw1'}, {name: 'sw2'}], gates: {before: [{name: 'change freeze', scope: 'stack', run: 'echo change freeze until Monday; exit 1'}]}})
  await writeInventory(s.inventories, 'broken', {devices: [{name: 'sw1'}, {name: 'sw2', faults: ['missing_image']}]})
  await writeInventory(s.inventories, 'slow', {devices: [{name: 'sw1'}, {name: 'sw2'}, {name: 'sw3'}], bootTime: 'PT2S'})
  writeFileSync(join(s.inventories, 'bad.yml'), 'stack: bad\nplaybook: ./playbooks/good.yml\ntarget:\n  version: 17\n')
  // A symlink out of the inventories directory, to a real inventory: refused all the same.
  mkdirSync(join(s.dir, 'outside'))
  await writeInventory(join(s.dir, 'outside'), 'elsewhere', {devices: [{name: 'sw1'}]})
  symlinkSync(join(s.dir, 'outside', 'elsewhere.yml'), join(s.inventories, 'escape.yml'))
})

afterAll(async () => {
  await s?.close()
})

describe('auth', () => {
  it('401 without a token or with an unknown one, 403 for a viewer changing something', async () => {
    const none = await s.call('/v1/history', {token: null})
    expect(none.status).toBe(401)
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect((await none.json()).code).toBe('UNAUTHORIZED')
    expect((await s.call('/v1/history', {token: 'not-a-token'})).status).toBe(401)
    const viewer = await s.call('/v1/chains/execute', {token: TOKENS.viewer, json: {inventory: 'good'}})
    expect(viewer.status).toBe(403)
    expect((await viewer.json()).code).toBe('FORBIDDEN')
    expect((await s.call('/v1/plan/good?check=true', {token: TOKENS.viewer})).status).toBe(403)
    expect((await s.call('/v1/history', {token: TOKENS.viewer})).status).toBe(200)
    expect((await s.call('/metrics', {token: null})).status).toBe(401)
    // The page and the API description are public.
    expect((await s.call('/', {token: null})).status).toBe(200)
    expect((await s.call('/v1/openapi.json', {token: null})).status).toBe(200)
  })
})

describe('inventories by name only', () => {
  it.each([
    ['../good', 400],
    ['/etc/passwd', 400],
    ['good/../good', 400],
    ['..', 400],
    ['.hidden', 400],
    ['escape', 400],
    ['nope', 404],
  ])('execute %s → %i, nothing started', async (name, status) => {
    const res = await s.call('/v1/chains/execute', {json: {inventory: name}})
    expect(res.status).toBe(status)
    expect((await res.json()).code).toBe(status === 404 ? 'NO_SUCH_INVENTORY' : 'INVENTORY_NAME')
  })

  it('refuses URL-encoded traversal in a path parameter', async () => {
    for (const path of ['/v1/plan/%2e%2e%2fgood', '/v1/plan/..%2fgood', '/v1/plan/%2Fetc%2Fpasswd', '/v1/plan/escape']) {
      const res = await s.call(path)
      expect(res.status, path).toBe(400)
    }
  })

  it('lists what may be run', async () => {
    const res = await s.call('/v1/inventories')
    expect((await res.json()).inventories).toEqual(['bad', 'broken', 'good', 'slow', 'vetoed'])
  })
})

describe('POST /v1/chains/execute', () => {
  it('200 with the ChainExecutionResult, journaled with the token name', async () => {
    const res = await s.call('/v1/chains/execute', {json: {inventory: 'good'}})
    expect(res.status).toBe(200)
    const result = await res.json()
    expect(result).toMatchObject({chain_id: 'good', status: 'completed', devices: [{name: 'sw1', status: 'upgraded'}, {name: 'sw2', status: 'upgraded'}]})
    const request = s.journal.events(result.execution_id).find((e) => e.type === 'apiRequest')
    expect(request?.data).toMatchObject({caller: 'operator-alice', role: 'operator', method: 'POST', path: '/v1/chains/execute'})
  })

  it('409 GATE_VETO with the result and the reason', async () => {
    const res = await s.call('/v1/chains/execute', {json: {inventory: 'vetoed'}})
    expect(res.status).toBe(409)
    const body = await res.json()
    expect(body.code).toBe('GATE_VETO')
    expect(body.message).toContain('change freeze until Monday')
    expect(body.result).toMatchObject({status: 'vetoed', gates: [{type: 'before', name: 'change freeze', decision: 'veto'}]})
  })

  it('422 with the result when the chain fails', async () => {
    const res = await s.call('/v1/chains/execute', {json: {inventory: 'broken'}})
    expect(res.status).toBe(422)
    const body = await res.json()
    expect(body.code).toBe('CHAIN_FAILED')
    expect(body.result.status).toBe('failed')
  })

  it('400 with the FILE:LINE:COL problems of a bad inventory, and for a bad body', async () => {
    const res = await s.call('/v1/chains/execute', {json: {inventory: 'bad'}})
    expect(res.status).toBe(400)
    const body = await res.json()
    expect(body.problems.length).toBeGreaterThan(0)
    for (const p of body.problems) expect(p).toMatch(/bad\.yml:\d+:\d+ /)
    const bad = await s.call('/v1/chains/execute', {json: {inventory: 'good', extra: 1}})
    expect(bad.status).toBe(400)
    expect((await bad.json()).code).toBe('BAD_REQUEST')
  })

  it('dry_run answers the plan (plan --check), nothing upgraded', async () => {
    const res = await s.call('/v1/chains/execute', {json: {inventory: 'good', dry_run: true}})
    expect(res.status).toBe(200)
    const plan = await res.json()
    expect(plan.checked).toBe(true)
  })

  it('Prefer: respond-async → 202 + Location; 423 while it runs; cancel; SSE replay resumable with Last-Event-ID; resume', async () => {
    const res = await s.call('/v1/chains/execute', {json: {inventory: 'slow'}, headers: {prefer: 'respond-async'}})
    expect(res.status).toBe(202)
    expect(res.headers.get('preference-applied')).toBe('respond-async')
    const location = res.headers.get('location') as string
    const {execution_id: id} = await res.json()
    expect(location).toBe(`/v1/executions/${id}`)
    expect(await (await s.call(location)).json()).toMatchObject({status: 'running', live: true, interrupted: false})

    const locked = await s.call('/v1/chains/execute', {json: {inventory: 'slow'}})
    expect(locked.status).toBe(423)
    expect((await locked.json()).code).toBe('STACK_LOCKED')

    // Live: wait for sw1's upgrade to start, then cancel: sw1 finishes, sw2 and sw3 do not start.
    const live = await readSse(await s.call(`${location}/events`), (e) => e.event === 'devicePhase' && JSON.parse(e.data).data.phase === 'booting')
    expect(live.length).toBeGreaterThan(3)
    const cancel = await s.call(`${location}/cancel`, {method: 'POST'})
    expect(cancel.status).toBe(202)
    const all = await readSse(await s.call(`${location}/events`))
    expect(all.at(-1)).toMatchObject({event: 'end'})
    expect(JSON.parse(all.at(-1)?.data as string)).toEqual({status: 'cancelled'})
    const ids = all.filter((e) => e.id !== null).map((e) => Number(e.id))
    expect(ids).toEqual([...ids].sort((a, b) => a - b))
    expect(all.some((e) => e.event === 'apiRequest' && JSON.parse(e.data).data.path.endsWith('/cancel'))).toBe(true)
    // Resumable: after Last-Event-ID only what came later.
    const middle = ids[Math.floor(ids.length / 2)] as number
    const rest = await readSse(await s.call(`${location}/events`, {headers: {'last-event-id': String(middle)}}))
    expect(rest.filter((e) => e.id !== null).map((e) => Number(e.id))).toEqual(ids.filter((i) => i > middle))

    const done = await (await s.call(location)).json()
    expect(done).toMatchObject({status: 'cancelled', devices: [{name: 'sw1', status: 'upgraded'}, {name: 'sw2', status: 'not_started'}, {name: 'sw3', status: 'not_started'}]})
    expect((await s.call(`${location}/cancel`, {method: 'POST'})).status).toBe(409)

    const tree = await (await s.call(`${location}/tree`)).json()
    expect(tree).toMatchObject({id, kind: 'run', status: 'cancelled'})

    const resumed = await s.call(`${location}/resume`, {method: 'POST'})
    const body = await resumed.json()
    expect(resumed.status, JSON.stringify(body).slice(0, 500)).toBe(200)
    expect(body).toMatchObject({execution_id: id, status: 'completed'})
  }, 180_000)

  it('404 for an unknown execution', async () => {
    expect((await s.call('/v1/executions/00000000-0000-0000-0000-000000000000')).status).toBe(404)
    expect((await s.call('/v1/executions/00000000-0000-0000-0000-000000000000/events')).status).toBe(404)
  })
})

describe('history', () => {
  it('is paginated with total and links, and filtered by status', async () => {
    const first = await (await s.call('/v1/history?limit=2')).json()
    expect(first.total).toBeGreaterThanOrEqual(4)
    expect(first.runs).toHaveLength(2)
    expect(first.links.next).toBe('/v1/history?page=2&limit=2')
    expect(first.links.prev).toBeUndefined()
    const second = await (await s.call(first.links.next)).json()
    expect(second.page).toBe(2)
    expect(second.links.prev).toBe('/v1/history?page=1&limit=2')
    expect(second.runs[0].execution_id).not.toBe(first.runs[0].execution_id)
    const vetoed = await (await s.call('/v1/history?status=vetoed')).json()
    expect(vetoed.total).toBe(1)
    expect(vetoed.runs[0]).toMatchObject({chain_id: 'vetoed', status: 'vetoed', interrupted: false})
    const stack = await (await s.call('/v1/chains/good/history?status=completed')).json()
    expect(stack.runs.every((r: {chain_id: string}) => r.chain_id === 'good')).toBe(true)
    expect(stack.links.self).toBe('/v1/chains/good/history?status=completed&page=1&limit=20')
    expect((await s.call('/v1/history?status=bogus')).status).toBe(400)
    expect((await s.call('/v1/history?limit=0')).status).toBe(400)
  })
})

describe('POST /v1/councils/execute', () => {
  it('runs the fleet through the same engine: a failure does not halt it', async () => {
    const res = await s.call('/v1/councils/execute', {json: {inventories: ['broken', 'good']}})
    expect(res.status).toBe(422)
    const body = await res.json()
    expect(body.result.stacks.map((r: {chain_id: string; status: string}) => `${r.chain_id}:${r.status}`)).toEqual(['broken:failed', 'good:completed'])
  })

  it('Prefer: respond-async → 202 with the fleet\'s Location, then its result there', async () => {
    const res = await s.call('/v1/councils/execute', {json: {inventories: ['good']}, headers: {prefer: 'respond-async'}})
    expect(res.status).toBe(202)
    const location = res.headers.get('location') as string
    let body: {status?: string; kind?: string; stacks?: unknown[]} = {}
    for (let i = 0; i < 120 && body.status !== 'completed'; i++) {
      body = await (await s.call(location)).json()
      if (body.status !== 'completed') await new Promise((r) => setTimeout(r, 500))
    }
    expect(body).toMatchObject({status: 'completed', stacks: [{chain_id: 'good', status: 'completed'}]})
  }, 120_000)

  it('a veto halts it (409)', async () => {
    const res = await s.call('/v1/councils/execute', {json: {inventories: ['vetoed', 'good']}})
    expect(res.status).toBe(409)
    const body = await res.json()
    expect(body.code).toBe('GATE_VETO')
    expect(body.result.not_started.map((n: {chain_id: string}) => n.chain_id)).toEqual(['good'])
  })
})

describe('GET /v1/plan/{inventory}', () => {
  it('the offline plan for a viewer, the checked one for an operator', async () => {
    const offline = await s.call('/v1/plan/good', {token: TOKENS.viewer})
    expect(offline.status).toBe(200)
    expect(await offline.json()).toMatchObject({checked: false})
    const checked = await s.call('/v1/plan/good?check=true')
    expect(checked.status).toBe(200)
    expect(await checked.json()).toMatchObject({checked: true})
  })
})

describe('GET /metrics', () => {
  it('counts what the runs above did', async () => {
    const text = await (await s.call('/metrics', {token: TOKENS.viewer})).text()
    expect(text).toMatch(/^chainup_runs_finished_total\{status="completed"\} [1-9]/m)
    expect(text).toMatch(/^chainup_runs_finished_total\{status="vetoed"\} [1-9]/m)
    expect(text).toMatch(/^chainup_runs\{status="completed"\} [1-9]/m)
    expect(text).toMatch(/^chainup_runs_in_progress 0$/m)
    expect(text).toMatch(/^chainup_device_upgrade_duration_seconds_count [1-9]/m)
    expect(text).toMatch(/^chainup_device_boot_duration_seconds_count [1-9]/m)
    expect(text).toMatch(/^chainup_gate_decisions_total\{type="before",decision="veto"\} [1-9]/m)
    expect(text).toMatch(/^chainup_gate_decisions_total\{type="after",decision="allow"\} [1-9]/m)
    expect(text).toMatch(/^# TYPE chainup_traps_sent_total counter$/m)
    expect(text).toMatch(/^# TYPE chainup_chainsync_link_reconnects_total counter$/m)
  })
})
