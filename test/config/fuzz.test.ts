/**
 * Bad input at scale (issue #8 §5): 1000 inventories and playbooks mutated from the shipped ones and the docs'
 * examples, generated deterministically from one seed. Each must load or be refused with an InputError (exit code 2)
 * whose every problem is one `FILE:LINE:COL PATH: MESSAGE` line, never another exception, never a stack trace, and
 * no case may take a second. A failure names the case number and its mutations; the same seed regenerates it.
 */
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, relative} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {type Document, type Node, type Pair, type YAMLMap, type YAMLSeq, isMap, isScalar, isSeq, parseDocument, visit} from 'yaml'

import {loadInventory, loadPlaybook, loadStack} from '../../src/config/index.js'
import {ExitCode, InputError, formatError} from '../../src/errors.js'
import {extractBlocks} from '../docs/support/blocks.js'
import {prng} from '../protocol/support/prng.js'

const CASES = 1000
const SEED = 0x5eed_0085

type Rng = () => number
const int = (rng: Rng, n: number): number => Math.floor(rng() * n)
function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[int(rng, items.length)]
  if (item === undefined) throw new Error('pick from an empty list')
  return item
}

/** The ```yaml blocks of a document (whatever their info string says: docs/docs-tests.md). */
function yamlBlocks(file: string): string[] {
  return extractBlocks(file, readFileSync(file, 'utf8'))
    .filter((b) => b.lang === 'yaml')
    .map((b) => b.content)
}

interface Seed {
  kind: 'inventory' | 'playbook'
  /** Where case files are written: relative paths inside the seed (playbook, known_hosts) must resolve from there. */
  dir: string
  text: string
  name: string
}

let root: string
let seeds: Seed[]
/** A valid inventory next to the case playbooks, pointing at `PLAYBOOK_SLOT` (for loadStack on a mutated playbook). */
let stackInventory: string

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'chainup-fuzz-'))
  for (const d of ['inventories/examples', 'playbooks']) mkdirSync(join(root, d), {recursive: true})
  copyFileSync('playbooks/ios-xe-install.yml', join(root, 'playbooks/ios-xe-install.yml'))
  writeFileSync(join(root, 'inventories/lab_known_hosts'), '')
  const inventoryDocs = yamlBlocks('docs/inventory.md')
  const playbookDocs = yamlBlocks('docs/playbook.md')
  const inv = (name: string, text: string, dir = 'inventories'): Seed => ({kind: 'inventory', dir: join(root, dir), text, name})
  const pb = (name: string, text: string): Seed => ({kind: 'playbook', dir: join(root, 'playbooks'), text, name})
  const labInventory = readFileSync('inventories/lab.yml', 'utf8')
  const shippedPlaybook = readFileSync('playbooks/ios-xe-install.yml', 'utf8')
  seeds = [
    inv('inventories/lab.yml', labInventory),
    inv('inventories/examples/access-stack-1.yml', readFileSync('inventories/examples/access-stack-1.yml', 'utf8'), 'inventories/examples'),
    ...inventoryDocs.map((text, i) => inv(`docs/inventory.md block ${i + 1}`, text)),
    // The fragments of the docs (snmp, devices, chainsync) in a whole inventory.
    ...inventoryDocs.slice(1).map((text, i) => inv(`lab.yml + docs/inventory.md block ${i + 2}`, merge(labInventory, text))),
    pb('playbooks/ios-xe-install.yml', shippedPlaybook),
    ...playbookDocs.map((text, i) => pb(`docs/playbook.md block ${i + 1}`, text)),
    ...playbookDocs.slice(1).map((text, i) => pb(`ios-xe-install.yml + docs/playbook.md block ${i + 2}`, merge(shippedPlaybook, text))),
  ]
  stackInventory = join(root, 'inventories/stack.yml')
  writeFileSync(stackInventory, labInventory.replace('../playbooks/ios-xe-install.yml', '../playbooks/slot.yml'))
  writeFileSync(join(root, 'playbooks/slot.yml'), shippedPlaybook)
})
afterAll(() => rmSync(root, {recursive: true, force: true}))

