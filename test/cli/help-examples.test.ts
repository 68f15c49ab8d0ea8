/**
 * Every command's `--help` examples (issue #13): each one parses with oclif's own parser against its command's flags
 * and args (an unknown flag, a missing required flag or arg, a value outside `options` fails, naming the command and
 * the example), and each one is in {@link EXAMPLES}, which says whether it runs against the built-in lab (expected exit
 * code, what it prints, what it writes) or is parse-only, and why. The runnable ones run through the built CLI in a
 * temporary directory holding copies of `inventories/` and `playbooks/` and a `stack.yml`; an example with pipes or
 * redirections runs through `bash -c` with a `chainup` on PATH.
 *
 * The examples come from oclif itself (`Config.load` on the package root, each command's `load()`), so a command
 * added later is covered, and a new example that is not in the table fails until it is added.
 */
import {spawn} from 'node:child_process'
import {chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative, resolve} from 'node:path'

import {type Command, Config, Flags, Parser} from '@oclif/core'
import {parse as shellParse, quote as shellQuote} from 'shell-quote'
import {afterAll, describe, expect, it} from 'vitest'
import {parseDocument} from 'yaml'

import {freePorts, ROOT} from '../helpers/lab-stack.js'

/** What the test does with one example. */
type Entry =
  /** Run it in a fresh lab directory: its exit code, a match on stdout + stderr, and files it must have written (relative to the directory). */
  | {run: number; expect: RegExp; files?: Record<string, RegExp>}
  /** Only parse it: why it cannot run here. */
  | {parseOnly: string}

const REAL_SWITCHES = 'contacts the real switches of stack.yml (no --lab)'

/**
 * Every example of every chainup command, as `--help` prints it (without the `$ `), and what to do with it. The
 * examples' `stack.yml` is a copy of inventories/lab.yml (with a maintenance window for `schedule`).
 */
