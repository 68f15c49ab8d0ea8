/**
 * Runs the blocks of one Markdown file in order, in a temporary directory of its own (docs/docs-tests.md):
 * copies of the repository's `inventories/` and `playbooks/`, read-only links to `mibs/`, `schemas/` and
 * `node_modules/`, a private HOME and XDG_STATE_HOME, and `chainup`, `npx chainup` and `npm ci` on PATH.
 * Shell blocks run under `bash -eo pipefail` with no TTY (CI=true, NO_COLOR=1); YAML blocks are loaded by the loader
 * of `chainup validate`. Every process a block starts is stopped by its process group when the file is done.
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, relative} from 'node:path'

import {Config} from '@oclif/core'
import {parse, parseDocument, stringify} from 'yaml'

import {freePorts, ROOT} from '../../helpers/lab-stack.js'

import {type BlockCheck, type DocBlock, DocBlockError} from './blocks.js'

/** What became of a block: checked, or skipped because a tool it needs is not installed (said why). */
export type BlockOutcome = {status: 'passed'} | {status: 'skipped'; reason: string}

const OUTPUT_TAIL_LINES = 40

export class DocSession {
  private readonly background: Array<{block: DocBlock; child: ChildProcess}> = []
  private readonly laterFiles: Array<{block: DocBlock; file: string}> = []
  /** What the last shell block that ran printed, for a following `text output` block. */
  private lastOutput: {block: DocBlock; output: string} | undefined
  /** The file= paths blocks of this file wrote so far. */
  private readonly written = new Set<string>()

