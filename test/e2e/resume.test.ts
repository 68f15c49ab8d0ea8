/**
 * Durable runs (seed 001): the orchestrator killed with SIGKILL at chosen points and resumed, a graceful cancel,
 * the per-stack lock across processes. The simulated switches live in this test process, so they survive the
 * orchestrator's death like real switches would.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'

import type {LabFault} from '../../src/config/types.js'
import {SimSwitch} from '../../src/lab/sim-switch.js'
import {freePorts, ROOT, TEST_PASSWORD} from '../helpers/lab-stack.js'

const NAMES = ['sw1', 'sw2', 'sw3', 'sw4']
const children: ChildProcess[] = []
let sims: SimSwitch[] = []

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function chainup(args: string[], env: Record<string, string> = {}): {child: ChildProcess; done: Promise<Exit>} {
  const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {
    cwd: ROOT,
    env: {...process.env, CI: 'true', CHAINUP_TEST_PASSWORD: TEST_PASSWORD, ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const done = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({code, signal, stdout, stderr})))
  return {child, done}
}

async function stack(opts: {bootMs?: number; finalGate?: boolean; faults?: Record<string, LabFault[]>; onFailure?: 'halt' | 'rollback'} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-resume-'))
  const ports = await freePorts(NAMES.length)
  sims = NAMES.map(
    (name, i) =>
      new SimSwitch({
        name,
        port: ports[i]!,
        username: 'netops',
        password: TEST_PASSWORD,
        version: '17.06.05',
        extraImages: ['cat9k_iosxe.17.09.05.SPA.bin'],
        bootTimeMs: opts.bootMs ?? 800,
        faults: opts.faults?.[name] ?? [],
      }),
  )
  await Promise.all(sims.map((s) => s.start()))
  const playbook = parse(readFileSync(join(ROOT, 'playbooks/ios-xe-install.yml'), 'utf8')) as Record<string, any>
  if (opts.finalGate) playbook.gates.final = [{name: 'change record', run: 'echo "closing the change record"'}]
  writeFileSync(join(dir, 'playbook.yml'), stringify(playbook))
  const inventory = join(dir, 'stack.yml')
  writeFileSync(
    inventory,
    stringify({
      stack: 'resume-stack',
      playbook: './playbook.yml',
      target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
      ssh: {username: 'netops', password_env: 'CHAINUP_TEST_PASSWORD'},
      timeouts: {settle: 'PT0S', command: 'PT10S', boot: 'PT20S', predecessor: 'PT60S', gate: 'PT10S', connect: 'PT5S'},
      on_failure: opts.onFailure ?? 'halt',
      devices: NAMES.map((name, i) => ({name, host: '127.0.0.1', port: sims[i]!.port, host_key: sims[i]!.hostKeyFingerprint})),
    }),
  )
  return {dir, inventory, state: join(dir, 'state')}
}

/** The one run in the journal that is still `running` (left by the killed process). */
async function runningRun(state: string): Promise<string> {
  const {stdout} = await chainup(['history', '--json', '--state-dir', state]).done
  const page = JSON.parse(stdout) as {runs: Array<{execution_id: string; status: string}>}
  const run = page.runs.find((r) => r.status === 'running' || r.status === 'cancelled')
  if (!run) throw new Error(`no unfinished run in ${stdout}`)
  return run.execution_id
}

function installsPerDevice(): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const e of sims.flatMap((s) => s.events)) if (e.type === 'install_started') counts[e.device] = (counts[e.device] ?? 0) + 1
  return counts
}

