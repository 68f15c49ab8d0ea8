/**
 * The IOS-XE exec command grammar of the simulated Catalyst 9000 (docs/lab.md "Commands"): one command line in,
 * one typed {@link IosCommand} (plus an optional output modifier) or a {@link ParseFailure} out, matched the way
 * IOS matches it — keywords may be abbreviated to any unambiguous prefix, the first word that fits nothing is
 * reported with its column (for the `^` marker), and `| include|exclude|begin|count RE` follows commands that
 * print something.
 *
 * Pure: no I/O, no time, no device state. The error texts are in ios-output.ts ({@link ParseFailure} → lines).
 */

/** A command the simulator understands, with its arguments. */
export type IosCommand =
  | {id: 'show_version'}
  | {id: 'show_clock'}
  | {id: 'show_running'}
  | {id: 'show_install_summary'}
  | {id: 'show_boot'}
  | {id: 'show_switch'}
  /** `dir [FILESYSTEM]`; the simulator lists `flash:` whatever the file system. */
  | {id: 'dir'; filesystem?: string}
  /** `install add file FILE activate commit [prompt-level none]`; `file` as typed, e.g. `flash:cat9k_iosxe.17.09.05.SPA.bin`. */
  | {id: 'install'; file: string; promptLevelNone: boolean}
  | {id: 'reload'}
  /** `verify /md5 FILE` or `verify /sha512 FILE`; `file` as typed, e.g. `flash:cat9k_iosxe.17.09.05.SPA.bin`. */
  | {id: 'verify'; algorithm: 'md5' | 'sha512'; file: string}
  | {id: 'terminal_length'; lines: number}
  | {id: 'exit'}

export type CommandId = IosCommand['id']

/** The commands that print output, the only ones an output modifier (`| include ...`) may follow. */
export type OutputCommandId = 'show_version' | 'show_clock' | 'show_running' | 'show_install_summary' | 'show_boot' | 'show_switch' | 'dir'
export type OutputCommand = Extract<IosCommand, {id: OutputCommandId}>

const OUTPUT_COMMANDS: ReadonlySet<CommandId> = new Set<CommandId>(['show_version', 'show_clock', 'show_running', 'show_install_summary', 'show_boot', 'show_switch', 'dir'])

export function isOutputCommand(c: IosCommand): c is OutputCommand {
  return OUTPUT_COMMANDS.has(c.id)
}

/** A grammar word: a keyword (abbreviable like IOS) or an argument matched by a pattern. */
export type Word = string | RegExp

/** One way to spell a command: its words in order. */
export interface GrammarRule {
  id: CommandId
  words: readonly Word[]
}

const ANY = /^\S+$/
const NUMBER = /^\d+$/
const FILESYSTEM = /^(flash|bootflash):\/?$/i
const INSTALL: Word[] = ['install', 'add', 'file', ANY, 'activate', 'commit']

/** Every command line the simulator accepts. */
export const GRAMMAR: readonly GrammarRule[] = [
  {id: 'show_version', words: ['show', 'version']},
  {id: 'show_clock', words: ['show', 'clock']},
  {id: 'show_running', words: ['show', 'running-config']},
  {id: 'show_install_summary', words: ['show', 'install', 'summary']},
  {id: 'show_boot', words: ['show', 'boot']},
  {id: 'show_switch', words: ['show', 'switch']},
  {id: 'dir', words: ['dir']},
  {id: 'dir', words: ['dir', FILESYSTEM]},
  {id: 'install', words: INSTALL},
  {id: 'install', words: [...INSTALL, 'prompt-level', 'none']},
  {id: 'reload', words: ['reload']},
  {id: 'verify', words: ['verify', /^\/(md5|sha512)$/i, ANY]},
  {id: 'terminal_length', words: ['terminal', 'length', NUMBER]},
  {id: 'exit', words: ['exit']},
]

/**
 * Why a line was refused. `col` is the 0-based column of the offending word in the command line (IOS prints the
 * `^` under it, counted from the start of the `name#` prompt); `text` is the ambiguous words as typed.
 */
export type ParseFailure = {kind: 'invalid'; col: number} | {kind: 'incomplete'} | {kind: 'ambiguous'; text: string}

/** A command line matched against a grammar: the rule that fits completely and the words typed for its arguments. */
export type MatchResult = {kind: 'ok'; rule: GrammarRule; args: string[]} | {kind: 'empty'} | ParseFailure

interface Token {
  text: string
  /** Column of the token's first character in the command line. */
  col: number
}

function tokenize(line: string): Token[] {
  return [...line.matchAll(/\S+/g)].map((m) => ({text: m[0], col: m.index ?? 0}))
}

/**
 * Matches a command line (without an output modifier) against `grammar` the way IOS does: keywords may be
 * abbreviated to any unambiguous prefix (an exact keyword wins over longer ones it abbreviates); the first word
 * that fits no rule is `invalid` at its column; a line that is a proper prefix of rules only is `incomplete`.
 */