/** `base` with the top-level keys of `fragment` put in (replacing its own). */
function merge(base: string, fragment: string): string {
  const doc = parseDocument(base)
  const part = parseDocument(fragment)
  if (isMap(part.contents)) for (const pair of part.contents.items) doc.set(pair.key, pair.value)
  return doc.toString()
}

// ---- mutations --------------------------------------------------------------------------------------------------

/** Every list and mapping of a document. */
function collections(doc: Document): Array<YAMLMap | YAMLSeq> {
  const found: Array<YAMLMap | YAMLSeq> = []
  visit(doc, {
    Map: (_key, node) => void found.push(node),
    Seq: (_key, node) => void found.push(node),
  })
  return found
}

/** A value of another type than the one there, for "retyped fields". */
function otherValue(rng: Rng, doc: Document): Node {
  const values: unknown[] = [
    0, -1, 1.5, 65536, 1e400, 17.1, true, false, null, '', ' ', 'yes', '~', '2001-12-14', 'PT5M', '17.09.05', '{{ target.vers }}',
    '(unclosed', '[a-', 'x'.repeat(300), '\u202e\u0007bell', [], [1, 'a', null], {}, {a: 1}, {name: 'x', host: 'y'},
  ]
  return doc.createNode(pick(rng, values)) as Node
}

/** A string of `n` characters, mixed enough not to be one run. */
function bigString(rng: Rng, n: number): string {
  const unit = pick(rng, ['abcdefgh', 'x', 'é漢字🙂', '{{ device.name }}', '%s%n', 'a b c '])
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n)
}

const MARK = 'FUZZ_MARK_5EED'

/** Text that stands in for MARK after stringifying: what cannot be built as nodes (too deep for yaml's printer). */
function special(rng: Rng): string {
  const n = pick(rng, [33, 200, 10_000])
  switch (int(rng, 9)) {
    case 0:
      return `${'['.repeat(n)}${']'.repeat(n)}`
    case 1:
      return `${'{a: '.repeat(n)}1${'}'.repeat(n)}`
    case 2:
      return '['.repeat(n)
    case 3:
      return '&cycle [*cycle, {a: *cycle}]'
    case 4:
      return '*unknown_anchor'
    case 5:
      return `&x 1\nfuzz_aliases: [${Array.from({length: pick(rng, [10, 999, 1001, 3000])}, () => '*x').join(', ')}]`
    case 6:
      return '!!binary aGVsbG8='
    case 7:
      return '"\\e[31mred\\n\\0\\x7f\\u202e"'
    default:
      return `|\n${'  line\n'.repeat(n)}`
  }
}

/** One structural mutation of `doc`, described. */
function mutateDoc(rng: Rng, doc: Document, kind: Seed['kind']): string {
  const all = collections(doc)
  if (all.length === 0) return 'no collection'
  const coll = pick(rng, all)
  const items = coll.items as Array<Pair | Node>
  const at = int(rng, Math.max(1, items.length))
  const item = items[at]
  const setValue = (node: unknown): void => {
    if (item === undefined) return
    if (isMap(coll)) (item as Pair).value = node
    else items[at] = node as Node
  }
  switch (int(rng, 10)) {
    case 0:
    case 1:
      items.splice(at, 1)
      return 'deleted a field'
    case 2:
    case 3:
      setValue(otherValue(rng, doc))
      return 'retyped a field'
    case 4: {
      if (!isMap(coll) || item === undefined || !isScalar((item as Pair).key)) return 'no key to rename'
      const key = String(((item as Pair).key as {value: unknown}).value)
      const i = int(rng, key.length + 1)
      const renamed = pick(rng, [`${key.slice(0, i)}${key.slice(i + 1)}`, `${key.slice(0, i)}x${key.slice(i)}`, key.toUpperCase(), `${key} `, `${key}\t`])
      ;((item as Pair).key as {value: unknown}).value = renamed
      return 'renamed a key'
    }
    case 5: {
      const n = pick(rng, [300, 5000, 100_000, 1 << 20])
      setValue(doc.createNode(bigString(rng, n)))
      return `a string of ${n} characters`
    }
    case 6:
      if (!isMap(coll)) return 'no mapping for an unknown key'
      coll.items.push(doc.createPair(bigString(rng, pick(rng, [70, 5000, 100_000])), 1) as Pair)
      return 'an unknown key'
    case 7:
      setValue(doc.createNode(MARK))
      return 'a special value'
    case 8: {
      // Many devices (around the device limit) or steps. Files at the token limit are test/config/limits.test.ts's.
      const list = kind === 'inventory' ? doc.get('devices') : doc.get('upgrade')
      if (!isSeq(list) || list.items.length === 0) return 'no list to grow'
      const n = kind === 'inventory' ? pick(rng, [999, 1001, 1500]) : pick(rng, [50, 200])
      const first = list.items[0]
      list.items = Array.from({length: n}, (_, i) => {
        const copy = doc.createNode(isMap(first) || isSeq(first) ? first.toJSON() : isScalar(first) ? first.value : null) as Node
        if (isMap(copy)) copy.set('name', `d${i}`)
        if (isMap(copy) && kind === 'inventory') copy.set('host', `10.9.${i >> 8}.${i & 255}`)
        return copy
      })
      return `${n} list items`
    }
    default: {
      if (item === undefined) return 'nothing to duplicate'
      if (isMap(coll)) coll.items.splice(at, 0, item as Pair)
      else items.splice(at, 0, item)
      return 'duplicated a field'
    }
  }
}