async function expectFinishedCleanly(runId: string, state: string, resumed: Exit) {
  expect(resumed.code, resumed.stderr).toBe(0)
  const result = JSON.parse(resumed.stdout)
  expect(result).toMatchObject({execution_id: runId, status: 'completed'})
  expect(result.devices.map((d: {status: string}) => d.status)).toEqual(['upgraded', 'upgraded', 'upgraded', 'upgraded'])
  // Every device on the target version, reloaded exactly once (the simulators' own count).
  expect(sims.map((s) => s.version)).toEqual(['17.09.05', '17.09.05', '17.09.05', '17.09.05'])
  expect(sims.map((s) => s.reloads)).toEqual([1, 1, 1, 1])
  expect(installsPerDevice()).toEqual({sw1: 1, sw2: 1, sw3: 1, sw4: 1})
  const verify = await chainup(['show', runId, '--verify', '--state-dir', state]).done
  expect(verify.code, verify.stdout).toBe(0)
  expect(verify.stdout).toMatch(/journal verified: \d+ events, hash chain intact/)
  // A second resume of the finished run says so and exits 0.
  const again = await chainup(['resume', runId, '--state-dir', state]).done
  expect(again.code).toBe(0)
  expect(again.stdout).toMatch(/already finished: completed/)
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/commands/resume.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) first')
})
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  await Promise.all(sims.map((s) => s.stop()))
  sims = []
})

describe('resume after the orchestrator was killed with SIGKILL', () => {
  it.each([
    ['before any reload', 'before-reload:sw1', {}],
    ['while device 2 is rebooting', 'rebooting:sw2', {}],
    ['after device 2 came back, before its COMPLETE was sent', 'before-complete:sw2', {}],
    ['during the final gates', 'final-gates', {finalGate: true}],
  ] as const)('%s', async (_name, point, opts) => {
    const {inventory, state} = await stack(opts)
    const crashed = await chainup(['upgrade', inventory, '--json', '--state-dir', state], {CHAINUP_FAILPOINT: point}).done
    expect(crashed.signal, crashed.stderr).toBe('SIGKILL')
    const runId = await runningRun(state)
    const resumed = await chainup(['resume', runId, '--json', '--state-dir', state]).done
    await expectFinishedCleanly(runId, state, resumed)
  })
})

describe('rollback after a resume', () => {
  it('rolls devices upgraded before the restart back to the version they ran before the run, not to the target', async () => {
    const {inventory, state} = await stack({faults: {sw3: ['old_version']}, onFailure: 'rollback'})
    const crashed = await chainup(['upgrade', inventory, '--json', '--state-dir', state], {CHAINUP_FAILPOINT: 'rebooting:sw2'}).done
    expect(crashed.signal).toBe('SIGKILL')
    const runId = await runningRun(state)
    const resumed = await chainup(['resume', runId, '--json', '--state-dir', state]).done
    expect(resumed.code, resumed.stderr).toBe(1)
    const result = JSON.parse(resumed.stdout)
    expect(result.reason).toMatch(/rolled back sw3, sw2, sw1$/)
    expect(result.devices.map((d: {status: string}) => d.status)).toEqual(['rolled_back', 'rolled_back', 'rolled_back', 'not_started'])
    expect(sims.map((s) => s.version)).toEqual(['17.06.05', '17.06.05', '17.06.05', '17.06.05'])
  })
})

describe('outbox (seed 001 §5)', () => {
  it('a COMPLETE committed with its step result but never sent is handled on resume; a finished run has nothing pending', async () => {
    const {inventory, state} = await stack()
    const crashed = await chainup(['upgrade', inventory, '--json', '--state-dir', state], {CHAINUP_FAILPOINT: 'outbox-committed:sw2'}).done
    expect(crashed.signal).toBe('SIGKILL')
    const {default: Database} = await import('better-sqlite3')
    const pending = () => {
      const db = new Database(join(state, 'chainup.db'), {readonly: true})
      try {
        return db.prepare(`SELECT device, side, line FROM outbox WHERE sent_at IS NULL ORDER BY id`).all() as Array<{device: string; side: string; line: string}>
      } finally {
        db.close()
      }
    }
    const runId = await runningRun(state)
    // sw2's outcome and its COMPLETE to sw3 were committed together; the line never left.
    expect(pending()).toEqual([{device: 'sw2', side: 'successor', line: `COMPLETE:${runId}`}])
    const resumed = await chainup(['resume', runId, '--json', '--state-dir', state]).done
    await expectFinishedCleanly(runId, state, resumed)
    expect(resumed.stderr).toMatch(/outbox: 1 committed but unsent line/)
    expect(pending()).toEqual([])
  })
})

