/**
 * Building blocks shared by the inventory and playbook schemas: field schemas with user-facing messages,
 * and the issue shape the cross-field checks produce. Internal to src/config (not re-exported).
 */
import {statSync} from 'node:fs'
import {isIP} from 'node:net'
import {homedir} from 'node:os'
import {isAbsolute, resolve} from 'node:path'
import {z} from 'zod'

import {parseDurationMs} from '../util/duration.js'
import {INPUT_LIMITS} from './types.js'

/** One step of a field path: a map key or a list index. */
export type PathSegment = string | number

/** A problem found outside zod (cross-field rules); positioned and formatted by the loader. */
export interface CheckIssue {
  /** Path of the field the problem is about. */
  path: PathSegment[]
  message: string
  /** Point at the field's key instead of its value (for fields that must not be there). */
  at?: 'key'
}

/** Message of a zod issue that only fails the parse: the cross-field checks report the problem itself. The loader drops it. */
export const REPORTED_BY_CHECKS = '(reported by the cross-field checks)'

/** Looks up the 1-based line where the node at `path` starts, if the file has it. */
export type LineOf = (path: PathSegment[]) => number | undefined

/** Name pattern for stacks and devices (also ChainSync node names). */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
/** Environment variable names. */
export const ENV_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/

/** A name of a stack or device. */
export function nameSchema(what: string) {
  return z
    .string()
    .regex(NAME_PATTERN, `expected a ${what} of letters, digits, ".", "_" or "-", starting with a letter or digit, at most 64 characters`)
}

/**
 * The length check every string field starts with (docs/inventory.md#limits): a longer string gets this one message
 * and no other check runs on it (`abort`), so no pattern or lookup ever sees it.
 */
export function maxLength(max: number) {
  return {error: (iss: {input?: unknown}) => `expected at most ${max} characters, got ${typeof iss.input === 'string' ? iss.input.length : '?'}`, abort: true}
}

/** A non-empty string without surrounding whitespace, at most `max` characters. */
export function textSchema(what = 'text', max: number = INPUT_LIMITS.text) {
  return z
    .string()
    .max(max, maxLength(max))
    .refine((s) => s.trim() !== '', `expected non-empty ${what}`)
}

/** The name of an environment variable (only the name: values are read later, by the runner). */
export const envNameSchema = z
  .string()
  .max(INPUT_LIMITS.shortText, maxLength(INPUT_LIMITS.shortText))
  .regex(ENV_PATTERN, 'expected an environment variable name (letters, digits and "_", not starting with a digit)')

const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

/** True for an IPv4 or IPv6 literal or an RFC 1123 host name (a name whose last label is all digits is refused: it is a broken IP address). */
export function isHostOrIp(text: string): boolean {
  if (isIP(text) !== 0) return true
  const name = text.endsWith('.') ? text.slice(0, -1) : text
  if (name.length === 0 || name.length > 253) return false
  const labels = name.split('.')
  if (!labels.every((l) => HOST_LABEL.test(l))) return false
  return !/^\d+$/.test(labels.at(-1) ?? '')
}

/** A host name or IP address literal. */
export const hostSchema = z.string().refine(isHostOrIp, 'expected a hostname or IP address')

/** A TCP/UDP port number. */
export const portSchema = z
  .number({error: (iss) => (iss.input === undefined ? undefined : `expected a port number from 1 to 65535, got ${describeValue(iss.input)}`)})
  .int('expected a port number from 1 to 65535 (a whole number)')
  .min(1, 'expected a port number from 1 to 65535')
  .max(65535, 'expected a port number from 1 to 65535')

/** Largest duration, as the docs write it. */
const MAX_DURATION_TEXT = `${INPUT_LIMITS.durationMs / 86_400_000} days (P${INPUT_LIMITS.durationMs / 86_400_000}D)`

/** An ISO 8601 duration such as `PT5M`, greater than zero and at most 24 days; output in milliseconds. */
export const durationSchema = durationMsSchema(false)

/** As {@link durationSchema}, but `PT0S` (zero: "do not wait") is allowed too; output in milliseconds. */
export const durationOrZeroSchema = durationMsSchema(true)

