/**
 * A switch that prints shell syntax and terminal escape sequences (issue #8 §2), driven through the real CLI
 * (bin/run.js, no TTY: plain progress). The simulated switches live in this test process with the simulator-only
 * fault `hostile_output` (docs/lab.md "Faults"): its `show version` says
 * `Version 17.06.05;touch${IFS}pwned;$(touch${IFS}pwned2)<ESC>]0;owned<BEL><ESC>[2J<CSI>31m`, its uptime and every
 * error line carry more of the same (`HOSTILE` in src/lab/ios-output.ts).
 *
 * What must hold: no command a device put in its output runs on this host (no `pwned*` file appears, in the gates'
 * directory or the CLI's), no ESC, BEL, CR or 8-bit CSI reaches the CLI's stdout or stderr, and the run ends with a
 * reason that says what was wrong.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {parse, stringify} from 'yaml'

import {SimSwitch, type SimFault} from '../../src/lab/sim-switch.js'
import {freePorts, ROOT, TEST_PASSWORD} from '../helpers/lab-stack.js'

/** Raw terminal control the CLI must never print: C0 controls but LF, DEL, C1 controls (U+009B is CSI). */
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/

let sims: SimSwitch[] = []

interface Exit {
  code: number | null
  stdout: string
  stderr: string
}

function chainup(args: string[]): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {
      cwd: ROOT,
      env: {...process.env, CI: 'true', CHAINUP_TEST_PASSWORD: TEST_PASSWORD},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.once('close', (code) => resolve({code, stdout, stderr}))
  })
}

/** Simulated switches (sw1, sw2, … with the given faults), the shipped playbook changed by `playbook`, an inventory. */
async function stack(faults: SimFault[][], playbook: (p: Record<string, any>) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-hostile-'))
  const ports = await freePorts(faults.length)
  sims = faults.map(
    (f, i) =>
      new SimSwitch({
        name: `sw${i + 1}`,
        port: ports[i]!,
        username: 'netops',
        password: TEST_PASSWORD,
        version: '17.06.05',
        extraImages: ['cat9k_iosxe.17.09.05.SPA.bin'],
        bootTimeMs: 300,
        faults: f,
      }),
  )
  await Promise.all(sims.map((s) => s.start()))
  const book = parse(readFileSync(join(ROOT, 'playbooks/ios-xe-install.yml'), 'utf8')) as Record<string, any>
  playbook(book)
  writeFileSync(join(dir, 'playbook.yml'), stringify(book))
  const inventory = join(dir, 'stack.yml')
  writeFileSync(
    inventory,
    stringify({
      stack: 'hostile-stack',
      playbook: './playbook.yml',
      target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
      ssh: {username: 'netops', password_env: 'CHAINUP_TEST_PASSWORD'},
      timeouts: {settle: 'PT0S', command: 'PT10S', boot: 'PT20S', predecessor: 'PT60S', gate: 'PT10S', connect: 'PT5S'},
      devices: sims.map((s, i) => ({name: `sw${i + 1}`, host: '127.0.0.1', port: s.port, host_key: s.hostKeyFingerprint})),
    }),
  )
  return {dir, inventory, state: join(dir, 'state')}
}

/** Files a `touch pwned…` would have left in the gates' directory or the CLI's. */
function pwned(dir: string): string[] {
  return [...readdirSync(dir), ...readdirSync(ROOT)].filter((f) => f.startsWith('pwned'))
}

function savedResult(state: string): {status: string; reason: string | null; steps: Array<{action: string; status: string; error: string | null}>; gates: Array<{type: string; name: string; device: string | null; decision: string; reason: string}>} {
  const runs = readdirSync(join(state, 'runs')).filter((f) => f.endsWith('.json'))
  expect(runs).toHaveLength(1)
  return JSON.parse(readFileSync(join(state, 'runs', runs[0]!), 'utf8'))
}

function expectNoRawControl(run: Exit): void {
  expect(RAW_CONTROL.exec(run.stdout), `stdout: ${JSON.stringify(run.stdout)}`).toBeNull()
  expect(RAW_CONTROL.exec(run.stderr), `stderr: ${JSON.stringify(run.stderr)}`).toBeNull()
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/commands/upgrade.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) first')
})
afterEach(async () => {
  await Promise.all(sims.map((s) => s.stop()))
  sims = []
})