describe('cancel and lock', () => {
  it('SIGINT: the device in progress finishes, no new device starts, exit 130; resume completes the run', async () => {
    const {inventory, state} = await stack({bootMs: 1500})
    const run = chainup(['upgrade', inventory, '--json', '--state-dir', state])
    sims[1]!.on('event', (e) => e.type === 'install_started' && run.child.kill('SIGINT'))
    const cancelled = await run.done
    expect(cancelled.code, cancelled.stderr).toBe(130)
    const result = JSON.parse(cancelled.stdout)
    expect(result.status).toBe('cancelled')
    expect(result.devices.map((d: {status: string}) => d.status)).toEqual(['upgraded', 'upgraded', 'not_started', 'not_started'])
    expect(installsPerDevice()).toEqual({sw1: 1, sw2: 1})
    // The end of the run on stderr (issue #13): where the result is, and the command that continues the run; run as printed.
    expect(cancelled.stderr).toMatch(new RegExp(`\\n\\S+Z - RECAP run ${result.execution_id} \\(stack resume-stack\\): cancelled in `))
    expect(cancelled.stderr).toContain(` - result saved to ${join(state, 'runs', `${result.execution_id}.json`)}\n`)
    const hint = /^\S+Z - next: chainup (resume \S+ --state-dir \S+) {3}\(continues the run/m.exec(cancelled.stderr)
    expect(hint?.[1], cancelled.stderr).toBe(`resume ${result.execution_id} --state-dir ${state}`)
    const resumed = await chainup([...hint![1]!.split(' '), '--json']).done
    await expectFinishedCleanly(result.execution_id, state, resumed)
    // chainup resume ends with its recap too.
    expect(resumed.stderr).toMatch(new RegExp(`\\n\\S+Z - RECAP run ${result.execution_id} \\(stack resume-stack\\): completed in `))
    expect(resumed.stderr).toMatch(new RegExp(`\\n\\S+Z - next: chainup show ${result.execution_id} --tree --state-dir \\S+ {3}\\(every step and gate of the run\\)\\n$`))
  })

  it('a second SIGINT stops at once: the device in progress is left cancelled, and resume waits for it instead of reloading it again', async () => {
    const {inventory, state} = await stack({bootMs: 1500})
    const run = chainup(['upgrade', inventory, '--json', '--state-dir', state])
    sims[1]!.on('event', (e) => {
      if (e.type !== 'install_started') return
      run.child.kill('SIGINT')
      setTimeout(() => run.child.kill('SIGINT'), 100)
    })
    const stopped = await run.done
    expect(stopped.code, stopped.stderr).toBe(130)
    const result = JSON.parse(stopped.stdout)
    expect(result.status).toBe('cancelled')
    expect(result.reason).toMatch(/second interrupt: stopped at once/)
    expect(result.devices.map((d: {status: string}) => d.status)).toEqual(['upgraded', 'cancelled', 'not_started', 'not_started'])
    const resumed = await chainup(['resume', result.execution_id, '--json', '--state-dir', state]).done
    await expectFinishedCleanly(result.execution_id, state, resumed)
  })

  it('a second upgrade of the same stack exits 4 naming the holder; a lock left by a dead process is taken over', async () => {
    const {inventory, state} = await stack({bootMs: 1500})
    const first = chainup(['upgrade', inventory, '--json', '--state-dir', state])
    await new Promise<void>((resolve) => sims[0]!.on('event', (e) => e.type === 'install_started' && resolve()))
    const second = await chainup(['upgrade', inventory, '--state-dir', state]).done
    expect(second.code).toBe(4)
    expect(second.stderr).toMatch(new RegExp(`stack resume-stack is being upgraded by run [0-9a-f-]{36} \\(pid ${first.child.pid} on `))
    first.child.kill('SIGKILL')
    await first.done
    // The holder is dead: resume takes its lock over and finishes.
    const runId = await runningRun(state)
    const resumed = await chainup(['resume', runId, '--json', '--state-dir', state]).done
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(resumed.stderr).toMatch(/took over|taken over|dead/i)
    expect(sims.map((s) => s.reloads)).toEqual([1, 1, 1, 1])
  })
})
