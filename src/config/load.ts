/**
 * Loading chainup's input files: read → YAML (with positions) → zod schema + cross-field checks → typed value,
 * or one {@link InputError} listing every problem of the file as `FILE:LINE:COL PATH: MESSAGE`.
 */
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {dirname, isAbsolute, relative, resolve} from 'node:path'
import {type Document, LineCounter, type Node, isAlias, isMap, isScalar, isSeq, parseDocument} from 'yaml'
import type {z} from 'zod'

import {InputError} from '../errors.js'
import {type CheckIssue, type LineOf, type PathSegment, REPORTED_BY_CHECKS, closest, createErrorMap, describeValue, formatPath, isRecord, pathKey} from './common.js'
import {checkInventory, inventorySchema} from './inventory.js'
import {DUMMY_VARS, checkPlaybook, playbookSchema} from './playbook.js'
import type {TemplateVars} from './template.js'
import type {Inventory, Playbook} from './types.js'

type FileKind = 'inventory' | 'playbook'

const KINDS = {
  inventory: {code: 'INVENTORY_INVALID', doc: 'docs/inventory.md', needs: 'stack, playbook, target, ssh and devices'},
  playbook: {code: 'PLAYBOOK_INVALID', doc: 'docs/playbook.md', needs: 'name, facts and upgrade'},
} as const

/** Fields people write for secrets, and the field that names the environment variable instead. */
const SECRET_FIELDS: Record<string, {field: string; message: string} | undefined> = {
  password: {field: 'password_env', message: 'unknown field: the password is never written in the inventory; use password_env (names an environment variable) or password_file'},
  passphrase: {field: 'passphrase_env', message: 'unknown field: the passphrase is never written in the inventory; use passphrase_env (names an environment variable)'},
}

/** One problem with its position, before formatting. */
interface Problem {
  line: number
  col: number
  path: string
  message: string
}

/** A YAML file parsed with positions. */
class SourceFile {
  readonly lineCounter = new LineCounter()
  readonly doc: Document.Parsed

  constructor(
    /** The path as the user gave it, used in every message. */
    readonly display: string,
    text: string,
  ) {
    this.doc = parseDocument(text, {keepSourceTokens: true, lineCounter: this.lineCounter, prettyErrors: false, uniqueKeys: true})
  }

  /** 1-based line and column of a character offset. */
  pos(offset: number): {line: number; col: number} {
    return this.lineCounter.linePos(offset)
  }

  /**
   * The deepest node along `path` that exists in the file, and whether it is the node at `path` itself.
   * A key with an empty value (`host:`) yields the key node, which is where the user looks.
   */
  locate(path: readonly PathSegment[]): {node: Node | undefined; exact: boolean} {
    let node: unknown = this.doc.contents
    for (const [i, segment] of path.entries()) {
      if (isMap(node)) {
        const pair = node.items.find((p) => keyText(p.key) === String(segment))
        if (pair === undefined) return {node, exact: false}
        const value = pair.value
        if (isEmptyValue(value)) return {node: isScalar(pair.key) ? pair.key : node, exact: i === path.length - 1}
        node = value
      } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
        node = node.items[segment]
      } else {
        // A scalar, an alias, or an index past the end: this is as deep as the file goes.
        return {node: isNodeLike(node) ? node : undefined, exact: false}
      }
    }
    return {node: isNodeLike(node) ? node : undefined, exact: true}
  }

  /** The key node of the pair at `path` (its last segment names the key), if the file has it. */
  keyNode(path: readonly PathSegment[]): Node | undefined {
    const parent = this.locate(path.slice(0, -1))
    if (!parent.exact || !isMap(parent.node)) return undefined
    const pair = parent.node.items.find((p) => keyText(p.key) === String(path.at(-1)))
    return pair !== undefined && isScalar(pair.key) ? pair.key : undefined
  }

  /** Position of a node (the top of the file when there is none). */
  nodePos(node: Node | undefined): {line: number; col: number} {
    const start = node?.range?.[0]
    return start === undefined ? {line: 1, col: 1} : this.pos(start)
  }

  readonly lineOf: LineOf = (path) => {
    const found = this.locate(path)
    return found.exact ? this.nodePos(found.node).line : undefined
  }
}

/** A value the user left empty (`host:`): it has no text of its own to point at. */
function isEmptyValue(value: unknown): boolean {
  if (value === null || value === undefined) return true
  return isScalar(value) && value.value === null && (value.range?.[0] ?? 0) === (value.range?.[1] ?? 0)
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value)
  return String(key)
}

