/**
 * Loading chainup's input files: read → YAML (with positions) → zod schema + cross-field checks → typed value,
 * or one {@link InputError} listing every problem of the file as `FILE:LINE:COL PATH: MESSAGE`.
 *
 * Whatever a file holds, a load stays bounded (docs/inventory.md#limits): the file is read up to its size limit, and
 * each YAML stage only starts once the cheaper one before it has bounded what it will see (bytes → characters →
 * tokens → nesting → values → aliases).
 */
import {isUtf8} from 'node:buffer'
import {createHash} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {open} from 'node:fs/promises'
import {dirname, isAbsolute, relative, resolve} from 'node:path'
import {
  CST,
  Composer,
  type Document,
  Lexer,
  LineCounter,
  type Node,
  type Pair,
  Parser,
  type YAMLMap,
  YAMLParseError,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
} from 'yaml'
import type {z} from 'zod'

import {InputError} from '../errors.js'
import {type CheckIssue, type LineOf, type PathSegment, REPORTED_BY_CHECKS, closest, createErrorMap, describeValue, formatPath, isRecord, pathKey} from './common.js'
import {checkInventory, type InventorySchemaOptions, inventorySchema} from './inventory.js'
import {DUMMY_VARS, checkPlaybook, playbookSchema} from './playbook.js'
import type {TemplateVars} from './template.js'
import {INPUT_LIMITS, type Inventory, type Playbook} from './types.js'

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
  /** Each mapping's pairs by key text, built when first looked up: a lookup costs the same in a mapping of 10,000 keys. */
  private readonly pairIndex = new WeakMap<YAMLMap, Map<string, Pair>>()

  constructor(
    /** The path as the user gave it, used in every message. */
    readonly display: string,
    readonly doc: Document.Parsed,
    readonly lineCounter: LineCounter,
  ) {}

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
        const pair = this.pair(node, String(segment))
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
    const pair = this.pair(parent.node, String(path.at(-1)))
    return pair !== undefined && isScalar(pair.key) ? pair.key : undefined
  }

  /** The first pair of `map` whose key reads `key`. */
  private pair(map: YAMLMap, key: string): Pair | undefined {
    let index = this.pairIndex.get(map)
    if (index === undefined) {
      index = new Map()
      for (const p of map.items as Pair[]) {
        const text = keyText(p.key)
        if (!index.has(text)) index.set(text, p)
      }
      this.pairIndex.set(map, index)
    }
    return index.get(key)
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

/** Characters that would break a problem line or play tricks in a terminal: controls, line and paragraph separators, bidi overrides. */
const UNSAFE_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g
const LINE_ESCAPES: Record<string, string> = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}