function durationMsSchema(zeroAllowed: boolean) {
  return z
  .string({error: (iss) => (iss.input === undefined ? undefined : `expected an ISO 8601 duration such as PT5M, got ${describeValue(iss.input)}`)})
  .max(INPUT_LIMITS.durationText, maxLength(INPUT_LIMITS.durationText))
  .transform((text, ctx) => {
  let ms: number
  try {
    ms = parseDurationMs(text)
  } catch (error: unknown) {
    ctx.issues.push({code: 'custom', message: error instanceof Error ? error.message : String(error), input: text})
    return z.NEVER
  }
  if (ms < 0 || (ms === 0 && !zeroAllowed)) {
    ctx.issues.push({code: 'custom', message: `expected a duration greater than zero, got "${text}"`, input: text})
    return z.NEVER
  }
  // Node's timers fire at once for more than 2^31 - 1 ms: a longer timeout would expire immediately.
  if (!(ms <= INPUT_LIMITS.durationMs)) {
    ctx.issues.push({code: 'custom', message: `expected a duration of at most ${MAX_DURATION_TEXT}, got "${text}"`, input: text})
    return z.NEVER
  }
  return ms
})
}

/**
 * A path to an existing file, written relative to `baseDir` (or absolute, or starting with `~/`); output absolute.
 * The file must exist when the inventory is loaded; its content is not read here.
 * @param mayBeMissing - A path that does not exist yet passes (one that exists must still be of `kind`): for the
 *   files a command is about to write (`chainup certs init` and `chainsync.tls`). @default false
 */
export function existingFileSchema(baseDir: string, what: string, kind: 'file' | 'directory' = 'file', mayBeMissing = false) {
  return z
    .string()
    .max(INPUT_LIMITS.text, maxLength(INPUT_LIMITS.text))
    .min(1, `expected the path of the ${what}`)
    .transform((text, ctx) => {
      const abs = resolvePath(baseDir, text)
      const shown = abs === text ? abs : `${text} (resolved to ${abs})`
      let isFile: boolean
      try {
        const st = statSync(abs)
        isFile = kind === 'file' ? st.isFile() : st.isDirectory()
      } catch (error: unknown) {
        if (mayBeMissing && (error as NodeJS.ErrnoException).code === 'ENOENT') return abs
        ctx.issues.push({code: 'custom', message: `${what} not found: ${shown}`, input: text})
        return z.NEVER
      }
      if (!isFile) {
        ctx.issues.push({code: 'custom', message: `${what} is not a ${kind === 'file' ? 'regular file' : 'directory'}: ${shown}`, input: text})
        return z.NEVER
      }
      return abs
    })
}

/** Resolves `text` against `baseDir`; a leading `~/` means the user's home directory. */
export function resolvePath(baseDir: string, text: string): string {
  if (text === '~' || text.startsWith('~/')) return resolve(homedir(), text.slice(2))
  return isAbsolute(text) ? resolve(text) : resolve(baseDir, text)
}

/** Describes a parsed YAML value for a message, e.g. `the number 17.1`, `a list`, `"abc"`. Never used for secrets. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value'
  if (Array.isArray(value)) return 'a list'
  switch (typeof value) {
    case 'string':
      return value === '' ? 'an empty string' : `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`
    case 'number':
      return `the number ${value}`
    case 'boolean':
      return `${value}`
    case 'object':
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid date' : `the date ${value.toISOString()}`
      return 'a mapping'
    default:
      return typeof value
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping (key: value)',
}

/**
 * The per-parse zod error map of the loaders: turns zod's issues into the short lower-case messages the
 * problem lines show, and records the known keys of each object that got unknown ones (for "did you mean").
 * Schema-level messages (the ones given in the schemas) take precedence over this map.
 */
