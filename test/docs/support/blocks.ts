/**
 * Docs that run (issue #13): the code blocks of README.md and docs/*.md, extracted with markdown-it and classified by
 * their info string. The syntax is described in docs/docs-tests.md; in short:
 *
 *     ```sh expect="REGEX" [expect="…"] | quiet  [exit=N] [background ready="REGEX"] [requires=CMD] [timeout=S]
 *     ```sh illustration="why it is not run"
 *     ```sh synopsis                  (every line `chainup COMMAND …`: the command and each --flag must exist)
 *     ```yaml inventory | playbook | fragment=inventory | fragment=playbook [file=PATH] [check=later]
 *     ```yaml illustration="why"
 *     ```json                         (must parse)
 *     ```text / ts / ini / …          (shown, not run; `text output`: the previous shell block's output, verbatim)
 *
 * A fence without a language is an error, so every block is a deliberate choice. Errors name `FILE:LINE` of the
 * opening fence (1-based), the way an editor jumps to it.
 */
import MarkdownIt from 'markdown-it'

/** One fenced code block of a Markdown file. */
export interface DocBlock {
  /** The Markdown file, relative to the repository root (`docs/inventory.md`). */
  file: string
  /** 1-based line of the opening fence. */
  line: number
  /** The first word of the info string, lower-cased; '' when there is none. */
  lang: string
  /** The info string's `key=value` and bare `key` attributes (a bare key has the value ''); keys may repeat. */
  attrs: Array<[string, string]>
  /** The block's text, ending with a newline. */
  content: string
}

/** What the checker does with a block. */
export type BlockCheck =
  | {kind: 'shell'; expect: RegExp[]; quiet: boolean; exit: number; background?: {ready: RegExp}; requires: string[]; timeoutMs: number}
  | {kind: 'yaml'; document: 'inventory' | 'playbook'; fragment: boolean; file?: string; checkLater: boolean}
  | {kind: 'json'}
  | {kind: 'illustration'; reason: string}
  | {kind: 'synopsis'}
  | {kind: 'shown'; file?: string; output: boolean}

/** A block that breaks the rules: `FILE:LINE: message`. */
export class DocBlockError extends Error {
  constructor(block: Pick<DocBlock, 'file' | 'line'>, message: string) {
    super(`${block.file}:${block.line}: ${message}`)
    this.name = 'DocBlockError'
  }
}

const SHELL = new Set(['sh', 'bash', 'shell', 'console'])
const YAML = new Set(['yaml', 'yml'])
/** Languages shown to the reader and never run: output, code in other languages, config files of other tools. */
const SHOWN = new Set(['text', 'ts', 'typescript', 'js', 'ini', 'http', 'diff', 'asn1'])

const md = new MarkdownIt()

/**
 * @param file path shown in messages (relative to the repository root)
 * @param text the Markdown source
 * @returns every fenced code block in document order (indented code blocks are not examples and are ignored)
 * @throws DocBlockError for an info string that cannot be parsed
 */
export function extractBlocks(file: string, text: string): DocBlock[] {
  const blocks: DocBlock[] = []
  for (const token of md.parse(text, {})) {
    if (token.type !== 'fence' || !token.map) continue
    const line = token.map[0] + 1
    const {lang, attrs} = parseInfo(token.info, {file, line})
    blocks.push({file, line, lang, attrs, content: token.content})
  }
  return blocks
}

/** `key`, `key=value` or `key="value with spaces and \" quotes"`; only `\"` is an escape (regexes keep their `\`). */
const ATTR = /\s*([a-z][a-z0-9-]*)(?:=(?:"((?:[^"\\]|\\.)*)"|([^\s"]+)))?/y

/**
 * @returns the language (first word) and the attributes after it
 * @throws DocBlockError naming the column where the info string stops making sense
 */
