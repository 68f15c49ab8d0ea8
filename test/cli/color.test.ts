/**
 * NO_COLOR (https://no-color.org: any non-empty value) turns off every colour chainup prints: oclif's help and errors
 * (ansis), the listr2 progress view (colorette), and chainup's own lines (plain by construction), also when
 * FORCE_COLOR asks for colour. Checked through the built CLI in a real pseudo-terminal (util-linux `script`), where
 * colour is on by default, and without a TTY, where it is off unless FORCE_COLOR forces it.
 */
import {execFile, execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ROOT, freePorts} from '../helpers/lab-stack.js'

/** An SGR sequence: what sets a colour, bold or dim (cursor movement of the live progress view is not colour). */
const SGR = /\x1b\[[0-9;]*m/

interface Run {
  code: number
  out: string
}

/** The environment without any colour setting of the caller's (a CI runner may set FORCE_COLOR) and without CI. */
function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const {NO_COLOR: _n, FORCE_COLOR: _f, CI: _c, ...env} = process.env
  return {...env, TERM: 'xterm-256color', CHAINUP_LAB_PASSWORD: 'Te5t-secret-pa55word', ...extra}
}

/** Runs the built CLI in a pseudo-terminal of 120 columns; stdout and stderr both arrive on the terminal. */
function inTerminal(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const command = ['stty cols 120 rows 40;', 'exec', process.execPath, join(ROOT, 'bin/run.js'), ...args].map((a, i) => (i < 2 ? a : shellQuote(a))).join(' ')
  return new Promise((resolve) => {
    execFile('script', ['-qec', command, '/dev/null'], {cwd: ROOT, env: baseEnv(env), timeout: 60_000}, (error, stdout) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout})
    })
  })
}

/** Runs the built CLI without a TTY (as cron does); stdout and stderr together. */
function withoutTerminal(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {cwd: ROOT, env: baseEnv(env), timeout: 60_000}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, out: stdout + stderr})
    })
  })
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`
}

const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
})()

let dir: string
/** Three inventories (the lab runs of these tests run at once, each on its own port). */
const inventories: string[] = []

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-color-'))
  writeFileSync(join(dir, 'known_hosts'), '')
  for (const port of await freePorts(3)) {
    const file = join(dir, `stack-${port}.yml`)
    // One simulated switch without its image: readiness fails within a second, and the run fails (exit 1).
    writeFileSync(
      file,
      `stack: color-stack-${port}
playbook: ${join(ROOT, 'playbooks/ios-xe-install.yml')}
target: {version: "17.09.05", image: cat9k_iosxe.17.09.05.SPA.bin}
ssh: {username: netops, password_env: CHAINUP_LAB_PASSWORD, known_hosts: ./known_hosts}
devices:
  - {name: sw1, host: 127.0.0.1, port: ${port}, lab: {faults: [missing_image]}}
`,
    )
    inventories.push(file)
  }
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** A failing lab run with the i-th inventory, journaled in its own state directory. */
const lab = (i: number) => ['upgrade', inventories[i] ?? '', '--lab', '--state-dir', join(dir, `state-${i}`)]

describe.skipIf(!hasScript)('in a terminal', () => {
  it('help is coloured, and not with NO_COLOR=1, even with FORCE_COLOR', async () => {
    const [plain, noColor, both] = await Promise.all([
      inTerminal(['upgrade', '--help']),
      inTerminal(['upgrade', '--help'], {NO_COLOR: '1'}),
      inTerminal(['upgrade', '--help'], {NO_COLOR: 'true', FORCE_COLOR: '3'}),
    ])
    expect(plain.out).toMatch(SGR)
    for (const run of [noColor, both]) {
      expect(run.code).toBe(0)
      expect(run.out).toContain('EXAMPLES')
      expect(run.out).not.toMatch(SGR)
    }
  })

  it('the listr2 progress view of a failing lab run is coloured, and not with NO_COLOR=1', async () => {
    const [coloured, noColor] = await Promise.all([inTerminal(lab(0)), inTerminal(lab(1), {NO_COLOR: '1'})])
    for (const run of [coloured, noColor]) {
      expect(run.code).toBe(1)
      // The live view (it redraws in place), not the plain lines.
      expect(run.out).toContain('\x1b[1A')
      expect(run.out).toMatch(/sw1 +not started: the chain stopped/)
      // The recap after the live view (issue #13): on a terminal without the plain lines' stamps.
      expect(run.out).toMatch(/RECAP run [0-9a-f-]{36} \(stack color-stack-\d+\): failed in /)
      expect(run.out).toMatch(/^reason: .*sw1 is not ready/m)
    }
    expect(coloured.out).toMatch(SGR)
    expect(noColor.out).not.toMatch(SGR)
  })

  it('failing commands print no colour with NO_COLOR=1', async () => {
    const runs = await Promise.all([
      inTerminal(['validate', join(dir, 'missing.yml')], {NO_COLOR: '1'}),
      inTerminal(['show'], {NO_COLOR: '1'}),
      inTerminal(['history', '--status', 'bogus', '--state-dir', join(dir, 'h')], {NO_COLOR: '1'}),
      inTerminal(['upgarde'], {NO_COLOR: '1'}),
      inTerminal(['schema', 'inventroy'], {NO_COLOR: '1'}),
    ])
    for (const run of runs) {
      expect(run.code).toBe(2)
      expect(run.out).not.toMatch(SGR)
    }
  })
})

describe('without a terminal', () => {
  it('nothing is coloured: help, a failing lab run (plain lines), a failing command', async () => {
    const runs = await Promise.all([withoutTerminal(['--help']), withoutTerminal(lab(2)), withoutTerminal(['validate', join(dir, 'missing.yml')])])
    expect(runs.map((r) => r.code)).toEqual([0, 1, 2])
    expect(runs[1]?.out).toMatch(/^\d{4}-\d\d-\d\dT\S+Z sw1 /m)
    for (const run of runs) expect(run.out).not.toContain('\x1b')
  })

  it('FORCE_COLOR colours help and errors without a TTY; NO_COLOR wins over it', async () => {
    const [forced, both] = await Promise.all([withoutTerminal(['--help'], {FORCE_COLOR: '1'}), withoutTerminal(['--help'], {FORCE_COLOR: '1', NO_COLOR: '1'})])
    expect(forced.out).toMatch(SGR)
    expect(both.out).toContain('USAGE')
    expect(both.out).not.toContain('\x1b')
  })
})
