/**
 * A failure of chainup's own that nothing caught (an unhandled rejection, a throw in a callback) never ends the CLI
 * silently or with a bare stack trace: bin/run.js's process-level handlers print one line naming the error (and, for
 * a run, its journal and how to continue it), keep the stack in `<state-dir>/crash-<pid>.log`, and exit 1.
 * Triggered in the spawned CLI with the test-only CHAINUP_FAILPOINT=internal-error:uncaught|rejection.
 */
import {execFile} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ROOT} from '../../helpers/lab-stack.js'

interface Run {
  code: number | null
  pid: number
  stdout: string
  stderr: string
}

function chainup(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {cwd: ROOT, env: {...process.env, CI: 'true', DEBUG: '', ...env}, timeout: 60_000}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : null) : 0, pid: child.pid!, stdout, stderr})
    })
  })
}

let dir: string
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/src/cli/base.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)')
  dir = mkdtempSync(join(tmpdir(), 'chainup-internal-error-'))
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('process-level handlers of the CLI', () => {
  it('an uncaught exception: one line on stderr, the stack in the state directory, exit 1', async () => {
    const stateDir = join(dir, 'state-1')
    mkdirSync(stateDir, {mode: 0o700})
    const r = await chainup(['history', '--state-dir', stateDir], {CHAINUP_FAILPOINT: 'internal-error:uncaught'})
    expect(r.code).toBe(1)
    const log = join(stateDir, `crash-${r.pid}.log`)
    expect(r.stderr).toBe(`chainup: internal error: failpoint internal-error:uncaught; details in ${log}\n`)
    const text = readFileSync(log, 'utf8')
    expect(text).toMatch(/ pid \d+: chainup history --state-dir /)
    expect(text).toMatch(/Error: failpoint internal-error:uncaught\n\s+at /)
    expect(statSync(log).mode & 0o777).toBe(0o600)
  })

  it('an unhandled rejection during a run: the line names the journal and how to continue the run; without a state directory the stack follows it', async () => {
    const stateDir = join(dir, 'state-2-not-created')
    const r = await chainup(['upgrade', join(ROOT, 'inventories/lab.yml'), '--state-dir', stateDir], {CHAINUP_FAILPOINT: 'internal-error:rejection', CHAINUP_LAB_PASSWORD: 'Not-used-here'})
    expect(r.code).toBe(1)
    const [first, ...rest] = r.stderr.split('\n')
    expect(first).toBe(
      `chainup: internal error: failpoint internal-error:rejection; the run's journal is in ${join(stateDir, 'chainup.db')}: chainup history --state-dir ${stateDir} names the run, chainup resume RUN_ID continues it`,
    )
    expect(rest.join('\n')).toMatch(/^Error: failpoint internal-error:rejection\n\s+at /)
  })
})