/** One mutation of the text, described. */
function mutateText(rng: Rng, text: string): [string, string] {
  const lines = text.split('\n')
  const i = int(rng, lines.length)
  const pos = int(rng, text.length + 1)
  switch (int(rng, 12)) {
    case 0:
      return [text.slice(0, pos), 'truncated']
    case 1: {
      const j = int(rng, lines.length)
      ;[lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? '']
      return [lines.join('\n'), 'swapped two lines']
    }
    case 2:
      lines.splice(i, 0, lines[i] ?? '')
      return [lines.join('\n'), 'duplicated a line']
    case 3:
      lines.splice(i, 1)
      return [lines.join('\n'), 'deleted a line']
    case 4:
      lines[i] = `${pick(rng, [' ', '  ', '\t', ''])}${(lines[i] ?? '').trimStart()}`
      return [lines.join('\n'), 'reindented a line']
    case 5:
      return [`${text.slice(0, pos)}${pick(rng, [':', '- ', '[', '{', ']', '}', '&a ', '*a', '!', '|', '>', '%', '@', '`', '"', "'", '#', '? ', ', ', '<<: '])}${text.slice(pos)}`, 'an indicator']
    case 6:
      return [text.replace(/\n/g, '\r\n'), 'CRLF']
    case 7:
      return [`\ufeff${text}`, 'a BOM']
    case 8:
      return [`${text}\n---\n${text.slice(0, 200)}`, 'a second document']
    case 9:
      return [`%YAML 1.1\n---\n${text}`, 'a YAML 1.1 directive']
    case 10: {
      let laughs = 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n'
      for (let k = 1; k < 10; k++) laughs += `a${k}: &a${k} [${Array.from({length: 10}, () => `*a${k - 1}`).join(', ')}]\n`
      return [`${laughs}${text}`, 'a billion laughs']
    }
    default: {
      const n = pick(rng, [1000, 10_000])
      return [`${text}\nfuzz_deep:\n${pick(rng, [`${'- '.repeat(n)}1`, Array.from({length: 300}, (_, k) => `${' '.repeat(k + 1)}a:`).join('\n')])}\n`, 'deep block nesting']
    }
  }
}

const INVALID_UTF8 = [[0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf0, 0x9f], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80]]

/** One mutation of the bytes, described. */
function mutateBytes(rng: Rng, bytes: Buffer): [Buffer, string] {
  const pos = int(rng, bytes.length + 1)
  const splice = (insert: Buffer, remove = 0): Buffer => Buffer.concat([bytes.subarray(0, pos), insert, bytes.subarray(Math.min(bytes.length, pos + remove))])
  switch (int(rng, 4)) {
    case 0: {
      const garbage = Buffer.alloc(pick(rng, [1, 16, 4096]))
      for (let k = 0; k < garbage.length; k++) garbage[k] = int(rng, 256)
      return [splice(garbage, int(rng, 64)), `${garbage.length} bytes of garbage`]
    }
    case 1:
      return [splice(Buffer.from([0])), 'a NUL byte']
    case 2:
      return [splice(Buffer.from(pick(rng, INVALID_UTF8))), 'invalid UTF-8']
    default:
      return [splice(Buffer.from(pick(rng, ['\u0007', '\u001b[2J', '\u007f', '\u0085', '\u2028', '\ufffe', '\u202e']))), 'a control character']
  }
}

