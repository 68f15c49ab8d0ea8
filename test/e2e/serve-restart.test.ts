/**
 * `chainup serve` through the built CLI (its own process, --lab, --tokens): a run the server was running when it was
 * killed (SIGKILL) is listed as interrupted by the next server, is not resumed on its own, and is resumed through
 * the API. Also: the CLI refuses plain HTTP off loopback.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, expect, it} from 'vitest'

import {tokenHash} from '../../src/serve/auth.js'
import {chainup} from '../helpers/cli.js'
import {freePorts, ROOT} from '../helpers/lab-stack.js'
import {writeInventory} from '../integration/serve/fixture.js'

const children: ChildProcess[] = []
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

/** Starts `chainup serve`; resolves once it printed its URL. */
function startServer(args: string[]): Promise<{child: ChildProcess; url: string; stderr: () => string}> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), 'serve', ...args], {cwd: ROOT, env: {...process.env, CI: 'true'}, stdio: ['ignore', 'pipe', 'pipe']})
  children.push(child)
  let err = ''
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /^(http:\/\/\S+?)\/?$/m.exec(out)
      if (m) resolve({child, url: m[1] as string, stderr: () => err})
    })
    child.once('exit', (code) => reject(new Error(`chainup serve exited ${code}: ${err}`)))
  })
}

it('lists a run the killed server was running as interrupted, never resumes it itself, resumes it through the API', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-serve-e2e-'))
  const inventories = join(dir, 'inventories')
  mkdirSync(inventories)
  // Every device's readiness holds on a gate until the test releases it: the server is killed while the run waits
  // (the orphaned gate loops end when the test releases them, or after 30 s).
  await writeInventory(inventories, 'held', {devices: [{name: 'sw1'}, {name: 'sw2'}], gates: {before: [{name: 'hold', run: 'i=0; while [ ! -e ../released ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done', timeout: 'PT40S'}]}})
  const token = 'restart-test-token-42'
  writeFileSync(join(dir, 'tokens'), `ci operator ${tokenHash(token)}\n`)
  const [port] = await freePorts(1)
  const args = ['--lab', '--listen', `127.0.0.1:${port}`, '--inventories', inventories, '--state-dir', join(dir, 'state'), '--tokens', join(dir, 'tokens')]
  const auth = {authorization: `Bearer ${token}`}

  const first = await startServer(args)
  const started = await fetch(`${first.url}/v1/chains/execute`, {method: 'POST', headers: {...auth, 'content-type': 'application/json', prefer: 'respond-async'}, body: JSON.stringify({inventory: 'held'})})
  expect(started.status).toBe(202)
  const location = started.headers.get('location') as string
  const id = location.split('/').pop() as string
  await new Promise((r) => setTimeout(r, 1500))
  first.child.kill('SIGKILL')
  await new Promise((r) => first.child.once('exit', r))

  const second = await startServer(args)
  expect(second.stderr()).toContain(`1 interrupted run (not resumed): ${id}`)
  const interrupted = await (await fetch(`${second.url}/v1/history?status=interrupted`, {headers: auth})).json()
  expect(interrupted.runs.map((r: {execution_id: string}) => r.execution_id)).toEqual([id])
  expect(interrupted.runs[0]).toMatchObject({status: 'running', interrupted: true})
  // Nothing resumes it behind the operator's back.
  await new Promise((r) => setTimeout(r, 2000))
  expect(await (await fetch(`${second.url}${location}`, {headers: auth})).json()).toEqual({execution_id: id, kind: 'run', status: 'running', live: false, interrupted: true})

  writeFileSync(join(inventories, 'released'), '')
  const resumed = await fetch(`${second.url}${location}/resume`, {method: 'POST', headers: auth})
  const result = await resumed.json()
  expect(resumed.status, JSON.stringify(result).slice(0, 400)).toBe(200)
  expect(result).toMatchObject({execution_id: id, status: 'completed', devices: [{name: 'sw1', status: 'upgraded'}, {name: 'sw2', status: 'upgraded'}]})
  const events = await fetch(`${second.url}${location}/events`, {headers: auth})
  const text = await events.text()
  expect(text).toMatch(/"caller":"ci".*"path":"\/v1\/chains\/execute"/)
  expect(text).toMatch(/"caller":"ci".*"path":"\/v1\/executions\/[^"]+\/resume"/)
  second.child.kill('SIGTERM')
  await new Promise((r) => second.child.once('exit', r))
}, 180_000)

it('refuses plain HTTP on a non-loopback address, and a server on the network without tokens', async () => {
  const plain = await chainup(['serve', '--listen', '0.0.0.0:0'])
  expect(plain.code).toBe(2)
  expect(plain.stderr).toContain('not a loopback address')
  const noTokens = await chainup(['serve', '--listen', '0.0.0.0:0', '--insecure-http'])
  expect(noTokens.code).toBe(2)
  expect(noTokens.stderr).toContain('needs --tokens')
})