export function parseInfo(info: string, at: Pick<DocBlock, 'file' | 'line'>): {lang: string; attrs: Array<[string, string]>} {
  const trimmed = info.trim()
  const space = trimmed.search(/\s/)
  const lang = (space < 0 ? trimmed : trimmed.slice(0, space)).toLowerCase()
  const rest = space < 0 ? '' : trimmed.slice(space)
  const attrs: Array<[string, string]> = []
  ATTR.lastIndex = 0
  while (ATTR.lastIndex < rest.length) {
    if (/^\s*$/.test(rest.slice(ATTR.lastIndex))) break
    const start = ATTR.lastIndex
    const m = ATTR.exec(rest)
    if (!m) throw new DocBlockError(at, `cannot read the code block's info string after "${lang}${rest.slice(0, start)}": expected key, key=value or key="value"`)
    attrs.push([m[1]!, m[2] !== undefined ? m[2].replace(/\\"/g, '"') : (m[3] ?? '')])
  }
  return {lang, attrs}
}

const KEYS: Record<string, Set<string>> = {
  shell: new Set(['synopsis', 'expect', 'quiet', 'exit', 'background', 'ready', 'requires', 'timeout', 'illustration']),
  yaml: new Set(['inventory', 'playbook', 'fragment', 'file', 'check', 'illustration']),
  json: new Set(['illustration']),
}

/**
 * Decides what is done with a block.
 * @throws DocBlockError for a fence without a language, a shell block that is neither run (with at least one
 *   `expect`) nor an illustration with a reason, a YAML block that does not say what it is, an unknown attribute
 */
export function classify(block: DocBlock): BlockCheck {
  const {lang, attrs} = block
  const get = (key: string) => attrs.filter(([k]) => k === key).map(([, v]) => v)
  const has = (key: string) => attrs.some(([k]) => k === key)
  if (lang === '') {
    throw new DocBlockError(block, 'a code block without a language: write ```sh (run by npm test, or illustration="why"), ```yaml (inventory, playbook, fragment=…), ```json or ```text (output, not run); see docs/docs-tests.md')
  }
  const family = SHELL.has(lang) ? 'shell' : YAML.has(lang) ? 'yaml' : lang === 'json' ? 'json' : undefined
  if (!family) {
    if (SHOWN.has(lang)) {
      const other = attrs.filter(([k]) => k !== 'file' && k !== 'output')
      if (other.length > 0) throw new DocBlockError(block, `a \`\`\`${lang} block is shown, never run: its attributes are file=PATH (write it for later blocks) and output (it is the previous shell block's output), found ${other.map(([k]) => k).join(', ')}`)
      const file = get('file')[0]
      if (file !== undefined) checkPath(block, file)
      if (has('output') && file !== undefined) throw new DocBlockError(block, 'output and file= contradict each other: a block is either a command\'s output or a file to write')
      return {kind: 'shown', file, output: has('output')}
    }
    throw new DocBlockError(block, `unknown code block language "${lang}": use sh, yaml, json, or one of ${[...SHOWN].join(', ')} (shown, not run)`)
  }
  for (const [k] of attrs) if (!KEYS[family]!.has(k)) throw new DocBlockError(block, `unknown attribute "${k}" for a ${lang} block; known: ${[...KEYS[family]!].join(', ')}`)
  if (has('illustration')) {
    const reason = get('illustration')[0]!.trim()
    if (!reason) throw new DocBlockError(block, 'illustration needs a reason: illustration="why it is not run"')
    if (attrs.length > 1) throw new DocBlockError(block, 'an illustration is not run: it takes no other attribute')
    return {kind: 'illustration', reason}
  }
  if (family === 'json') return {kind: 'json'}
  if (has('synopsis')) {
    if (attrs.length > 1) throw new DocBlockError(block, 'a synopsis is checked against the commands\' flags, not run: it takes no other attribute')
    return {kind: 'synopsis'}
  }
  if (family === 'shell') {
    const expect = get('expect').map((source) => regex(block, 'expect', source))
    const quiet = has('quiet')
    if (expect.length === 0 && !quiet) throw new DocBlockError(block, 'a shell block that runs needs a check of what it prints: expect="REGEX", or quiet when it prints nothing (or mark it illustration="why")')
    if (expect.length > 0 && quiet) throw new DocBlockError(block, 'quiet (prints nothing) and expect="…" contradict each other')
    const exitText = get('exit')[0] ?? '0'
    if (!/^\d{1,3}$/.test(exitText)) throw new DocBlockError(block, `exit must be an exit code 0-255, not "${exitText}"`)
    const timeoutText = get('timeout')[0] ?? '180'
    if (!/^\d{1,4}$/.test(timeoutText)) throw new DocBlockError(block, `timeout is in seconds, not "${timeoutText}"`)
    const ready = get('ready')[0]
    if (has('background') !== (ready !== undefined)) throw new DocBlockError(block, 'background and ready="REGEX" go together: a background block runs until the end of its file once its output matches ready')
    return {
      kind: 'shell',
      expect,
      quiet,
      exit: Number(exitText),
      background: ready === undefined ? undefined : {ready: regex(block, 'ready', ready)},
      requires: get('requires'),
      timeoutMs: Number(timeoutText) * 1000,
    }
  }
  const whole = (['inventory', 'playbook'] as const).filter((k) => has(k))
  const fragment = get('fragment')[0]
  if (whole.length + (fragment === undefined ? 0 : 1) !== 1) {
    throw new DocBlockError(block, 'say what this YAML is, once: inventory, playbook (whole documents), fragment=inventory or fragment=playbook (checked inside a minimal document), or illustration="why"')
  }
  if (fragment !== undefined && fragment !== 'inventory' && fragment !== 'playbook') throw new DocBlockError(block, `fragment=inventory or fragment=playbook, not "${fragment}"`)
  const check = get('check')[0]
  if (check !== undefined && check !== 'later') throw new DocBlockError(block, `check=later is the only value of check (the file is written now and checked by a later shell block of this file), not "${check}"`)
  const file = get('file')[0]
  if (check === 'later' && !file) throw new DocBlockError(block, 'check=later needs file=PATH: a later shell block of this file must use that file')
  if (file !== undefined) checkPath(block, file)
  return {kind: 'yaml', document: (fragment ?? whole[0]) as 'inventory' | 'playbook', fragment: fragment !== undefined, file, checkLater: check === 'later'}
}

function checkPath(block: DocBlock, file: string): void {
  if (file === '' || file.startsWith('/') || file.split('/').includes('..')) throw new DocBlockError(block, `file= must be a relative path inside the example's directory, not "${file}"`)
}

function regex(block: DocBlock, key: string, source: string): RegExp {
  try {
    return new RegExp(source, 'm')
  } catch (error) {
    throw new DocBlockError(block, `${key}="${source}" is not a regular expression: ${(error as Error).message}`)
  }
}