interface Case {
  n: number
  seed: Seed
  mutations: string[]
  bytes: Buffer
  /** Where the case is written, and how it is loaded. */
  file: string
  load: 'inventory' | 'playbook' | 'stack'
}

function generate(n: number): Case {
  const rng = prng(SEED ^ Math.imul(n + 1, 0x9e3779b1))
  const seed = pick(rng, seeds)
  const mutations: string[] = []
  let text = seed.text
  // Structure first (parsed, changed, printed), then the text, then the bytes.
  if (rng() < 0.7) {
    const doc = parseDocument(text)
    for (let k = 1 + int(rng, 3); k > 0; k--) mutations.push(mutateDoc(rng, doc, seed.kind))
    try {
      text = doc.toString({lineWidth: 0})
    } catch {
      mutations.push('(not printable: unchanged)')
    }
    if (text.includes(MARK)) text = text.replace(MARK, special(rng))
  }
  if (rng() < 0.5) {
    for (let k = 1 + int(rng, 2); k > 0; k--) {
      const [next, what] = mutateText(rng, text)
      text = next
      mutations.push(what)
    }
  }
  let bytes: Buffer = Buffer.from(text)
  if (rng() < 0.3 || mutations.length === 0) {
    const [next, what] = mutateBytes(rng, bytes)
    bytes = next
    mutations.push(what)
  }
  const load = seed.kind === 'inventory' ? (rng() < 0.5 ? 'inventory' : 'stack') : rng() < 0.7 ? 'playbook' : 'stack'
  const file = seed.kind === 'playbook' && load === 'stack' ? join(root, 'playbooks/slot.yml') : join(seed.dir, `case-${n}.yml`)
  return {n, seed, mutations, bytes, file, load}
}

// ---- checks -----------------------------------------------------------------------------------------------------

/** `(root)`, `(yaml)`, `(file)`, or a field path: plain keys, `[n]`, `["quoted key"]` (one character at a time: no backtracking blow-up on a long line that does not match). */
const PATH = String.raw`(?:\((?:root|yaml|file)\)|(?:[\p{L}\p{N}_.-]|\[\d+\]|\["(?:[^"\\]|\\.)*"\])+)`
const PROBLEM = new RegExp(String.raw`^(?<file>[^:]+):(?<line>[1-9]\d*):(?<col>[1-9]\d*) (?<path>${PATH}): (?<message>\S.*)$`, 'u')
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

/** Relative paths (as loadStack shows them) of every file under the fuzz directory: where a problem may point. */
function shownFiles(): Set<string> {
  const out = new Set<string>()
  const walk = (d: string): void => {
    for (const entry of readdirSync(d)) {
      const p = join(d, entry)
      if (statSync(p).isDirectory()) walk(p)
      else out.add(relative(process.cwd(), p))
    }
  }
  walk(root)
  return out
}

/** Keeps a case's file for a look (the same seed makes the same case, but a file is quicker); returns its path. */
function keep(c: Case): string {
  const kept = join(tmpdir(), 'chainup-fuzz-failures', `case-${c.n}.yml`)
  mkdirSync(dirname(kept), {recursive: true})
  writeFileSync(kept, c.bytes)
  return kept
}

