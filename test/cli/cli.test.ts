import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {format} from 'node:util'

import {settings} from '@oclif/core'
import {runCommand} from '@oclif/test'
import {beforeAll, describe, expect, it, vi} from 'vitest'
import {parse, stringify} from 'yaml'

import {chainup, type Run} from '../helpers/cli.js'
import {freePorts, ROOT} from '../helpers/lab-stack.js'


/**
 * Runs a command in this process with oclif's own `run` (what bin/run.js's `execute` calls), on the compiled commands
 * in dist/ like bin/run.js, with the environment the spawned runs get (CI=true: no TTY progress).
 *
 * `code` is the status bin/run.js would exit with: `execute` hands an error to oclif's `handle`, which exits with
 * `error.oclif.exit` (1 if it has none); without an error the process ends with `process.exitCode` (0 if unset), which
 * is how `upgrade`, `resume` and `show --verify` report their status. ChainupCommand.catch prints a ChainupError or a
 * parse error on stderr and throws oclif's ExitError (`this.exit(2)`), so bad input arrives as `error.oclif.exit === 2`.
 */
async function chainupInProcess(args: string[], env: Record<string, string> = {}): Promise<Run> {
  // @oclif/test joins the arguments with spaces and splits them again.
  for (const a of args) if (/\s/.test(a)) throw new Error(`chainupInProcess: argument with whitespace: ${a}`)
  const exitCodeBefore = process.exitCode
  process.exitCode = undefined
  for (const [k, v] of Object.entries({CI: 'true', ...env})) vi.stubEnv(k, v)
  // oclif's this.log and help print with console.log/console.error; vitest intercepts the console in its workers, so
  // send them to process.stdout/stderr as Node's console does, where runCommand captures them.
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void process.stdout.write(format(...a) + '\n'))
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void process.stderr.write(format(...a) + '\n'))
  try {
    const r = await runCommand(args, {root: ROOT})
    const code = r.error ? (r.error.oclif?.exit ?? 1) : Number(process.exitCode ?? 0)
    return {code, stdout: r.stdout, stderr: r.stderr}
  } finally {
    log.mockRestore()
    error.mockRestore()
    vi.unstubAllEnvs()
    process.exitCode = exitCodeBefore
  }
}

/** A lab inventory like inventories/lab.yml but on free ports, with overrides. */
async function labInventory(dir: string, patch: (inv: Record<string, any>) => void = () => undefined): Promise<string> {
  const inv = parse(readFileSync(join(ROOT, 'inventories/lab.yml'), 'utf8')) as Record<string, any>
  const ports = await freePorts(inv.devices.length + 1)
  inv.playbook = join(ROOT, 'playbooks/ios-xe-install.yml')
  inv.ssh.known_hosts = join(ROOT, 'inventories/lab_known_hosts')
  inv.lab.boot_time = 'PT0.3S'
  inv.devices.forEach((d: Record<string, unknown>, i: number) => (d.port = ports[i]))
  inv.snmp.traps[0].port = ports.at(-1)
  patch(inv)
  const file = join(dir, 'stack.yml')
  writeFileSync(file, stringify(inv))
  return file
}

const ISO_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ /

describe('chainup CLI', () => {
  let dir: string
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist/commands/upgrade.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) before the CLI tests')
    dir = mkdtempSync(join(tmpdir(), 'chainup-cli-'))
  })

  it('quick start: upgrade inventories/lab.yml --lab --json exits 0 with a completed ChainExecutionResult', async () => {
    const state = join(dir, 'quick-state')
    const r = await chainup(['upgrade', 'inventories/lab.yml', '--lab', '--json', '--state-dir', state])
    expect(r.code, r.stderr).toBe(0)
    const result = JSON.parse(r.stdout)
    expect(result).toMatchObject({chain_id: 'lab-stack', status: 'completed'})
    expect(Object.keys(result)).toEqual(expect.arrayContaining(['execution_id', 'chain_id', 'status', 'started_at', 'completed_at', 'duration_ms', 'steps', 'gates']))
    expect(result.devices.map((d: {status: string}) => d.status)).toEqual(['upgraded', 'upgraded', 'upgraded', 'upgraded'])
    expect(existsSync(join(state, 'runs', `${result.execution_id}.json`))).toBe(true)
    // Progress went to stderr as plain timestamped lines: no colour, no spinner.
    const lines = r.stderr.trim().split('\n')
    expect(lines.length).toBeGreaterThan(20)
    for (const line of lines) expect(line).toMatch(ISO_LINE)
    expect(r.stderr).not.toMatch(/\x1b\[/)
  })

  it('history, show --tree and show --verify read the journal of that run; a tampered row is named (exit 1)', async () => {
    const state = join(dir, 'history-state')
    const file = await labInventory(dir, (inv) => (inv.devices = inv.devices.slice(0, 2)))
    expect((await chainup(['upgrade', file, '--lab', '--state-dir', state])).code).toBe(0)
    const history = await chainup(['history', '--json', '--state-dir', state])
    expect(history.code, history.stderr).toBe(0)
    const page = JSON.parse(history.stdout)
    expect(page).toMatchObject({total: 1, page: 1, pages: 1})
    const runId = page.runs[0].execution_id as string
    expect(page.runs[0]).toMatchObject({chain_id: 'lab-stack', status: 'completed'})
    const plain = await chainup(['history', '--status', 'failed', '--state-dir', state])
    expect(plain.stdout).toMatch(/^no runs match$/m)
    const tree = await chainup(['show', runId, '--tree', '--state-dir', state])
    expect(tree.code).toBe(0)
    expect(tree.stdout).toMatch(new RegExp(`^run ${runId} lab-stack completed`))
    expect(tree.stdout).toMatch(/^├─ sw1 upgraded /m)
    expect(tree.stdout).toMatch(/gate after "running target": allow/)
    expect(tree.stdout).toMatch(/install image completed/)
    expect((await chainup(['show', runId, '--verify', '--state-dir', state])).code).toBe(0)
    // Change a gate's decision behind the journal's back: verify names the row and fails.
    const {default: Database} = await import('better-sqlite3')
    const db = new Database(join(state, 'chainup.db'))
    db.prepare(`UPDATE gate_evaluations SET decision = 'veto' WHERE id = (SELECT MIN(id) FROM gate_evaluations)`).run()
    db.close()
    const tampered = await chainup(['show', runId, '--verify', '--state-dir', state])
    expect(tampered.code).toBe(1)
    expect(tampered.stdout).toMatch(/journal TAMPERED: first bad row in gate_evaluations/)
  })

  it('without --json prints plain progress on stdout and never prints the password', async () => {
    const file = await labInventory(dir, (inv) => (inv.devices = inv.devices.slice(0, 2)))
    const r = await chainup(['upgrade', file, '--lab', '--state-dir', join(dir, 's2')], {CHAINUP_LAB_PASSWORD: 'N0t-in-any-output!'})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/run [0-9a-f-]{36} completed/)
    expect(r.stdout + r.stderr).not.toContain('N0t-in-any-output!')
    const runId = /run ([0-9a-f-]{36}) completed/.exec(r.stdout)![1]!
    const saved = readFileSync(join(dir, 's2', 'runs', `${runId}.json`), 'utf8')
    expect(saved).not.toContain('N0t-in-any-output!')
  })

  it('exit 1 when the run fails (a device is not ready), and nothing reboots', async () => {
    const file = await labInventory(dir, (inv) => (inv.devices[1].lab = {faults: ['missing_image']}))
    const r = await chainup(['upgrade', file, '--lab', '--json', '--state-dir', join(dir, 's3')])
    expect(r.code).toBe(1)
    const result = JSON.parse(r.stdout)
    expect(result.status).toBe('failed')
    expect(result.steps.filter((s: {action: string}) => s.action === 'install image')).toEqual([])
  })

  it('exit 3 when a gate vetoes', async () => {
    const pb = parse(readFileSync(join(ROOT, 'playbooks/ios-xe-install.yml'), 'utf8')) as Record<string, any>
    pb.gates.before = [{name: 'change window', scope: 'stack', run: 'echo closed; exit 1'}]
    writeFileSync(join(dir, 'veto.yml'), stringify(pb))
    const file = await labInventory(dir, (inv) => (inv.playbook = join(dir, 'veto.yml')))
    const r = await chainup(['upgrade', file, '--lab', '--json', '--state-dir', join(dir, 's4')])
    expect(r.code).toBe(3)
    expect(JSON.parse(r.stdout)).toMatchObject({status: 'vetoed', gates: [{type: 'before', name: 'change window', device: null, decision: 'veto', reason: 'closed'}]})
  })

  it('bin/run.js exits with the status the in-process tests read from error.oclif.exit (2 for a missing argument)', async () => {
    const r = await chainup(['upgrade'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^Error: Missing 1 required arg:/)
    expect(r.stdout).toBe('')
  })
})