function isNodeLike(value: unknown): value is Node {
  return isScalar(value) || isMap(value) || isSeq(value) || isAlias(value)
}

/** Formats one problem line exactly as `FILE:LINE:COL PATH: MESSAGE`. */
function format(display: string, p: Problem): string {
  return `${display}:${p.line}:${p.col} ${p.path}: ${p.message}`
}

/** Throws the InputError for a non-empty problem list: sorted by position, duplicates removed. */
function fail(kind: FileKind, display: string, problems: Problem[]): never {
  const sorted = problems
    .map((p, i) => ({p, i}))
    .sort((a, b) => a.p.line - b.p.line || a.p.col - b.p.col || a.i - b.i)
    .map(({p}) => format(display, p))
  const lines = [...new Set(sorted)]
  throw new InputError(`${display}: ${lines.length} problem${lines.length === 1 ? '' : 's'}`, {
    code: KINDS[kind].code,
    problems: lines,
    hint: `The ${kind} format is described in ${KINDS[kind].doc}.`,
  })
}

/** Reads and parses a file; throws for an unreadable file, YAML syntax errors, an empty file or a top level that is not a mapping. */
async function readSource(path: string, kind: FileKind): Promise<{source: SourceFile; data: Record<string, unknown>}> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error: unknown) {
    const reason = readErrorText(error)
    throw new InputError(`${path}: cannot read the ${kind} file (${reason})`, {
      code: 'FILE_UNREADABLE',
      problems: [`${path}:1:1 (file): cannot read the file: ${reason}`],
      hint: 'Check the path; relative paths are relative to the current directory.',
      cause: error,
    })
  }
  const source = new SourceFile(path, text)
  const {doc} = source
  if (doc.errors.length > 0) {
    fail(
      kind,
      path,
      doc.errors.map((e) => ({...source.pos(e.pos[0]), path: '(yaml)', message: `YAML syntax error: ${e.message.split('\n')[0] ?? e.message}`})),
    )
  }
  let data: unknown
  try {
    data = doc.toJS({maxAliasCount: 1000})
  } catch (error: unknown) {
    // e.g. "Excessive alias count indicates a resource exhaustion attack"
    fail(kind, path, [{line: 1, col: 1, path: '(yaml)', message: `YAML error: ${error instanceof Error ? error.message : String(error)}`}])
  }
  if (data === null || data === undefined) {
    fail(kind, path, [{line: 1, col: 1, path: '(file)', message: `the file is empty; ${kind === 'inventory' ? 'an' : 'a'} ${kind} needs at least ${KINDS[kind].needs}`}])
  }
  if (!isRecord(data)) {
    const where = source.nodePos(doc.contents ?? undefined)
    fail(kind, path, [{...where, path: '(root)', message: `expected a mapping (key: value lines) at the top level, got ${describeValue(data)}`}])
  }
  return {source, data}
}

/** A hint for a value YAML did not read as a string although the user meant one. */
function quoteHint(node: Node | undefined): string {
  // `version: 17.10` is the number 17.1.
  if (isScalar(node) && typeof node.value === 'number' && node.source) return ` (write it in quotes: "${node.source}")`
  // `expect: {{ target.version }}` is a flow mapping inside a flow mapping.
  if (isMap(node) && node.flow === true && isMap(node.items[0]?.key)) return " (a value that starts with {{ must be quoted: '{{ ... }}')"
  return ''
}

function readErrorText(error: unknown): string {
  const code = (error as {code?: unknown} | null)?.code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EISDIR') return 'it is a directory'
  return error instanceof Error ? error.message : String(error)
}

/** Validates parsed data against a schema plus cross-field checks; returns the output or throws every problem positioned. */
function validate<S extends z.ZodType>(kind: FileKind, source: SourceFile, data: Record<string, unknown>, schema: S, checks: CheckIssue[]): z.output<S> {
  const {errorMap, knownKeys} = createErrorMap()
  const result = schema.safeParse(data, {error: errorMap, reportInput: true})
  const problems: Problem[] = []

  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.message === REPORTED_BY_CHECKS) continue
      const path = issue.path.filter((p): p is PathSegment => typeof p !== 'symbol')
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeys.get(pathKey(path)) ?? []
        for (const key of issue.keys) {
          const keyPath = [...path, key]
          const suggestion = closest(key, known)
          const secret = SECRET_FIELDS[key]
          const message =
            secret !== undefined && known.includes(secret.field)
              ? secret.message
              : suggestion !== undefined
                ? `unknown field (did you mean "${suggestion}"?)`
                : `unknown field; expected one of: ${known.join(', ')}`
          problems.push({...source.nodePos(source.keyNode(keyPath) ?? source.locate(path).node), path: formatPath(keyPath), message})
        }
        continue
      }
      const {node} = source.locate(path)
      let message = issue.message
      // YAML reads 17.10 as the number 17.1: show the text to quote.
      if (issue.code === 'invalid_type' && message.startsWith('expected a string,')) message += quoteHint(node)
      problems.push({...source.nodePos(node), path: formatPath(path), message})
    }
  }
  for (const check of checks) {
    const node = check.at === 'key' ? (source.keyNode(check.path) ?? source.locate(check.path).node) : source.locate(check.path).node
    problems.push({...source.nodePos(node), path: formatPath(check.path), message: check.message})
  }
  if (problems.length > 0 || !result.success) {
    fail(kind, source.display, problems.length > 0 ? problems : [{line: 1, col: 1, path: '(root)', message: 'invalid'}])
  }
  return result.data
}