const EXAMPLES: Record<string, Entry> = {
  'chainup certs init pki --inventory stack.yml': {run: 0, expect: /^wrote pki\/ca\.crt, ca\.key and a certificate \+ key for sw1, sw2, sw3, sw4$/m, files: {'pki/ca.crt': /BEGIN CERTIFICATE/, 'pki/sw2.crt': /BEGIN CERTIFICATE/}},

  'chainup history --stack access-stack-1 --status failed': {run: 0, expect: /^no runs match$/m},
  'chainup history --json --limit 100': {run: 0, expect: /"runs": \[\][\s\S]*"total": 0/},

  'chainup node --inventory stack.yml --device sw2': {parseOnly: "one device's node: it waits for the chain's other nodes, each a process next to its device"},

  'chainup plan inventories/lab.yml': {run: 0, expect: /^Plan for stack lab-stack: 4 devices to 17\.09\.05[\s\S]*^Offline: no device was contacted/m},
  'chainup plan stack.yml --json > plan.json': {run: 0, expect: /^$/, files: {'plan.json': /^\{\n {2}"stack": "lab-stack",/}},
  'chainup plan inventories/lab.yml --check --lab': {run: 0, expect: /^Checked: every device was asked its facts and readiness/m},
  'chainup plan stack.yml --check --json': {parseOnly: `--check ${REAL_SWITCHES}; "plan inventories/lab.yml --check --lab" runs the same check against the lab`},

  'chainup resume 0b9f4c1e-7c0e-4a59-9a43-1d1f1f4d9a10': {parseOnly: 'a placeholder run id (a run that crashed or was cancelled)'},

  'chainup schedule stack.yml': {run: 0, expect: /^CRON_TZ=Europe\/Berlin\n0 2 \* \* 6 mkdir -p .* upgrade \S+stack\.yml --json --log-file /m},
  // crontab(1) is a stand-in on PATH (see labDirectory) that keeps the table in the directory: the user's is untouched.
  '(crontab -l; chainup schedule stack.yml --state-dir /var/lib/chainup) | crontab -': {run: 0, expect: /^$/, files: {crontab: /^0 5 \* \* \* \/usr\/local\/bin\/backup\n[\s\S]*^CRON_TZ=Europe\/Berlin\n0 2 \* \* 6 mkdir -p \/var\/lib\/chainup\/cron && .* --state-dir \/var\/lib\/chainup > /m}},
  'chainup schedule stack.yml --systemd': {run: 0, expect: /^# ---- chainup-lab-stack\.timer ----\n[\s\S]*^OnCalendar=Sat \*-\*-\* 02:00:00 Europe\/Berlin$/m},
  'chainup schedule stack.yml --json': {run: 0, expect: /"stack": "lab-stack"[\s\S]*"on_calendar": \[\n\s*"Sat \*-\*-\* 02:00:00 Europe\/Berlin"/},

  'chainup schema inventory > inventory.schema.json': {run: 0, expect: /^$/, files: {'inventory.schema.json': /"title": "chainup inventory"/}},
  'chainup schema playbook': {run: 0, expect: /"title": "chainup playbook"/},

  'chainup serve --lab': {parseOnly: 'serves until SIGINT/SIGTERM, on the fixed port 8080 (test/serve covers the server)'},
  'chainup serve --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem --tokens /etc/chainup/tokens --inventories /etc/chainup/stacks': {
    parseOnly: 'serves until SIGINT/SIGTERM, on every interface, with a certificate and tokens from /etc/chainup',
  },

  'chainup show RUN_ID --tree': {parseOnly: 'RUN_ID is a placeholder'},
  'chainup show RUN_ID --verify': {parseOnly: 'RUN_ID is a placeholder'},

  'chainup unlock access-stack-1': {run: 0, expect: /^stack access-stack-1 is not locked; nothing to do$/m},
  'chainup unlock access-stack-1 --force --state-dir /var/lib/chainup': {parseOnly: 'writes to the system state directory /var/lib/chainup'},

  // The one lab upgrade of this file (about 20 s).
  'chainup upgrade inventories/lab.yml --lab': {run: 0, expect: /^\S+ lab started 4 simulated Catalyst 9000 switches[\s\S]*^\S+ sw4 upgraded\b[\s\S]*^\S+ - run \S+ completed in /m},
  'chainup upgrade stack.yml --json > result.json': {parseOnly: `upgrades, and ${REAL_SWITCHES}`},
  'chainup upgrade stack.yml --dry-run': {parseOnly: `${REAL_SWITCHES}; "plan inventories/lab.yml --check --lab" runs the same check against the lab`},
  'chainup upgrade stack.yml --json --log-file /var/log/chainup/stack.log > /var/lib/chainup/stack.json': {parseOnly: `upgrades, ${REAL_SWITCHES}, and writes to /var/log and /var/lib`},
  'chainup upgrade stack.yml --ignore-window --new-run': {parseOnly: `upgrades, and ${REAL_SWITCHES}`},

  'chainup validate inventories/lab.yml': {run: 0, expect: /^inventories\/lab\.yml: valid inventory for stack lab-stack: sw1 -> sw2 -> sw3 -> sw4 to 17\.09\.05$/m},
  'chainup validate playbooks/ios-xe-install.yml': {run: 0, expect: /^playbooks\/ios-xe-install\.yml: valid playbook "ios-xe-install"/m},
}

/** A window for stack.yml, so that the `schedule` examples have one to schedule (every Saturday 02:00-06:00 Berlin time). */
const WINDOW = 'window: {cron: "0 2 * * 6", duration: PT4H, timezone: Europe/Berlin}'

/** What the crontab stand-in starts with: `crontab -l; chainup schedule …` must keep it. */
const CRONTAB = '0 5 * * * /usr/local/bin/backup\n'

const config = await Config.load(ROOT)
const BIN = config.bin

/** One example of one command, as its help shows it. */
interface Example {
  /** oclif's id (`certs:init`). */
  id: string
  /** `chainup certs init` */
  name: string
  /** The command line with `<%= config.bin %>` and `<%= command.id %>` filled in, without a leading `$ `. */
  line: string
}

/**
 * The command lines of one example as oclif's help reads them: a string is one command line, or a description line
 * followed by command lines; an object is `{command, description}`.
 */
function commandLines(example: Command.Example, id: string): string[] {
  const render = (text: string) =>
    text
      .replaceAll(/<%=\s*config\.bin\s*%>/g, BIN)
      .replaceAll(/<%=\s*command\.id\s*%>/g, id.replaceAll(':', config.topicSeparator))
      .replace(/^\$ /, '')
  if (typeof example !== 'string') return [render(example.command)]
  const lines = example.split(/\r?\n/).filter(Boolean).map(render)
  const isCommand = (line: string) => line.startsWith(BIN)
  if (lines.length >= 2 && !isCommand(lines[0]!) && lines.slice(1).every(isCommand)) return lines.slice(1)
  return lines
}

// Only chainup's own commands: a plugin's (`autocomplete`) examples are its own, and help.test.ts runs its setup.
const ours = config.commands.filter((c) => c.pluginName === config.pjson.name)
const classes = new Map(await Promise.all(ours.map(async (c) => [c.id, await c.load()] as const)))
const examples: Example[] = ours.flatMap((c) =>
  (classes.get(c.id)!.examples ?? []).flatMap((e) => commandLines(e, c.id).map((line) => ({id: c.id, name: `${BIN} ${c.id.replaceAll(':', config.topicSeparator)}`, line}))),
)

/** Shell redirections: the word after one is a file name, not an argument. */
const REDIRECTS = new Set(['>', '>>', '<', '>&', '<&', '>|', '&>', '&>>', '<>', '<<<'])

/**
 * The argv of every `chainup` invocation in a command line (words after `chainup`), split by the shell's rules:
 * quotes, operators (`|`, `;`, `&&`, parentheses) between commands, redirections and their targets left out.
 * `$VAR` stays as written (a placeholder, not expanded); a glob is its pattern.
 */
function invocations(line: string, bin = BIN): string[][] {
  const found: string[][] = []
  let words: string[] = []
  let redirectTarget = false
  const end = () => {
    if (words[0] === bin) found.push(words.slice(1))
    words = []
  }
  for (const entry of shellParse(line, (name) => `$${name}`)) {
    if (typeof entry === 'string' || ('op' in entry && entry.op === 'glob')) {
      const word = typeof entry === 'string' ? entry : entry.pattern
      if (redirectTarget) redirectTarget = false
      else words.push(word)
    } else if ('comment' in entry) {
      break
    } else if (REDIRECTS.has(entry.op)) {
      // `2>> file`: the shell's fd number, not an argument
      const last = words.at(-1)
      if (last !== undefined && /^\d+$/.test(last) && line.includes(last + entry.op)) words.pop()
      redirectTarget = true
    } else {
      end()
    }
  }
  end()
  return found
}

/**
 * Parses an argv after `chainup` as oclif would: the command id (topic words joined by ':'), then the rest with
 * oclif's parser and the command's own flags, base flags, args and `strict`.
 * @returns the id of the command it runs
 * @throws oclif's parse error (unknown flag, missing required flag or arg, value outside `options`), or an unknown command
 */
async function parseInvocation(argv: string[]): Promise<string> {
  let words = 0
  for (let n = argv.length; n > 0 && words === 0; n--) if (config.findCommand(argv.slice(0, n).join(':'))) words = n
  if (words === 0) throw new Error(`no chainup command in "${argv.join(' ')}"`)
  const loadable = config.findCommand(argv.slice(0, words).join(':'))!
  const C = classes.get(loadable.id) ?? (await loadable.load())
  await Parser.parse(argv.slice(words), {
    context: new (C as unknown as new (argv: string[], config: Config) => Command)([], config),
    flags: {...C.baseFlags, ...(C.enableJsonFlag ? {json: Flags.boolean()} : {}), ...C.flags},
    args: C.args,
    strict: C.strict,
  })
  return loadable.id
}

/** The directories {@link labDirectory} made; removed after all. */
const dirs: string[] = []
/** Processes still running (killed by pid after all). */
const running = new Set<number>()

afterAll(() => {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
})

/**
 * A directory like the repo for the examples: copies of `inventories/` and `playbooks/`, with lab.yml on free ports
 * (tests running at once must not collide on 10021-10024) and `stack.yml` (lab.yml with its paths relative to the
 * directory, and {@link WINDOW}); `bin/` with `chainup` (the built CLI) and a `crontab` stand-in that keeps its table
 * in `./crontab`; `home/` and `state/` for HOME and XDG_STATE_HOME.
 */
async function labDirectory(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-help-examples-'))
  dirs.push(dir)
  cpSync(join(ROOT, 'inventories'), join(dir, 'inventories'), {recursive: true})
  cpSync(join(ROOT, 'playbooks'), join(dir, 'playbooks'), {recursive: true})
  const labFile = join(dir, 'inventories/lab.yml')
  const lab = parseDocument(readFileSync(labFile, 'utf8'))
  const devices = (lab.toJS() as {devices: unknown[]}).devices
  const ports = await freePorts(devices.length + 1)
  devices.forEach((_, i) => lab.setIn(['devices', i, 'port'], ports[i]))
  if (lab.hasIn(['snmp', 'traps', 0, 'port'])) lab.setIn(['snmp', 'traps', 0, 'port'], ports.at(-1))
  writeFileSync(labFile, lab.toString())
  const stack = lab.clone()
  for (const path of [['playbook'], ['ssh', 'known_hosts']]) {
    const value = stack.getIn(path)
    if (typeof value === 'string') stack.setIn(path, './' + relative(dir, resolve(dir, 'inventories', value)))
  }
  writeFileSync(join(dir, 'stack.yml'), `${stack.toString()}${WINDOW}\n`)
  for (const sub of ['bin', 'home', 'state']) mkdirSync(join(dir, sub))
  writeFileSync(join(dir, 'bin/chainup'), `#!/bin/sh\nexec ${shellQuote([process.execPath, join(ROOT, 'bin/run.js')])} "$@"\n`)
  writeFileSync(
    join(dir, 'bin/crontab'),
    // Like crontab(1), `-` reads all of stdin before it replaces the table: `crontab -l` may still be reading it.
    `#!/bin/sh\n# crontab(1) for the test: -l prints ./crontab, - replaces it with stdin\ntable=${shellQuote([join(dir, 'crontab')])}\ncase "$1" in\n  -l) cat "$table" ;;\n  -) cat > "$table.new" && mv "$table.new" "$table" ;;\n  *) echo "crontab stand-in: $*" >&2; exit 2 ;;\nesac\n`,
  )
  for (const f of ['bin/chainup', 'bin/crontab']) chmodSync(join(dir, f), 0o755)
  writeFileSync(join(dir, 'crontab'), CRONTAB)
  return dir
}

/**
 * Runs an example's command line in `dir`: a plain `chainup …` as `node bin/run.js …`, anything with operators
 * through `bash -c`. No TTY, stdin closed, HOME and XDG_STATE_HOME in `dir`, CI=true, NO_COLOR=1. Killed (its process
 * group, by pid) past `timeoutMs`.
 */
function run(line: string, dir: string, timeoutMs: number): Promise<{code: number | null; output: string}> {
  const parsed = shellParse(line)
  const plain = parsed.every((e) => typeof e === 'string') && parsed[0] === BIN
  const [file, args] = plain ? [process.execPath, [join(ROOT, 'bin/run.js'), ...(parsed.slice(1) as string[])]] : ['bash', ['-c', line]]
  const env: NodeJS.ProcessEnv = {...process.env, HOME: join(dir, 'home'), XDG_STATE_HOME: join(dir, 'state'), CI: 'true', NO_COLOR: '1', PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}`}
  delete env.FORCE_COLOR
  return new Promise((done, fail) => {
    const child = spawn(file, args, {cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
    const pid = child.pid!
    running.add(pid)
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const timer = setTimeout(() => {
      output += `\n[killed after ${timeoutMs} ms]`
      try {
        process.kill(-pid, 'SIGKILL')
      } catch {
        // exited meanwhile
      }
    }, timeoutMs)
    child.on('error', fail)
    child.on('close', (code) => {
      clearTimeout(timer)
      running.delete(pid)
      done({code, output})
    })
  })
}

const label = (e: Example) => `${e.name}: ${e.line}`

describe('--help examples', () => {
  it('covers every chainup command, topics included', () => {
    expect(new Set(examples.map((e) => e.id))).toEqual(new Set(ours.map((c) => c.id)))
    expect(ours.map((c) => c.id)).toContain('certs:init')
  })

  it.each(examples.map((e) => [label(e), e] as const))('%s parses', async (_, e) => {
    const argvs = invocations(e.line)
    expect(argvs, `${e.name}: example "${e.line}" runs no ${BIN} command`).not.toEqual([])
    const ids: string[] = []
    for (const argv of argvs) {
      try {
        ids.push(await parseInvocation(argv))
      } catch (error) {
        expect.fail(`${e.name}: example "${e.line}" does not parse: ${(error as Error).message}`)
      }
    }
    expect(ids, `${e.name}: example "${e.line}" does not run ${e.name}`).toContain(e.id)
  })

  it('says of every example whether it runs against the lab or only parses (and every entry is an example)', () => {
    const missing = examples.filter((e) => !(e.line in EXAMPLES))
    expect(
      missing.map(label),
      `add these examples to EXAMPLES in test/cli/help-examples.test.ts, as {run: EXIT_CODE, expect: /OUTPUT/} if they can run against the lab, else {parseOnly: 'why'}`,
    ).toEqual([])
    const stale = Object.keys(EXAMPLES).filter((line) => !examples.some((e) => e.line === line))
    expect(stale, 'these EXAMPLES entries are no example of any command any more: remove them').toEqual([])
  })

  const runnable = examples.flatMap((e) => {
    const entry = EXAMPLES[e.line]
    return entry && 'run' in entry ? [[label(e), e, entry] as const] : []
  })
  it.concurrent.each(runnable)('%s runs against the lab', async (_, e, entry) => {
    const dir = await labDirectory()
    const {code, output} = await run(e.line, dir, 80_000)
    expect(code, `${e.name}: example "${e.line}" exited ${code}:\n${output}`).toBe(entry.run)
    expect(output, `${e.name}: example "${e.line}" printed`).toMatch(entry.expect)
    for (const [file, pattern] of Object.entries(entry.files ?? {})) {
      expect(readFileSync(join(dir, file), 'utf8'), `${e.name}: example "${e.line}" wrote ${file}`).toMatch(pattern)
    }
  }, 90_000)
})
