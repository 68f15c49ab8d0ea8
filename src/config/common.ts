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

/** A non-empty string without surrounding whitespace. */
export function textSchema(what = 'text') {
  return z.string().refine((s) => s.trim() !== '', `expected non-empty ${what}`)
}

/** The name of an environment variable (only the name: values are read later, by the runner). */
export const envNameSchema = z
  .string()
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

/** An ISO 8601 duration such as `PT5M`, greater than zero; output in milliseconds. */
export const durationSchema = z
  .string({error: (iss) => (iss.input === undefined ? undefined : `expected an ISO 8601 duration such as PT5M, got ${describeValue(iss.input)}`)})
  .transform((text, ctx) => {
  let ms: number
  try {
    ms = parseDurationMs(text)
  } catch (error: unknown) {
    ctx.issues.push({code: 'custom', message: error instanceof Error ? error.message : String(error), input: text})
    return z.NEVER
  }
  if (ms <= 0) {
    ctx.issues.push({code: 'custom', message: `expected a duration greater than zero, got "${text}"`, input: text})
    return z.NEVER
  }
  return ms
})

/**
 * A path to an existing file, written relative to `baseDir` (or absolute, or starting with `~/`); output absolute.
 * The file must exist when the inventory is loaded; its content is not read here.
 */
export function existingFileSchema(baseDir: string, what: string, kind: 'file' | 'directory' = 'file') {
  return z
    .string()
    .min(1, `expected the path of the ${what}`)
    .transform((text, ctx) => {
      const abs = resolvePath(baseDir, text)
      const shown = abs === text ? abs : `${text} (resolved to ${abs})`
      let isFile: boolean
      try {
        const st = statSync(abs)
        isFile = kind === 'file' ? st.isFile() : st.isDirectory()
      } catch {
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
      return value instanceof Date ? `the date ${value.toISOString()}` : 'a mapping'
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

/** Formats a path as `devices[1].host` (`(root)` for the empty path). */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else out += out === '' ? String(seg) : `.${String(seg)}`
  }
  return out === '' ? '(root)' : out
}

/** The closest of `candidates` to `word` within a small edit distance, for "did you mean". */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Infinity
  const limit = Math.max(1, Math.min(3, Math.floor(word.length / 3)))
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase())
    if (d <= limit && d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best
}

/** Damerau–Levenshtein distance (optimal string alignment): insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[] = new Array<number>(rows * cols).fill(0)
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, at(i - 2, j - 2) + 1)
      d[i * cols + j] = v
    }
  }
  return at(a.length, b.length)
}

/** A plain object parsed from YAML (not a list, not null). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}