/**
 * Loads, validates and resolves an inventory file (docs/inventory.md). Loads nothing else: the playbook is
 * only checked to exist (see {@link loadStack}). Reads no environment variable: secrets stay names.
 *
 * @param path - The inventory file, absolute or relative to the current directory; messages show it as given.
 * @returns The inventory with durations in milliseconds, `file`, `playbook` and key/password/known_hosts paths
 *   absolute, and every default filled in.
 * @throws InputError `FILE_UNREADABLE` when the file cannot be read; `INVENTORY_INVALID` listing every problem
 *   of the file (YAML syntax, unknown or missing fields, bad values, missing referenced files, cross-field rules)
 *   as `FILE:LINE:COL PATH: MESSAGE` lines in `problems`.
 */
export async function loadInventory(path: string): Promise<Inventory> {
  const {source, data} = await readSource(path, 'inventory')
  const file = resolve(path)
  const value = validate('inventory', source, data, inventorySchema(dirname(file)), checkInventory(data, source.lineOf))
  return {file, ...value}
}

/**
 * Loads and validates a playbook file (docs/playbook.md): every placeholder must be known and every pattern must
 * compile; gates are turned into the `kind`-tagged {@link Playbook} union.
 *
 * @param path - The playbook file, absolute or relative to the current directory; messages show it as given.
 * @param ctx - With `inventory`, patterns are checked with its real values (stack, target, each device)
 *   instead of dummy ones.
 * @returns The playbook with durations in milliseconds, `file` absolute and every default filled in.
 * @throws InputError `FILE_UNREADABLE` when the file cannot be read; `PLAYBOOK_INVALID` listing every problem
 *   of the file as `FILE:LINE:COL PATH: MESSAGE` lines in `problems`.
 */
export async function loadPlaybook(path: string, ctx?: {inventory?: Inventory}): Promise<Playbook> {
  const {source, data} = await readSource(path, 'playbook')
  const value = validate('playbook', source, data, playbookSchema(varsFor(ctx?.inventory)), checkPlaybook(data, source.lineOf))
  return {file: resolve(path), ...value}
}

/**
 * Loads an inventory and the playbook it names. Playbook problems name the playbook relative to the current
 * directory when `inventoryPath` is relative (absolute otherwise).
 *
 * @param inventoryPath - The inventory file, absolute or relative to the current directory.
 * @returns Both files, validated and resolved (see {@link loadInventory} and {@link loadPlaybook}).
 * @throws InputError `FILE_UNREADABLE`, `INVENTORY_INVALID` (the inventory is checked first; its playbook is
 *   not read when it is invalid) or `PLAYBOOK_INVALID`.
 */
export async function loadStack(inventoryPath: string): Promise<{inventory: Inventory; playbook: Playbook}> {
  const inventory = await loadInventory(inventoryPath)
  const shown = isAbsolute(inventoryPath) ? inventory.playbook : relative(process.cwd(), inventory.playbook) || inventory.playbook
  const playbook = await loadPlaybook(shown, {inventory})
  return {inventory, playbook}
}

function varsFor(inventory: Inventory | undefined): TemplateVars[] {
  if (inventory === undefined) return [DUMMY_VARS]
  return inventory.devices.map((d) => ({stack: inventory.stack, target: inventory.target, device: {name: d.name, host: d.host}, previous: DUMMY_VARS.previous!}))
}

/** SHA-256 (hex) over the inventory and playbook files as they are on disk now: a resume refuses changed inputs. */
export function inputsDigest(inventory: Inventory, playbook: Playbook): string {
  const h = createHash('sha256')
  for (const f of [inventory.file, playbook.file]) h.update(readFileSync(f)).update('\0')
  return h.digest('hex')
}