describe('a switch whose output carries shell syntax and escape sequences (issue #8 §2)', () => {
  it('its version is refused before anything reloads: no injected command runs, no escape reaches the terminal', async () => {
    const {dir, inventory, state} = await stack([[], ['hostile_output']], (p) => {
      p.gates.after.push({name: 'record previous', run: 'echo "was {{ previous.version }}" >> previous.txt; echo was {{ previous.version }}'})
    })
    const run = await chainup(['upgrade', inventory, '--state-dir', state])

    expect(pwned(dir)).toEqual([])
    expectNoRawControl(run)
    expect(run.code, run.stderr).toBe(1)
    const result = savedResult(state)
    expect(result.status).toBe('failed')
    expect(result.reason).toBe(
      'sw2 is not ready: show version reports version "17.06.05;touch${IFS}pwned;$(touch${IFS}pwned2)\\x1b]0;owned\\x07\\x1b[2J\\x9b31m" which does not look like a version (a letter or digit, then up to 63 of: letters, digits, . _ - + ( ))',
    )
    // The operator sees the same reason, escaped, in the plain progress.
    expect(run.stdout).toContain('sw2: show version reports version "17.06.05;touch${IFS}pwned;$(touch${IFS}pwned2)\\x1b]0;owned\\x07\\x1b[2J\\x9b31m" which does not look like a version')
    // Nothing reloaded, no gate ran with the hostile value.
    expect(sims.flatMap((s) => s.events).filter((e) => e.type === 'install_started')).toEqual([])
    expect(existsSync(join(dir, 'previous.txt'))).toBe(false)
  })

  it('its error output reaches the run and an on_error gate (CHAINUP_ERROR, {{ previous.version }}) as text only', async () => {
    const {dir, inventory, state} = await stack([['hostile_output']], (p) => {
      // A stricter version pattern (a legitimate choice) reads 17.06.05 and ignores the rest of the line.
      p.facts.version = 'Cisco IOS XE Software, Version (?<version>\\d+\\.\\d+\\.\\d+)'
      delete p.facts.uptime
      // A command the switch does not know: it answers with its (hostile) "% Invalid input" error.
      p.upgrade.unshift({name: 'show inventory', command: 'show inventory'})
      p.gates.on_error = [{name: 'note', run: 'printf "%s" "$CHAINUP_ERROR" > error.txt; echo noted for {{ previous.version }} "$CHAINUP_PREVIOUS_VERSION"'}]
    })
    const run = await chainup(['upgrade', inventory, '--state-dir', state])

    expect(pwned(dir)).toEqual([])
    expectNoRawControl(run)
    expect(run.code, run.stderr).toBe(1)
    const error = readFileSync(join(dir, 'error.txt'), 'utf8')
    expect(RAW_CONTROL.exec(error), JSON.stringify(error)).toBeNull()
    const reported = `device reported an error: % Invalid input detected at '^' marker. $(touch pwned4)\\x1b[31m\\x07\\r\\x1b[2Kall good;touch\${IFS}pwned5`
    expect(error).toBe(`sw1: step "show inventory" failed: ${reported}`)
    const result = savedResult(state)
    expect(result.status).toBe('failed')
    expect(result.reason).toBe('failed on sw1 (on_error gates allowed the chain to continue)')
    expect(result.steps.find((st) => st.action === 'show inventory')).toMatchObject({status: 'failed', error: reported})
    expect(result.gates.filter((g) => g.type === 'on_error')).toEqual([{type: 'on_error', name: 'note', device: 'sw1', decision: 'allow', reason: 'noted for 17.06.05 17.06.05'}])
    expect(run.stdout).toMatch(/ sw1 step \d+ show inventory: failed in \d+ms - device reported an error: % Invalid input detected at '\^' marker\. \$\(touch pwned4\)\\x1b\[31m\\x07\\r\\x1b\[2Kall good;touch\$\{IFS\}pwned5\n/)
    expect(sims[0]!.events.filter((e) => e.type === 'install_started')).toEqual([])
  })
})