/** `text` with every {@link UNSAFE_IN_LINE} character escaped (`\n`, `\u001b`): what the file holds is shown, never obeyed. */
function oneLine(text: string): string {
  return text.replace(UNSAFE_IN_LINE, (c) => LINE_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Formats one problem line exactly as `FILE:LINE:COL PATH: MESSAGE`, always one line. */
function format(display: string, p: Problem): string {
  return `${display}:${p.line}:${p.col} ${oneLine(p.path)}: ${oneLine(p.message)}`
}

/**
 * Throws the InputError for a non-empty problem list: sorted by position, duplicates removed, at most
 * {@link INPUT_LIMITS.problems} listed and then one line saying how many more there are.
 */
function fail(kind: FileKind, display: string, problems: Problem[]): never {
  const sorted = problems.map((p, i) => ({p, i})).sort((a, b) => a.p.line - b.p.line || a.p.col - b.p.col || a.i - b.i)
  const seen = new Set<string>()
  const lines: string[] = []
  let more = 0
  let firstMore: Problem | undefined
  for (const {p} of sorted) {
    const key = `${p.line}:${p.col} ${p.path}: ${p.message}`
    if (seen.has(key)) continue
    seen.add(key)
    if (lines.length < INPUT_LIMITS.problems) lines.push(format(display, p))
    else {
      more++
      firstMore ??= p
    }
  }
  const total = lines.length + more
  if (firstMore !== undefined) {
    lines.push(format(display, {...firstMore, path: '(file)', message: `${more} more problem${more === 1 ? '' : 's'} not listed (at most ${INPUT_LIMITS.problems} are)`}))
  }
  throw new InputError(`${display}: ${total} problem${total === 1 ? '' : 's'}`, {
    code: KINDS[kind].code,
    problems: lines,
    hint: `The ${kind} format is described in ${KINDS[kind].doc}.`,
  })
}

/**
 * Reads and parses a file; throws for an unreadable file, a file past a limit (size, encoding, characters, tokens,
 * nesting, aliases), YAML syntax errors, an empty file or a top level that is not a mapping.
 */
async function readSource(path: string, kind: FileKind): Promise<{source: SourceFile; data: Record<string, unknown>}> {
  let bytes: Buffer
  try {
    bytes = await readAtMost(path, INPUT_LIMITS.fileBytes + 1)
  } catch (error: unknown) {
    const reason = readErrorText(error)
    throw new InputError(`${path}: cannot read the ${kind} file (${reason})`, {
      code: 'FILE_UNREADABLE',
      problems: [`${path}:1:1 (file): cannot read the file: ${reason}`],
      hint: 'Check the path; relative paths are relative to the current directory.',
      cause: error,
    })
  }
  const atFile = (message: string, where = {line: 1, col: 1}): never => fail(kind, path, [{...where, path: '(file)', message}])
  if (bytes.length > INPUT_LIMITS.fileBytes) {
    atFile(`the file is larger than 1 MiB; ${kind === 'inventory' ? 'an' : 'a'} ${kind} file may be at most 1 MiB (${INPUT_LIMITS.fileBytes} bytes)`)
  }
  if (!isUtf8(bytes)) {
    const at = firstInvalidUtf8(bytes)
    atFile(`not UTF-8 text: invalid byte 0x${(bytes[at] ?? 0).toString(16).toUpperCase().padStart(2, '0')} (save the file as UTF-8)`, textPos(bytes.subarray(0, at).toString('utf8'), Infinity))
  }
  const text = bytes.toString('utf8')
  const unprintable = NON_PRINTABLE.exec(text)
  if (unprintable !== null) {
    const code = (unprintable[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')
    atFile(`unexpected character U+${code} (a YAML file holds printable characters, tabs and line breaks only)`, textPos(text, unprintable.index))
  }
  const lineCounter = new LineCounter()
  const parsed = parseTokens(text, lineCounter)
  if ('message' in parsed) fail(kind, path, [{...textPos(text, parsed.offset), path: '(yaml)', message: parsed.message}])
  const deep = tooDeep(parsed.tokens)
  if (deep !== undefined) fail(kind, path, [{...lineCounter.linePos(deep), path: '(yaml)', message: NESTED_TOO_DEEP}])
  const source = new SourceFile(path, compose(parsed.tokens, text.length), lineCounter)
  const {doc} = source
  if (doc.errors.length > 0) {
    fail(
      kind,
      path,
      doc.errors.map((e) => ({...source.pos(e.pos[0]), path: '(yaml)', message: `YAML syntax error: ${e.message.split('\n')[0] ?? e.message}`})),
    )
  }
  const expansion = aliasExpansion(doc)
  if (expansion !== undefined) {
    // yaml's own words for it (its count, which costs aliases × document, is replaced by the one above).
    fail(kind, path, [{...source.pos(expansion), path: '(yaml)', message: 'YAML error: Excessive alias count indicates a resource exhaustion attack'}])
  }
  let data: unknown
  try {
    data = doc.toJS({maxAliasCount: -1})
  } catch (error: unknown) {
    // e.g. "Unresolved alias (the anchor must be set before the alias): x"
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

/**
 * Reads the first `max` bytes of a file (all of it when it is smaller): a file past the size limit is never read
 * whole, and a device or pipe that never ends costs no more than a file of the limit.
 */
async function readAtMost(path: string, max: number): Promise<Buffer> {
  const handle = await open(path, 'r')
  try {
    const chunks: Buffer[] = []
    let total = 0
    while (total < max) {
      const chunk = Buffer.allocUnsafe(Math.min(256 * 1024, max - total))
      const {bytesRead} = await handle.read(chunk, 0, chunk.length, null)
      if (bytesRead === 0) break
      chunks.push(chunk.subarray(0, bytesRead))
      total += bytesRead
    }
    return Buffer.concat(chunks, total)
  } finally {
    await handle.close()
  }
}

/** For a lead byte of UTF-8 (RFC 3629): how many continuation bytes follow and the range of the first; undefined for no lead byte. */
function utf8Lead(b: number): [count: number, lo: number, hi: number] | undefined {
  if (b < 0x80) return [0, 0, 0]
  if (b >= 0xc2 && b <= 0xdf) return [1, 0x80, 0xbf]
  if (b === 0xe0) return [2, 0xa0, 0xbf] // no overlong form
  if (b === 0xed) return [2, 0x80, 0x9f] // no surrogate
  if (b >= 0xe1 && b <= 0xef) return [2, 0x80, 0xbf]
  if (b === 0xf0) return [3, 0x90, 0xbf] // no overlong form
  if (b >= 0xf1 && b <= 0xf3) return [3, 0x80, 0xbf]
  if (b === 0xf4) return [3, 0x80, 0x8f] // nothing past U+10FFFF
  return undefined
}

/** Offset of the first byte of `bytes` that does not start or continue valid UTF-8 (`bytes.length` when there is none). */
function firstInvalidUtf8(bytes: Buffer): number {
  let i = 0
  while (i < bytes.length) {
    const lead = utf8Lead(bytes[i] ?? 0)
    if (lead === undefined) return i
    const [count, lo, hi] = lead
    for (let k = 1; k <= count; k++) {
      const c = bytes[i + k]
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i
    }
    i += count + 1
  }
  return bytes.length
}

/** 1-based line and column of `index` in `text` (of its end when `index` is past it), counted as yaml's LineCounter does. */
function textPos(text: string, index: number): {line: number; col: number} {
  const end = Math.min(index, text.length)
  let line = 1
  let lineStart = 0
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) {
    line++
    lineStart = i + 1
  }
  return {line, col: end - lineStart + 1}
}

/**
 * What YAML 1.2 does not allow in a stream (its c-printable): C0 controls but tab, line feed and carriage return; DEL;
 * C1 controls but NEL; U+FFFE and U+FFFF. Escapes in double quotes (`"\t"`) are still fine.
 */
const NON_PRINTABLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u0084\u0086-\u009f\ufffe\uffff]/

const NESTED_TOO_DEEP = `lists and mappings nested more than ${INPUT_LIMITS.nestingDepth} levels deep (at most ${INPUT_LIMITS.nestingDepth})`

/**
 * yaml's parser (its `parse()`, token by token) with the limits checked on the way, stopping at the first one passed:
 * the number of tokens, the nesting of flow collections (`[`, `{`), anchors and aliases (all seen in the lexer's
 * tokens, before the parser does any work on them), and the parser's own stack. That stack is popped recursively:
 * a list whose items each open a level (one line indented wrongly above 1500 items is enough) would overflow the call
 * stack inside yaml, long before the nesting check on the finished tokens ({@link tooDeep}) could say what is wrong.
 */
function parseTokens(text: string, lineCounter: LineCounter): {tokens: CST.Token[]} | {offset: number; message: string} {
  const parser = new Parser(lineCounter.addNewLine)
  const tokens: CST.Token[] = []
  let count = 0
  let offset = 0
  let flow = 0
  let anchors = 0
  let aliases = 0
  let atScalar = false
  // What Parser.parse() does first.
  lineCounter.addNewLine(0)
  for (const lexeme of new Lexer().lex(text)) {
    if (++count > INPUT_LIMITS.yamlTokens) {
      return {offset, message: `more than ${INPUT_LIMITS.yamlTokens} YAML tokens (values, indicators, comments, line breaks; at most ${INPUT_LIMITS.yamlTokens} per file)`}
    }
    if (atScalar) {
      // The text of a scalar: whatever it holds is not structure.
      atScalar = false
    } else if (lexeme === CST.SCALAR) {
      atScalar = true
    } else if (lexeme === CST.DOCUMENT || lexeme === CST.FLOW_END) {
      // Markers without text of their own; both end any flow collection.
      flow = 0
    } else if (lexeme === '[' || lexeme === '{') {
      if (++flow > INPUT_LIMITS.nestingDepth) return {offset, message: NESTED_TOO_DEEP}
    } else if (lexeme === ']' || lexeme === '}') {
      flow = Math.max(0, flow - 1)
    } else if (lexeme.startsWith('&')) {
      if (++anchors > INPUT_LIMITS.anchors) return {offset, message: `more than ${INPUT_LIMITS.anchors} YAML anchors (&name; at most ${INPUT_LIMITS.anchors} per file)`}
    } else if (lexeme.startsWith('*')) {
      if (++aliases > INPUT_LIMITS.aliases) return {offset, message: `more than ${INPUT_LIMITS.aliases} YAML aliases (*name; at most ${INPUT_LIMITS.aliases} per file)`}
    }
    // The parser's offset: the markers have no text.
    if (lexeme !== CST.SCALAR && lexeme !== CST.DOCUMENT && lexeme !== CST.FLOW_END) offset += lexeme.length
    for (const token of parser.next(lexeme)) tokens.push(token)
    // The stack holds the document, the open collections and the node being read: twice the limit is far past it.
    // Its collections are the open ones, outermost first: the first too deep is where the file went past the limit.
    if (parser.stack.length > 2 * INPUT_LIMITS.nestingDepth) {
      const open = parser.stack.filter((t) => t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection')
      return {offset: open[INPUT_LIMITS.nestingDepth]?.offset ?? parser.offset, message: NESTED_TOO_DEEP}
    }
  }
  for (const token of parser.end()) tokens.push(token)
  return {tokens}
}

/** Offset of the first list or mapping (in file order) nested deeper than the limit, walking the parser's tokens without recursion. */
function tooDeep(tokens: readonly CST.Token[]): number | undefined {
  // Two stacks (token, its depth) rather than one of pairs: a file of 100,000 tokens allocates nothing per token here.
  const stack: CST.Token[] = []
  const depths: number[] = []
  for (let i = tokens.length - 1; i >= 0; i--) {
    stack.push(tokens[i] as CST.Token)
    depths.push(0)
  }
  for (let token = stack.pop(); token !== undefined; token = stack.pop()) {
    const depth = depths.pop() ?? 0
    if (token.type === 'document') {
      if (token.value !== undefined) {
        stack.push(token.value)
        depths.push(depth)
      }
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth >= INPUT_LIMITS.nestingDepth) return token.offset
      // Children in reverse, so that they come off the stack in file order.
      const items = token.items as Array<{key?: CST.Token | null; value?: CST.Token}>
      for (let i = items.length - 1; i >= 0; i--) {
        const item = items[i]
        if (item?.value) {
          stack.push(item.value)
          depths.push(depth + 1)
        }
        if (item?.key) {
          stack.push(item.key)
          depths.push(depth + 1)
        }
      }
    }
  }
  return undefined
}

/**
 * yaml's `parseDocument` on tokens already parsed: one document (a second one is an error, as there). Duplicate keys
 * are found here with one set per mapping; yaml's own check compares each key with every key before it.
 */
function compose(tokens: readonly CST.Token[], length: number): Document.Parsed {
  // logLevel 'error': no process warning from yaml (it prints one for a mapping used as a key).
  const composer = new Composer({keepSourceTokens: true, uniqueKeys: false, logLevel: 'error'})
  let doc: Document.Parsed | undefined
  for (const next of composer.compose(tokens, true, length)) {
    if (doc === undefined) doc = next
    else {
      doc.errors.push(new YAMLParseError([next.range[0], next.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents; please use YAML.parseAllDocuments()'))
      break
    }
  }
  // `compose(…, true)` always yields a document.
  if (doc === undefined) throw new Error('yaml composed no document')
  for (const offset of duplicateKeys(doc.contents)) doc.errors.push(new YAMLParseError([offset, offset + 1], 'DUPLICATE_KEY', 'Map keys must be unique'))
  return doc
}

/** Offsets of keys equal to an earlier key of the same mapping, as yaml's `uniqueKeys` tells them (scalars by value, other keys by identity). */
function duplicateKeys(root: unknown): number[] {
  const found: number[] = []
  const visit = (node: unknown): void => {
    if (isMap(node)) {
      const seen = new Set<unknown>()
      for (const pair of node.items) {
        if (isScalar(pair.key) && !Number.isNaN(pair.key.value)) {
          if (seen.has(pair.key.value)) found.push(pair.key.range?.[0] ?? 0)
          else seen.add(pair.key.value)
        }
        visit(pair.key)
        visit(pair.value)
      }
    } else if (isSeq(node)) {
      for (const item of node.items) visit(item)
    }
  }
  // Recursion is bounded: nothing deeper than INPUT_LIMITS.nestingDepth gets here.
  visit(root)
  return found
}

/**
 * The offset of the alias at which the aliases of `doc` stand for more than {@link INPUT_LIMITS.aliasExpansion}
 * values, counted as if each alias were replaced by a copy of its anchor's node (aliases inside that node included),
 * or undefined. An alias resolves to the last anchor of its name before it, as in yaml; one inside its own anchor's
 * node counts as one value.
 */
function aliasExpansion(doc: Document.Parsed): number | undefined {
  const anchors = new Map<string, Node>()
  const sizes = new Map<Node, number>()
  let added = 0
  let over: number | undefined
  const size = (node: unknown): number => {
    if (over !== undefined) return 0
    if (isAlias(node)) {
      const target = anchors.get(node.source)
      const n = target === undefined ? 1 : (sizes.get(target) ?? 1)
      added += n
      if (added > INPUT_LIMITS.aliasExpansion) over = node.range?.[0] ?? 0
      return n
    }
    if (isNode(node) && node.anchor !== undefined) anchors.set(node.anchor, node)
    let n = 1
    if (isMap(node)) for (const pair of node.items) n += size(pair.key) + size(pair.value)
    else if (isSeq(node)) for (const item of node.items) n += size(item)
    if (isNode(node) && node.anchor !== undefined) sizes.set(node, n)
    return n
  }
  size(doc.contents)
  return over
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
        const expected = `unknown field; expected one of: ${known.join(', ')}`
        for (const key of issue.keys) {
          const keyPath = [...path, key]
          const suggestion = closest(key, known)
          const secret = SECRET_FIELDS[key]
          const message =
            secret !== undefined && known.includes(secret.field)
              ? secret.message
              : suggestion !== undefined
                ? `unknown field (did you mean "${suggestion}"?)`
                : expected
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
 * @param opts - `tlsFilesMayBeMissing`: the `chainsync.tls` files may not exist yet (`chainup certs init` only);
 *   every other rule still applies.
 * @returns The inventory with durations in milliseconds, `file`, `playbook` and key/password/known_hosts paths
 *   absolute, and every default filled in.
 * @throws InputError `FILE_UNREADABLE` when the file cannot be read; `INVENTORY_INVALID` listing every problem
 *   of the file (YAML syntax, unknown or missing fields, bad values, missing referenced files, cross-field rules)
 *   as `FILE:LINE:COL PATH: MESSAGE` lines in `problems`.
 */
export async function loadInventory(path: string, opts: InventorySchemaOptions = {}): Promise<Inventory> {
  const {source, data} = await readSource(path, 'inventory')
  const file = resolve(path)
  const value = validate('inventory', source, data, inventorySchema(dirname(file), opts), checkInventory(data, source.lineOf))
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