  private constructor(
    /** The example's working directory. */
    readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** @param root the repository root (holds bin/run.js, inventories/, playbooks/) */
  static async open(root: string): Promise<DocSession> {
    const base = mkdtempSync(join(tmpdir(), 'chainup-docs-'))
    const dir = join(base, 'work')
    mkdirSync(dir)
    for (const d of ['inventories', 'playbooks']) cpSync(join(root, d), join(dir, d), {recursive: true})
    await moveLabPorts(join(dir, 'inventories', 'lab.yml'))
    for (const d of ['mibs', 'schemas', 'node_modules']) if (existsSync(join(root, d))) symlinkSync(join(root, d), join(dir, d))
    const bin = join(base, 'bin')
    const home = join(base, 'home')
    mkdirSync(bin)
    mkdirSync(join(home, '.ssh'), {recursive: true, mode: 0o700})
    writeFileSync(join(home, '.ssh', 'known_hosts'), '')
    const shim = (name: string, body: string) => writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`, {mode: 0o755})
    shim('chainup', `exec ${sh(process.execPath)} ${sh(join(root, 'bin', 'run.js'))} "$@"`)
    shim('npx', 'if [ "$1" = chainup ]; then shift; exec chainup "$@"; fi\necho "docs test: npx $* is not run by the docs tests" >&2; exit 127')
    // The docs tests run inside an installed tree, so the README's `npm ci` has already happened.
    shim('npm', 'if [ "$1" = ci ]; then exit 0; fi\necho "docs test: npm $* is not run by the docs tests (mark the example illustration=\\"…\\")" >&2; exit 127')
    const env: NodeJS.ProcessEnv = {}
    for (const [k, v] of Object.entries(process.env)) if (!/^(CHAINUP_|FORCE_COLOR$|NODE_OPTIONS$|VITEST|TEST$)/.test(k)) env[k] = v
    Object.assign(env, {PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: home, XDG_STATE_HOME: join(base, 'state'), CI: 'true', NO_COLOR: '1', TERM: 'dumb'})
    return new DocSession(dir, env)
  }

  /**
   * Checks one block against what its info string promises.
   * @throws DocBlockError (`FILE:LINE: …`) with the command's output or the loader's messages
   */
  async check(block: DocBlock, check: BlockCheck): Promise<BlockOutcome> {
    switch (check.kind) {
      case 'illustration':
        return {status: 'passed'}
      case 'shown':
        if (check.file !== undefined) this.writeShown(block, check.file)
        if (check.output) this.compareOutput(block)
        return {status: 'passed'}
      case 'synopsis':
        await checkSynopsis(block)
        return {status: 'passed'}
      case 'json':
        try {
          JSON.parse(block.content)
        } catch (error) {
          throw new DocBlockError(block, `not JSON: ${(error as Error).message} (mark it illustration="why" if it is not meant to be)`)
        }
        return {status: 'passed'}
      case 'yaml':
        return this.checkYaml(block, check)
      case 'shell':
        return this.runShell(block, check)
    }
  }

  /**
   * Stops every background process of this file (SIGTERM to its process group, SIGKILL after 5 s), checks that
   * every `check=later` file was used by a later shell block, and removes the directory.
   * @throws DocBlockError for a `check=later` file no later block used
   */
  async close(): Promise<void> {
    await Promise.all(this.background.splice(0).map(({child}) => stopGroup(child)))
    rmSync(dirname(this.dir), {recursive: true, force: true})
    const unused = this.laterFiles.splice(0)
    if (unused.length > 0) throw new DocBlockError(unused[0]!.block, `check=later: no later shell block of this file uses ${unused[0]!.file}`)
  }

  private async checkYaml(block: DocBlock, check: Extract<BlockCheck, {kind: 'yaml'}>): Promise<BlockOutcome> {
    const target = join(this.dir, check.file ?? (check.document === 'inventory' ? `inventories/doc-example-${block.line}.yml` : `playbooks/doc-example-${block.line}.yml`))
    mkdirSync(dirname(target), {recursive: true})
    let text = block.content
    // A fragment goes into the document an earlier block of this file wrote to the same file=, else into a minimal one.
    const into = check.file !== undefined && this.written.has(check.file) ? 'the document built so far' : `a minimal ${check.document}`
    if (check.fragment) {
      const doc = parseDocument(block.content)
      if (doc.errors.length > 0) throw new DocBlockError(block, `not YAML: ${doc.errors[0]!.message}`)
      const fragment: unknown = doc.toJS()
      if (!isMap(fragment)) throw new DocBlockError(block, 'a fragment is a YAML mapping of top-level fields, merged into a minimal document')
      const base = check.file !== undefined && this.written.has(check.file) ? (parse(readText(target)) as Record<string, unknown>) : this.minimal(check.document, target)
      text = stringify(merge(base, fragment))
    }
    writeFileSync(target, text)
    if (check.file !== undefined) this.written.add(check.file)
    if (check.checkLater) {
      if (!this.laterFiles.some((l) => l.file === check.file)) this.laterFiles.push({block, file: check.file!})
      return {status: 'passed'}
    }
    // Loaded by the loader of `chainup validate`: the command itself, in this file's environment (HOME, cwd).
    const run = await this.exec(`chainup validate ${sh(relative(this.dir, target))}`, 60_000)
    if (run.code !== 0) throw new DocBlockError(block, `the ${check.fragment ? `${check.document} fragment, inside ${into},` : check.document} does not load (chainup validate exited ${run.code}):\n${tail(run.output)}`)
    return {status: 'passed'}
  }

  /** Writes a shown block that names a file= (e.g. a PSK file) into the example's directory. */
  writeShown(block: DocBlock, file: string): void {
    const target = join(this.dir, file)
    mkdirSync(dirname(target), {recursive: true})
    writeFileSync(target, block.content)
    this.written.add(file)
  }

  /** Runs a shell command line in this file's environment; resolves with its exit code and combined output. */
  private exec(command: string, timeoutMs: number): Promise<{code: number; output: string}> {
    const child = spawn('bash', ['-eo', 'pipefail', '-c', command], {cwd: this.dir, env: this.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d))
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs)
    return new Promise((resolve) =>
      child.once('close', (code, signal) => {
        clearTimeout(timer)
        resolve({code: code ?? 128 + signalNumber(signal), output})
      }),
    )
  }

  /** The shipped lab inventory or IOS-XE playbook, with its relative paths made right for `target`'s directory. */
  private minimal(kind: 'inventory' | 'playbook', target: string): Record<string, unknown> {
    if (kind === 'playbook') return parse(readText(join(this.dir, 'playbooks', 'ios-xe-install.yml'))) as Record<string, unknown>
    const inventory = parse(readText(join(this.dir, 'inventories', 'lab.yml'))) as Record<string, unknown>
    const from = dirname(target)
    inventory.playbook = relative(from, join(this.dir, 'playbooks', 'ios-xe-install.yml'))
    ;(inventory.ssh as Record<string, unknown>).known_hosts = relative(from, join(this.dir, 'inventories', 'lab_known_hosts'))
    return inventory
  }

  private async runShell(block: DocBlock, check: Extract<BlockCheck, {kind: 'shell'}>): Promise<BlockOutcome> {
    for (const tool of check.requires) {
      if (spawnSync('bash', ['-c', `command -v ${sh(tool)}`], {env: this.env}).status !== 0) return {status: 'skipped', reason: `${block.file}:${block.line} needs ${tool}, which is not installed here (.ci/run installs it)`}
    }
    for (const later of [...this.laterFiles]) {
      if (block.content.includes(later.file)) this.laterFiles.splice(this.laterFiles.indexOf(later), 1)
    }
    if (check.background) {
      const child = spawn('bash', ['-eo', 'pipefail', '-c', block.content], {cwd: this.dir, env: this.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
      if (child.pid !== undefined) runningGroups.add(child.pid)
      let output = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d))
      child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d))
      this.background.push({block, child})
      const deadline = Date.now() + check.timeoutMs
      while (!check.background.ready.test(output)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new DocBlockError(block, `exited ${child.exitCode ?? child.signalCode} before its output matched ready=/${check.background.ready.source}/; output:\n${tail(output)}`)
        if (Date.now() > deadline) throw new DocBlockError(block, `its output did not match ready=/${check.background.ready.source}/ within ${check.timeoutMs / 1000} s; output:\n${tail(output)}`)
        await new Promise((r) => setTimeout(r, 50))
      }
      this.expectOutput(block, check, output)
      return {status: 'passed'}
    }
    const {code, output} = await this.exec(block.content, check.timeoutMs)
    this.lastOutput = {block, output}
    if (code !== check.exit) throw new DocBlockError(block, `exited ${code}, the example says ${check.exit}${code === 137 ? ` (killed after timeout=${check.timeoutMs / 1000} s?)` : ''}; output:\n${tail(output)}`)
    this.expectOutput(block, check, output)
    return {status: 'passed'}
  }

  /** A `text output` block must be what the shell block before it printed, line for line (trailing spaces aside). */
  private compareOutput(block: DocBlock): void {
    const last = this.lastOutput
    if (!last) throw new DocBlockError(block, 'output: no shell block ran before this one in the file')
    const norm = (text: string) => text.split('\n').map((l) => l.trimEnd()).join('\n').trim()
    const shown = norm(block.content)
    const printed = norm(last.output)
    if (shown === printed) return
    const a = shown.split('\n')
    const b = printed.split('\n')
    const i = a.findIndex((l, n) => l !== b[n])
    const at = i < 0 ? a.length : i
    throw new DocBlockError(block, `is not what ${last.block.file}:${last.block.line} printed: line ${at + 1} of the block says\n    ${a[at] ?? '(nothing)'}\nthe command printed\n    ${b[at] ?? '(nothing)'}\nthe whole output:\n${tail(last.output)}`)
  }

  private expectOutput(block: DocBlock, check: Extract<BlockCheck, {kind: 'shell'}>, output: string): void {
    if (check.quiet && output !== '') throw new DocBlockError(block, `the example says it prints nothing (quiet), it printed:\n${tail(output)}`)
    for (const re of check.expect) if (!re.test(output)) throw new DocBlockError(block, `its output does not match expect=/${re.source}/; output:\n${tail(output)}`)
  }
}

/**
 * The copy of the lab inventory gets free ports (the 4 devices and the trap receiver) instead of 10021-10024 and
 * 10162, so that its examples can run while other test files use the shipped lab's.
 */
async function moveLabPorts(file: string): Promise<void> {
  const ports = await freePorts(5)
  const text = readText(file)
    .replace(/port: 1002([1-4])\b/g, (_, n: string) => `port: ${ports[Number(n) - 1]}`)
    .replace(/port: 10162\b/, `port: ${ports[4]}`)
  writeFileSync(file, text)
}

/**
 * The process groups of background blocks still running, in every session of this process: killed when the process
 * exits or is interrupted (a Ctrl-C of npm test must not leave `chainup serve` listening on 8080).
 */
const runningGroups = new Set<number>()
function killRunningGroups(): void {
  for (const pid of runningGroups) {
    try {
      process.kill(-pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  runningGroups.clear()
}
process.once('exit', killRunningGroups)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killRunningGroups()
    process.kill(process.pid, signal)
  })
}

/**
 * A synopsis block: every line is `chainup COMMAND [ARGS] [--flag …]  # comment`; the command must exist (plugins
 * included) and every `--flag` must be one of its flags.
 * @throws DocBlockError naming the line of the block
 */
async function checkSynopsis(block: DocBlock): Promise<void> {
  const config = await Config.load(ROOT)
  const lines = block.content.split('\n')
  for (const [i, raw] of lines.entries()) {
    const line = raw.replace(/\s+#.*$/, '').trim()
    if (line === '') continue
    const at = `line ${i + 1} of the synopsis ("${line.length > 60 ? line.slice(0, 57) + '…' : line}")`
    const words = line.split(/\s+/)
    if (words[0] !== 'chainup') throw new DocBlockError(block, `${at}: a synopsis line starts with chainup`)
    // The longest run of words after `chainup` that names a command (`certs init` is the command id `certs:init`).
    const n = [3, 2, 1].find((k) => words.length > k && config.findCommand(words.slice(1, k + 1).join(':')))
    if (n === undefined) throw new DocBlockError(block, `${at}: no command "chainup ${words.slice(1, 3).join(' ')}"`)
    const id = words.slice(1, n + 1).join(':')
    const flags = new Set(Object.keys(config.findCommand(id)!.flags ?? {}))
    for (const word of words.slice(n + 1)) {
      for (const m of word.matchAll(/--([a-z][a-z0-9-]*)/g)) {
        if (!flags.has(m[1]!) && m[1] !== 'help') throw new DocBlockError(block, `${at}: chainup ${id.replaceAll(':', ' ')} has no flag --${m[1]}; it has ${[...flags].map((f) => `--${f}`).join(', ')}`)
      }
    }
  }
}

function readText(path: string): string {
  return readFileSync(path, 'utf8')
}

function isMap(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** Mappings merge key by key; anything else (lists, scalars) in the fragment replaces the minimal document's. */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {...base}
  for (const [k, v] of Object.entries(over)) out[k] = isMap(v) && isMap(out[k]) ? merge(out[k] as Record<string, unknown>, v) : v
  return out
}

function sh(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`
}

function tail(output: string): string {
  const lines = output.trimEnd().split('\n')
  return (lines.length > OUTPUT_TAIL_LINES ? [`… ${lines.length - OUTPUT_TAIL_LINES} lines before`, ...lines.slice(-OUTPUT_TAIL_LINES)] : lines).map((l) => `    ${l}`).join('\n')
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 0
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal)
  } catch {
    // already gone
  }
}

/** SIGTERM to the block's process group, SIGKILL after 5 s; resolves once the shell has exited. */
async function stopGroup(child: ChildProcess): Promise<void> {
  if (child.pid !== undefined) runningGroups.delete(child.pid)
  if (child.exitCode !== null || child.signalCode !== null) {
    killGroup(child, 'SIGKILL') // anything it left behind in its group
    return
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  killGroup(child, 'SIGTERM')
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
  killGroup(child, 'SIGKILL')
}