export function createErrorMap(): {errorMap: z.core.$ZodErrorMap; knownKeys: Map<string, string[]>} {
  const knownKeys = new Map<string, string[]>()
  const errorMap: z.core.$ZodErrorMap = (iss) => {
    switch (iss.code) {
      case 'invalid_type': {
        if (iss.input === undefined) return `missing required field "${String(iss.path?.at(-1) ?? '')}"`
        return `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describeValue(iss.input)}`
      }
      case 'invalid_value': {
        const values = iss.values.map((v) => JSON.stringify(v))
        return values.length === 1 ? `expected ${values[0]}, got ${describeValue(iss.input)}` : `expected one of ${values.join(', ')}, got ${describeValue(iss.input)}`
      }
      case 'unrecognized_keys': {
        const def = (iss.inst as {_zod?: {def?: {shape?: Record<string, unknown>}}} | undefined)?._zod?.def
        knownKeys.set(pathKey(iss.path ?? []), Object.keys(def?.shape ?? {}))
        return 'unknown field'
      }
      case 'too_small':
        if (iss.origin === 'array') return `expected at least ${String(iss.minimum)} item${iss.minimum === 1 ? '' : 's'}`
        if (iss.origin === 'string') return 'expected a non-empty string'
        return undefined
      default:
        return undefined
    }
  }
  return {errorMap, knownKeys}
}

/** A stable key for a path, for maps. */
export function pathKey(path: readonly PropertyKey[]): string {
  return JSON.stringify(path.map((p) => (typeof p === 'symbol' ? String(p) : p)))
}

/** A key shown as it is in a path: letters, digits, `_`, `.`, `-`, at most 64 characters. */
const PLAIN_KEY = /^[\p{L}\p{N}_.-]{1,64}$/u
/** Characters of a key shown in a path at most (longer keys are cut, with `…`). */
const PATH_KEY_CHARS = 40

/**
 * Formats a path as `devices[1].host` (`(root)` for the empty path). A key that is not plain (empty, longer than 64
 * characters, or holding spaces, quotes, brackets, `:` or control characters) is shown quoted and escaped, cut to 40
 * characters: `devices[0]["a b"]`, so a problem line stays one line of `FILE:LINE:COL PATH: MESSAGE`.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else {
      const key = String(seg)
      if (PLAIN_KEY.test(key)) out += out === '' ? key : `.${key}`
      else out += `[${JSON.stringify(key.length > PATH_KEY_CHARS ? `${key.slice(0, PATH_KEY_CHARS)}…` : key)}]`
    }
  }
  return out === '' ? '(root)' : out
}

/**
 * Longest word {@link closest} compares. Longer words are never within the distance of a field name (the longest
 * has 18 characters), and the distance costs length × length: bounded by construction, whatever the key.
 */
export const MAX_SUGGESTION_WORD = 64

/** The closest of `candidates` to `word` within a small edit distance, for "did you mean". */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > MAX_SUGGESTION_WORD) return undefined
  let best: string | undefined
  let bestDistance = Infinity
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)))
  for (const c of candidates) {
    // The distance is at least the difference in length: such candidates cannot be within the limit.
    if (c.length > MAX_SUGGESTION_WORD || Math.abs(c.length - word.length) > limit) continue
    const d = editDistance(word.toLowerCase(), c.toLowerCase())
    if (d <= limit && d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best
}

/** The table of {@link editDistance} for words of up to {@link MAX_SUGGESTION_WORD} characters (each call overwrites what it reads). */
const SCRATCH = new Uint32Array((MAX_SUGGESTION_WORD + 1) * (MAX_SUGGESTION_WORD + 8))

/** Damerau–Levenshtein distance (optimal string alignment): insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  // closest() compares short words only: they fit the scratch table, and thousands of unknown keys allocate nothing.
  const d = rows * cols <= SCRATCH.length ? SCRATCH : new Uint32Array(rows * cols)
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min((d[(i - 1) * cols + j] ?? 0) + 1, (d[i * cols + j - 1] ?? 0) + 1, (d[(i - 1) * cols + j - 1] ?? 0) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, (d[(i - 2) * cols + j - 2] ?? 0) + 1)
      d[i * cols + j] = v
    }
  }
  return d[rows * cols - 1] ?? 0
}

/** A plain object parsed from YAML (not a list, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}