export function matchCommand(line: string, grammar: readonly GrammarRule[] = GRAMMAR): MatchResult {
  const tokens = tokenize(line)
  if (tokens.length === 0) return {kind: 'empty'}
  let alive = grammar
  for (const [i, tok] of tokens.entries()) {
    const lower = tok.text.toLowerCase()
    const keywords = new Set<string>()
    let next = alive.filter((c) => {
      const w = c.words[i]
      if (w === undefined) return false
      if (typeof w === 'string') {
        if (!w.startsWith(lower)) return false
        keywords.add(w)
        return true
      }
      return w.test(tok.text)
    })
    if (keywords.has(lower)) next = next.filter((c) => c.words[i] === lower || typeof c.words[i] !== 'string')
    else if (keywords.size > 1) return {kind: 'ambiguous', text: tokens.slice(0, i + 1).map((t) => t.text).join(' ')}
    if (next.length === 0) return {kind: 'invalid', col: tok.col}
    alive = next
  }
  const complete = alive.find((c) => c.words.length === tokens.length)
  if (!complete) return {kind: 'incomplete'}
  const args = tokens.filter((_t, i) => complete.words[i] instanceof RegExp).map((t) => t.text)
  return {kind: 'ok', rule: complete, args}
}

/** The typed command of a complete match of {@link GRAMMAR}. */
function toCommand(rule: GrammarRule, args: readonly string[]): IosCommand {
  const [first = ''] = args
  switch (rule.id) {
    case 'dir':
      return args.length > 0 ? {id: 'dir', filesystem: first} : {id: 'dir'}
    case 'install':
      return {id: 'install', file: first, promptLevelNone: rule.words.length > INSTALL.length}
    case 'terminal_length':
      return {id: 'terminal_length', lines: Number(first)}
    case 'verify':
      return {id: 'verify', algorithm: first.toLowerCase() === '/sha512' ? 'sha512' : 'md5', file: args[1] ?? ''}
    default:
      return {id: rule.id}
  }
}

/** Rewrites the lines a command prints (an IOS output modifier). */
export type OutputFilter = (lines: readonly string[]) => string[]

/** Splits `show x | include y` at the first `|`; the modifier part keeps its column (the one after the `|`). */
export function splitPipe(line: string): [string, {text: string; col: number} | undefined] {
  const i = line.indexOf('|')
  if (i < 0) return [line, undefined]
  return [line.slice(0, i), {text: line.slice(i + 1), col: i + 1}]
}

/**
 * IOS output modifiers: `include`, `exclude`, `begin`, `count` (abbreviable) with a JavaScript regular expression,
 * which is taken literally when it does not compile. `section` is accepted and filters like `include`.
 * An `invalid` column is relative to `text`.
 */
export function parseFilter(text: string): {kind: 'ok'; apply: OutputFilter} | ParseFailure {
  const m = /^(\s*)(\S+)\s*(.*)$/.exec(text)
  if (!m) return {kind: 'incomplete'}
  const [, lead = '', word = '', rest = ''] = m
  const kinds = ['begin', 'count', 'exclude', 'include', 'section'].filter((k) => k.startsWith(word.toLowerCase()))
  if (kinds.length === 0) return {kind: 'invalid', col: lead.length}
  if (kinds.length > 1) return {kind: 'ambiguous', text: word}
  if (rest.trim() === '') return {kind: 'incomplete'}
  let re: RegExp
  try {
    re = new RegExp(rest.trim())
  } catch {
    const literal = rest.trim()
    re = {test: (s: string) => s.includes(literal)} as RegExp
  }
  switch (kinds[0]) {
    case 'exclude':
      return {kind: 'ok', apply: (lines) => lines.filter((l) => !re.test(l))}
    case 'begin':
      return {kind: 'ok', apply: (lines) => lines.slice(Math.max(0, lines.findIndex((l) => re.test(l))))}
    case 'count':
      return {kind: 'ok', apply: (lines) => [`Number of lines which match regexp = ${lines.filter((l) => re.test(l)).length}`]}
    default:
      return {kind: 'ok', apply: (lines) => lines.filter((l) => re.test(l))}
  }
}

/** A whole exec line parsed: nothing to do, a refusal, or a command with its output modifier (if any). */
export type ParsedLine =
  | {kind: 'empty'}
  | {kind: 'error'; error: ParseFailure}
  | {kind: 'ok'; command: IosCommand; filter: OutputFilter | undefined}

/**
 * Parses one exec line, e.g. `sh run | i hostname`. Columns in an `invalid` error are relative to the whole line.
 * IOS takes an output modifier only after a command that prints something; after any other command the `|`
 * itself is the invalid input. A line that is blank before its `|` counts as empty.
 */
export function parseLine(line: string): ParsedLine {
  const [commandPart, filterPart] = splitPipe(line)
  const parsed = matchCommand(commandPart)
  if (parsed.kind === 'empty') return {kind: 'empty'}
  if (parsed.kind !== 'ok') return {kind: 'error', error: parsed}
  const command = toCommand(parsed.rule, parsed.args)
  if (filterPart === undefined) return {kind: 'ok', command, filter: undefined}
  const f = isOutputCommand(command) ? parseFilter(filterPart.text) : {kind: 'invalid' as const, col: -1}
  if (f.kind === 'ok') return {kind: 'ok', command, filter: f.apply}
  return {kind: 'error', error: f.kind === 'invalid' ? {kind: 'invalid', col: filterPart.col + f.col} : f}
}