/** Why the outcome of a case breaks the contract, or undefined. */
function violation(c: Case, shown: string, outcome: unknown, files: Set<string>): string | undefined {
  if (outcome === 'loaded') return undefined
  if (!(outcome instanceof InputError)) return `threw ${outcome instanceof Error ? `${outcome.name}: ${outcome.message}\n${outcome.stack ?? ''}` : String(outcome)}`
  if (outcome.exitCode !== ExitCode.badInput) return `exit code ${outcome.exitCode}`
  if (!['INVENTORY_INVALID', 'PLAYBOOK_INVALID', 'FILE_UNREADABLE'].includes(outcome.code)) return `code ${outcome.code}`
  if (outcome.problems.length === 0) return 'an InputError without problems'
  if (/\n\s+at /.test(formatError(outcome))) return `a stack trace in:\n${formatError(outcome)}`
  const lines = c.bytes.toString('latin1').split('\n').length
  for (const problem of outcome.problems) {
    const m = PROBLEM.exec(problem)
    if (m === null || CONTROL.test(problem)) return `not one FILE:LINE:COL PATH: MESSAGE line: ${JSON.stringify(problem.slice(0, 300))}`
    const file = m.groups?.['file'] ?? ''
    if (file !== shown && !files.has(file)) return `names ${file}, neither the file loaded nor one next to it`
    if (file === shown && Number(m.groups?.['line']) > lines + 1) return `line ${m.groups?.['line']} past the end (${lines} lines): ${problem.slice(0, 200)}`
  }
  if (outcome.code !== 'FILE_UNREADABLE' && !/^[^:]+: \d+ problems?$/.test(outcome.message)) return `message ${JSON.stringify(outcome.message)}`
  return undefined
}

describe(`${CASES} mutated inventories and playbooks`, () => {
  it('each loads or is refused with exit code 2 and FILE:LINE:COL PATH: MESSAGE lines, in well under a second', async () => {
    const times: number[] = []
    const failures: string[] = []
    const files = shownFiles()
    let slowest: {what: string; c?: Case} = {what: ''}
    const outcomes = {loaded: 0, refused: 0}
    const kinds = new Map<string, number>()
    for (let n = 0; n < CASES; n++) {
      const c = generate(n)
      writeFileSync(c.file, c.bytes)
      const shown = relative(process.cwd(), c.load === 'stack' && c.seed.kind === 'playbook' ? stackInventory : c.file)
      const started = performance.now()
      let outcome: unknown = 'loaded'
      try {
        if (c.load === 'inventory') await loadInventory(shown)
        else if (c.load === 'playbook') await loadPlaybook(shown)
        else await loadStack(shown)
      } catch (error: unknown) {
        outcome = error
      }
      const ms = performance.now() - started
      times.push(ms)
      outcomes[outcome === 'loaded' ? 'loaded' : 'refused']++
      for (const m of c.mutations) kinds.set(m.replace(/\d+/g, 'N'), (kinds.get(m.replace(/\d+/g, 'N')) ?? 0) + 1)
      const what = `case ${n} (${c.seed.name}; ${c.mutations.join(', ')}; ${c.load})`
      const why = violation(c, shown, outcome, files)
      if (why !== undefined) failures.push(`${what} [${keep(c)}]: ${why}`)
      if (ms >= Math.max(...times.slice(0, -1), 0)) slowest = {what: `${what}: ${ms.toFixed(0)} ms`, c}
      if (c.file !== join(root, 'playbooks/slot.yml')) rmSync(c.file, {force: true})
    }
    const sorted = [...times].sort((a, b) => a - b)
    const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
    console.info(
      `fuzz: ${CASES} cases, ${outcomes.loaded} loaded, ${outcomes.refused} refused; per case median ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms, max ${at(1).toFixed(1)} ms (${slowest.what})`,
    )
    expect(failures.slice(0, 20)).toEqual([])
    // The generator reaches both outcomes and every kind of damage.
    expect(outcomes.loaded).toBeGreaterThan(20)
    expect(outcomes.refused).toBeGreaterThan(500)
    for (const kind of ['deleted a field', 'duplicated a field', 'retyped a field', 'a string of N characters', 'a special value', 'a billion laughs', 'deep block nesting', 'N bytes of garbage', 'a NUL byte', 'invalid UTF-N']) {
      expect(kinds.get(kind) ?? 0, kind).toBeGreaterThan(5)
    }
    // Checked once, over every case: the slowest of them.
    if (at(1) >= 1000 && slowest.c !== undefined) slowest.what += ` [${keep(slowest.c)}]`
    expect(at(1), slowest.what).toBeLessThan(1000)
  }, 600_000)
})

describe('the fuzz corpus', () => {
  it('is deterministic', () => {
    const a = generate(123)
    const b = generate(123)
    expect(b.bytes.equals(a.bytes)).toBe(true)
    expect(b.mutations).toEqual(a.mutations)
    expect(dirname(a.file)).toBe(a.load === 'stack' && a.seed.kind === 'playbook' ? join(root, 'playbooks') : a.seed.dir)
  })
})
