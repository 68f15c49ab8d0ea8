import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import type {Gate} from '../../src/config/types.js'
import {evaluateGate, type GateContext} from '../../src/gates/engine.js'
import type {DeviceSession} from '../../src/model/device-session.js'
import type {GateEvaluation} from '../../src/model/result.js'
import {FakeClock, until} from '../helpers/fake-clock.js'

const dir = mkdtempSync(join(tmpdir(), 'chainup-gates-'))
writeFileSync(join(dir, 'playbook.yml'), '')
const ctx = (over: Partial<GateContext> = {}): GateContext => ({
  runId: 'run-1',
  stack: 'stack-a',
  type: 'after',
  device: 'sw2',
  playbookFile: join(dir, 'playbook.yml'),
  defaultTimeoutMs: 5000,
  expand: (t) => t.replace('{{ target.version }}', '17\\.09\\.05'),
  ...over,
})
/** Whether a process exists and is not a zombie. */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
const cmd = (run: string, timeout?: number): Gate => ({kind: 'command', name: 'g', run, ...(timeout === undefined ? {} : {timeout})})

describe('gate engine (DEC-002 gates)', () => {
  it('exit 0 allows, the first non-empty stdout line is the reason, and the CHAINUP_* variables are set', async () => {
    const r = await evaluateGate(cmd('echo; echo "$CHAINUP_RUN_ID $CHAINUP_STACK $CHAINUP_DEVICE $CHAINUP_GATE"; echo second'), ctx())
    expect(r).toEqual({type: 'after', name: 'g', device: 'sw2', decision: 'allow', reason: 'run-1 stack-a sw2 after'})
  })

  it('any other exit vetoes; without output the reason names the exit status', async () => {
    expect(await evaluateGate(cmd('exit 4'), ctx())).toMatchObject({decision: 'veto', reason: 'exit 4'})
    expect(await evaluateGate(cmd('echo "not in window" ; exit 1'), ctx())).toMatchObject({decision: 'veto', reason: 'not in window'})
  })

  it('runs in the playbook directory', async () => {
    writeFileSync(join(dir, 'check.sh'), 'echo from-script\n', {mode: 0o755})
    expect(await evaluateGate(cmd('./check.sh'), ctx())).toMatchObject({decision: 'allow', reason: 'from-script'})
  })

  it('a gate past its timeout vetoes, and its children die with it', async () => {
    const clock = new FakeClock()
    const pidFile = join(dir, 'child.pid')
    let verdict: GateEvaluation | undefined
    void evaluateGate(cmd(`(sleep 30) & echo $! > ${pidFile}; sleep 30`, 300), ctx({clock})).then((r) => (verdict = r))
    await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== '', 'the gate to start its child')
    const child = Number(readFileSync(pidFile, 'utf8'))
    await clock.advance(299)
    await clock.settle(50)
    expect(verdict).toBeUndefined()
    await clock.advance(1)
    await until(() => verdict !== undefined, 'the gate to be killed')
    expect(verdict).toMatchObject({decision: 'veto', reason: 'gate timed out after 300ms'})
    // The whole process group was killed: the gate's background child is gone (or a zombie awaiting its reaper).
    await until(() => !alive(child), `child ${child} to die`)
  })

  it('does not pass secret variables to gates', async () => {
    process.env.CHAINUP_TEST_SECRET = 'hunter2'
    try {
      const r = await evaluateGate(cmd('echo "[${CHAINUP_TEST_SECRET:-unset}]"'), ctx({hiddenEnv: ['CHAINUP_TEST_SECRET']}))
      expect(r.reason).toBe('[unset]')
    } finally {
      delete process.env.CHAINUP_TEST_SECRET
    }
  })

  it('a device command gate allows on a match and vetoes on a mismatch, a reject match or a dropped session', async () => {
    const session = (output: string, dropped = false): DeviceSession => ({exec: async () => ({output, exitCode: dropped ? undefined : 0, dropped}), close: () => undefined})
    const gate: Gate = {kind: 'device_command', name: 'ver', device_command: 'show version', expect: 'Version {{ target.version }}', reject: 'CRASH'}
    expect(await evaluateGate(gate, ctx({session: session('Version 17.09.05')}))).toMatchObject({decision: 'allow'})
    expect(await evaluateGate(gate, ctx({session: session('Version 17.09.04')}))).toMatchObject({decision: 'veto', reason: expect.stringMatching(/does not match/)})
    expect(await evaluateGate(gate, ctx({session: session('Version 17.09.05\nlast CRASH at boot')}))).toMatchObject({decision: 'veto', reason: expect.stringMatching(/matches \/CRASH\/: last CRASH at boot/)})
    expect(await evaluateGate(gate, ctx({session: session('', true)}))).toMatchObject({decision: 'veto', reason: expect.stringMatching(/connection dropped/)})
    expect(await evaluateGate(gate, ctx())).toMatchObject({decision: 'veto', reason: 'no device session for a device_command gate'})
  })
})