/*
 * Argument parsing, input checks and printed output, run in this process (no child, no device, no socket). Exit codes
 * as the process would end with them: see chainupInProcess.
 */
describe('chainup CLI in-process (@oclif/test)', () => {
  let dir: string
  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist/commands/validate.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) before the CLI tests')
    // Load the compiled commands in dist/ as bin/run.js does, never commands/*.ts through a TypeScript loader.
    settings.enableAutoTranspile = false
    dir = mkdtempSync(join(tmpdir(), 'chainup-cli-inproc-'))
  })

  it('exit 2 with file:line:col for a bad inventory, from validate and from upgrade', async () => {
    const bad = join(dir, 'bad.yml')
    writeFileSync(bad, readFileSync(join(ROOT, 'inventories/lab.yml'), 'utf8').replace('host: 127.0.0.1, port: 10022', 'host: "not a host!", port: 10022'))
    for (const args of [['validate', bad], ['upgrade', bad, '--lab']]) {
      const r = await chainupInProcess(args)
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(new RegExp(`${bad.replace(/[.]/g, '\\.')}:\\d+:\\d+ devices\\[1\\]\\.host: expected a hostname or IP address`))
      expect(r.stdout).toBe('')
    }
  })

  it('exit 2 naming the variable when a secret is missing, before touching any device', async () => {
    const file = await labInventory(dir)
    const r = await chainupInProcess(['upgrade', file, '--state-dir', join(dir, 's5')], {CHAINUP_LAB_PASSWORD: ''})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/ssh\.password_env: environment variable CHAINUP_LAB_PASSWORD is not set/)
  })

  it('exit 2 for a private key that does not parse, before touching any device', async () => {
    const key = join(dir, 'broken_key')
    writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n')
    const file = await labInventory(dir, (inv) => (inv.ssh = {username: 'netops', private_key: key, known_hosts: inv.ssh.known_hosts}))
    const r = await chainupInProcess(['upgrade', file, '--state-dir', join(dir, 's6')])
    expect(r.code, r.stderr).toBe(2)
    expect(r.stderr).toMatch(/ssh\.private_key: cannot use .*broken_key: /)
  })

  it('validate accepts the shipped inventory and playbook', async () => {
    const inv = await chainupInProcess(['validate', join(ROOT, 'inventories/lab.yml')])
    expect(inv.code, inv.stderr).toBe(0)
    expect(inv.stdout).toMatch(/valid inventory for stack lab-stack: sw1 -> sw2 -> sw3 -> sw4/)
    expect(inv.stdout).toMatch(/ChainSync links: TLS 1\.3 with random per-run pre-shared keys/)
    expect(inv.stdout).not.toMatch(/warning/)
    const pb = await chainupInProcess(['validate', join(ROOT, 'playbooks/ios-xe-install.yml')])
    expect(pb.code, pb.stderr).toBe(0)
    expect(pb.stdout).toMatch(/valid playbook "ios-xe-install"/)
  })

  it('validate explains an insecure setting it accepts (issue #8: plain TCP is an explicit, explained opt-in)', async () => {
    const file = await labInventory(dir, (inv) => (inv.chainsync = {insecure_plain_tcp: true}))
    const r = await chainupInProcess(['validate', file])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/ChainSync links: plain TCP, NOT authenticated \(chainsync\.insecure_plain_tcp\)/)
    expect(r.stdout).toMatch(/warning: chainsync\.insecure_plain_tcp: true: anyone who can reach a node port can send READY\/START\/ABORT/)
  })

  it('a missing argument is bad input (exit 2)', async () => {
    for (const [args, arg] of [[['upgrade'], 'inventory'], [['validate'], 'file'], [['resume'], 'run'], [['show'], 'run']] as const) {
      const r = await chainupInProcess([...args])
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toMatch(new RegExp(`^Error: Missing 1 required arg:\\n${arg} `))
      expect(r.stdout).toBe('')
    }
  })

  it('a bad flag is bad input (exit 2): unknown flag, non-integer, value not among the options, required flag missing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['validate', '--nope', join(ROOT, 'inventories/lab.yml')], /^Error: Nonexistent flag: --nope/],
      [['history', '--limit', 'abc', '--state-dir', join(dir, 'flags')], /^Error: Parsing --limit\s+Expected an integer but received: abc/],
      [['history', '--status', 'bogus', '--state-dir', join(dir, 'flags')], /^Error: Expected --status=bogus to be one of: running, completed, failed, vetoed, cancelled/],
      [['node', '--device', 'sw1'], /^Error: The following error occurred:\s+Missing required flag inventory/],
    ]
    for (const [args, message] of cases) {
      const r = await chainupInProcess(args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(r.stdout).toBe('')
    }
  })

  it('history of an empty state directory: no runs (plain and --json), exit 0', async () => {
    const state = join(dir, 'empty-state')
    const plain = await chainupInProcess(['history', '--state-dir', state])
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stdout).toBe('no runs match\n')
    const json = await chainupInProcess(['history', '--json', '--state-dir', state])
    expect(json.code, json.stderr).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual({runs: [], total: 0, page: 1, pages: 0})
  })

  it('show of a run the journal does not have is bad input (exit 2) with a hint', async () => {
    const r = await chainupInProcess(['show', '0b9f4c1e-7c0e-4a59-9a43-1d1f1f4d9a10', '--state-dir', join(dir, 'empty-state')])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^Error: no run 0b9f4c1e-7c0e-4a59-9a43-1d1f1f4d9a10 in .*chainup\.db\nHint: chainup history lists the runs/)
    expect(r.stdout).toBe('')
  })

  it('--help lists the commands, COMMAND --help shows its usage, --version prints the version (exit 0)', async () => {
    const help = await chainupInProcess(['--help'])
    expect(help.code, help.stderr).toBe(0)
    expect(help.stdout).toMatch(/^USAGE\n {2}\$ chainup \[COMMAND\]$/m)
    for (const c of ['history', 'node', 'resume', 'show', 'upgrade', 'validate']) expect(help.stdout).toMatch(new RegExp(`^ {2}${c} +\\S`, 'm'))
    expect(help.stdout).toMatch(/^ {2}certs +Create a CA/m)
    const upgrade = await chainupInProcess(['upgrade', '--help'])
    expect(upgrade.code, upgrade.stderr).toBe(0)
    expect(upgrade.stdout).toMatch(/^ {2}\$ chainup upgrade INVENTORY/m)
    expect(upgrade.stdout.replace(/\s+/g, ' ')).toMatch(/Exit codes \(stable\): 0 completed, 1 failed, 2 bad input, 3 vetoed \(also parked by the maintenance window\), 4 stack locked by another run, 5 not started: outside the maintenance window, 130 cancelled\./)
    const version = await chainupInProcess(['--version'])
    expect(version.code, version.stderr).toBe(0)
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {version: string}
    expect(version.stdout).toBe(`chainup/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`)
  })
})
