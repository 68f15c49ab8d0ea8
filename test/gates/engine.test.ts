import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {expandTemplate, type TemplateVars} from '../../src/config/template.js'
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

  describe('placeholders and device text in command gates (issue #8 §2)', () => {
    const vars = (previous?: string): TemplateVars => ({
      stack: 'stack-a',
      target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
      device: {name: 'sw2', host: '10.0.0.12'},
      ...(previous === undefined ? {} : {previous: {version: previous, image: `cat9k_iosxe.${previous}.SPA.bin`}}),
    })
    const real = (previous?: string): Partial<GateContext> => ({expand: (text, mode) => expandTemplate(text, vars(previous), mode)})
    const fresh = () => {
      const cwd = mkdtempSync(join(tmpdir(), 'chainup-gate-cwd-'))
      writeFileSync(join(cwd, 'playbook.yml'), '')
      return {cwd, playbookFile: join(cwd, 'playbook.yml')}
    }

    it.each([['17.06.05;touch${IFS}pwned'], ['$(touch pwned)'], ["x';touch pwned;'"], ['`touch pwned`']])(
      'a hostile previous.version (%s) in run: is one quoted argument: no command runs, the gate sees the text',
      async (version) => {
        const {cwd, playbookFile} = fresh()
        for (const run of ['echo {{ previous.version }}', "echo '{{ previous.version }}'", 'echo "{{ previous.version }}"']) {
          const r = await evaluateGate(cmd(run), ctx({...real(version), playbookFile}))
          expect(r, run).toMatchObject({decision: 'allow', reason: version})
          expect(existsSync(join(cwd, 'pwned')), run).toBe(false)
        }
      },
    )

    it('gives every placeholder value as a CHAINUP_* variable', async () => {
      const r = await evaluateGate(
        cmd('echo "$CHAINUP_STACK|$CHAINUP_TARGET_VERSION|$CHAINUP_TARGET_IMAGE|$CHAINUP_DEVICE|$CHAINUP_DEVICE_HOST|$CHAINUP_PREVIOUS_VERSION|$CHAINUP_PREVIOUS_IMAGE"'),
        ctx(real('17.06.05')),
      )
      expect(r.reason).toBe('stack-a|17.09.05|cat9k_iosxe.17.09.05.SPA.bin|sw2|10.0.0.12|17.06.05|cat9k_iosxe.17.06.05.SPA.bin')
      // The variables carry a hostile value as plain data: "$CHAINUP_PREVIOUS_VERSION" runs nothing.
      const {cwd, playbookFile} = fresh()
      const hostile = await evaluateGate(cmd('echo "$CHAINUP_PREVIOUS_VERSION"'), ctx({...real('17.06.05;touch${IFS}pwned'), playbookFile}))
      expect(hostile.reason).toBe('17.06.05;touch${IFS}pwned')
      expect(existsSync(join(cwd, 'pwned'))).toBe(false)
    })

    it('a variable whose value is not known yet is empty, and overrides one inherited from the environment', async () => {
      process.env.CHAINUP_PREVIOUS_VERSION = 'from-the-parent'
      try {
        const stackGate = ctx({...real(undefined), type: 'final', device: null, expand: (t, m) => expandTemplate(t, {...vars(), device: {name: '', host: ''}}, m)})
        const r = await evaluateGate(cmd('echo "[$CHAINUP_PREVIOUS_VERSION][$CHAINUP_PREVIOUS_IMAGE][$CHAINUP_DEVICE_HOST][$CHAINUP_TARGET_VERSION]"'), stackGate)
        expect(r.reason).toBe('[][][][17.09.05]')
      } finally {
        delete process.env.CHAINUP_PREVIOUS_VERSION
      }
    })

    it('extra variables (CHAINUP_ERROR) and the reason a gate prints reach it and the run without control characters', async () => {
      const error = 'sw2: device reported an error: % Invalid input\x1b]0;owned\x07\r\x1b[2Kall good\x9b31m'
      const r = await evaluateGate(cmd('printf "%s\\n" "$CHAINUP_ERROR"; printf "%s" "$CHAINUP_ERROR" > seen.txt'), ctx({extraEnv: {CHAINUP_ERROR: error}}))
      const seen = readFileSync(join(dir, 'seen.txt'), 'utf8')
      expect(seen).toBe('sw2: device reported an error: % Invalid input\\x1b]0;owned\\x07\\r\\x1b[2Kall good\\x9b31m')
      expect(r.reason).toBe(seen)
      const echoed = await evaluateGate(cmd("printf 'ok \\033[31mred\\007\\r\\n'"), ctx())
      expect(echoed.reason).toBe('ok \\x1b[31mred\\x07')
    })

    it('a placeholder where the quoting cannot be followed vetoes, naming the variable to use', async () => {
      const r = await evaluateGate(cmd('echo "$(echo {{ previous.version }})"'), ctx(real('17.06.05')))
      expect(r).toMatchObject({decision: 'veto', reason: expect.stringContaining('use "$CHAINUP_PREVIOUS_VERSION" instead')})
    })
  })
})
