/**
 * `{{ ... }}` placeholders in playbook commands and patterns (docs/playbook.md "Placeholders").
 * The loader checks every placeholder once; the runner expands them per device with {@link expandTemplate}.
 */
import {InputError} from '../errors.js'

/** The values a placeholder can stand for: the inventory's stack and target, and the device the command is for. */
export interface TemplateVars {
  /** The inventory's `stack`, e.g. "access-stack-1". */
  stack: string
  target: {
    /** The inventory's `target.version`, e.g. "17.09.05". */
    version: string
    /** The inventory's `target.image`, e.g. "cat9k_iosxe.17.09.05.SPA.bin". */
    image: string
    /** The image's MD5 in lower-case hex: the inventory's `target.md5`, else computed from `target.image_file` at run time. */
    md5?: string
    /** The image's SHA-512 in lower-case hex, like {@link md5}. */
    sha512?: string
  }
  device: {
    /** The device's `name` in the inventory. */
    name: string
    /** The device's `host` in the inventory. */
    host: string
  }
  /**
   * What the device ran before this run (for compensating actions): its version from the facts, and its image,
   * `target.image` with `target.version` replaced by that version. Unknown until the device's facts are read.
   */
  previous?: {version: string; image: string}
}

/** Every placeholder name, in the order the docs list them. */
export const PLACEHOLDERS = ['stack', 'target.version', 'target.image', 'target.md5', 'target.sha512', 'device.name', 'device.host', 'previous.version', 'previous.image'] as const
export type PlaceholderName = (typeof PLACEHOLDERS)[number]

/**
 * The environment variable each placeholder's value is also given in to local command gates (docs/playbook.md
 * "Gates"). `CHAINUP_STACK` and `CHAINUP_DEVICE` predate the others.
 */
export const PLACEHOLDER_ENV: Readonly<Record<PlaceholderName, string>> = {
  stack: 'CHAINUP_STACK',
  'target.version': 'CHAINUP_TARGET_VERSION',
  'target.image': 'CHAINUP_TARGET_IMAGE',
  'target.md5': 'CHAINUP_TARGET_MD5',
  'target.sha512': 'CHAINUP_TARGET_SHA512',
  'device.name': 'CHAINUP_DEVICE',
  'device.host': 'CHAINUP_DEVICE_HOST',
  'previous.version': 'CHAINUP_PREVIOUS_VERSION',
  'previous.image': 'CHAINUP_PREVIOUS_IMAGE',
}

/**
 * How {@link expandTemplate} inserts a value: `'text'` as it is (commands sent to a device), `'regex'` regex-escaped
 * (patterns), `'shell'` shell-quoted (a local command gate's `run:` line for `/bin/sh -c`).
 */
export type ExpandMode = 'text' | 'regex' | 'shell'

/** `{{`, anything but braces, `}}`. Whitespace inside the braces is optional. */
const PLACEHOLDER = /\{\{([^{}]*)\}\}/g
/** {@link PLACEHOLDER} at one position. */
const PLACEHOLDER_AT = /\{\{([^{}]*)\}\}/y

/** Escapes every character that has a meaning in a JavaScript regular expression (the same escapes are also valid under the `u` flag). */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

function valueOf(name: PlaceholderName, vars: TemplateVars): string {
  switch (name) {
    case 'stack':
      return vars.stack
    case 'target.version':
      return vars.target.version
    case 'target.image':
      return vars.target.image
    case 'device.name':
      return vars.device.name
    case 'device.host':
      return vars.device.host
    case 'target.md5':
    case 'target.sha512': {
      const value = vars.target[name === 'target.md5' ? 'md5' : 'sha512']
      if (value === undefined) throw new Error(`{{ ${name} }} is not known: set target.image_file (its digests are computed) or target.${name.slice(7)} in the inventory`)
      return value
    }
    case 'previous.version':
    case 'previous.image': {
      const value = vars.previous?.[name === 'previous.version' ? 'version' : 'image']
      if (value === undefined) throw new Error(`{{ ${name} }} is not known yet: the device's facts have not been read`)
      return value
    }
  }
}

function isPlaceholderName(name: string): name is PlaceholderName {
  return (PLACEHOLDERS as readonly string[]).includes(name)
}

/** The message for a placeholder that is not one of {@link PLACEHOLDERS}, e.g. `unknown placeholder {{ target.vers }}; known: ...`. */
export function unknownPlaceholderMessage(placeholder: string): string {
  return `unknown placeholder ${placeholder}; known: ${PLACEHOLDERS.map((p) => `{{ ${p} }}`).join(', ')}`
}

/**
 * Lists the placeholders in `text` that are not known, exactly as written (e.g. `{{ target.vers }}`), in order of appearance.
 * An empty list means {@link expandTemplate} will not throw for this text.
 */
export function unknownPlaceholders(text: string): string[] {
  const unknown: string[] = []
  for (const match of text.matchAll(PLACEHOLDER)) {
    if (!isPlaceholderName((match[1] ?? '').trim())) unknown.push(match[0])
  }
  return unknown
}

/**
 * Replaces every `{{ name }}` placeholder in `text` with its value from `vars`.
 *
 * In `'text'` mode the values are inserted as they are (commands sent to a device).
 * In `'regex'` mode they are regex-escaped first, so `{{ target.image }}` in an `expect` pattern matches the
 * image name literally (its dots match dots only).
 * In `'shell'` mode (a gate's `run:` line) each value becomes exactly one literal string for `/bin/sh`, whatever it
 * holds (`;`, `$(...)`, `'`, newlines): see {@link expandShell}. Text outside placeholders is never changed.
 *
 * @param text - A command or pattern from the playbook.
 * @param vars - The values for this device.
 * @param mode - `'text'` for device commands, `'regex'` for patterns (`expect`, `reject`, `facts.*`, `error_patterns`),
 *   `'shell'` for `run:` lines.
 * @returns The expanded text.
 * @throws InputError (code `PLAYBOOK_INVALID`) when `text` holds an unknown placeholder (the playbook loader rejects
 *   those already, so this only happens for text that did not come through the loader), or in `'shell'` mode a
 *   placeholder where the shell's quoting cannot be followed ({@link unquotablePlaceholders}); Error when a
 *   `{{ previous.* }}` value is not known yet.
 */
export function expandTemplate(text: string, vars: TemplateVars, mode: ExpandMode): string {
  if (mode === 'shell') return expandShell(text, vars)
  return text.replace(PLACEHOLDER, (whole: string, inner: string) => {
    const value = valueOf(knownName(whole, inner), vars)
    return mode === 'regex' ? escapeRegExp(value) : value
  })
}

function knownName(whole: string, inner: string): PlaceholderName {
  const name = inner.trim()
  if (!isPlaceholderName(name)) {
    const message = unknownPlaceholderMessage(whole)
    throw new InputError(message, {code: 'PLAYBOOK_INVALID', problems: [message]})
  }
  return name
}

/** A value as one word for a POSIX shell: in single quotes, each `'` written as `'\''`. `''` for the empty string. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`
}

/** Where a placeholder stands in a shell command line: outside quotes, inside '…', inside "…". */
type ShellQuoting = 'plain' | 'single' | 'double'

/**
 * Walks a `run:` line as `/bin/sh` reads its quotes and calls `insert` for every placeholder with the quoting it
 * stands in, or with `unsafe` (why the quoting can no longer be followed) once the line used a construct whose
 * quoting rules differ: a backquote, `#` outside quotes (a comment, `$#`, `${#x}`), `$'…'`, a here-document (`<<`),
 * `$(…)` or `${…}` inside double quotes (`${NAME}` is fine), or a backslash (or, outside quotes, a `$`) right before
 * the placeholder.
 * Outside those, only `'`, `"` and `\` change the quoting, and `$(…)`/`${…}` outside double quotes nest quotes the
 * same way as the line itself.
 */
function scanShell(text: string, insert: (name: PlaceholderName, whole: string, quoting: ShellQuoting, unsafe: string | undefined) => string): string {
  let out = ''
  let quoting: ShellQuoting = 'plain'
  let unsafe: string | undefined
  let i = 0
  const placeholderAt = (at: number): RegExpExecArray | null => {
    PLACEHOLDER_AT.lastIndex = at
    return PLACEHOLDER_AT.exec(text)
  }
  while (i < text.length) {
    const m = text.startsWith('{{', i) ? placeholderAt(i) : null
    if (m) {
      out += insert(knownName(m[0], m[1] ?? ''), m[0], quoting, unsafe)
      i += m[0].length
      continue
    }
    const c = text[i]!
    const next = text[i + 1] ?? ''
    let take = 1
    if (quoting === 'single') {
      if (c === "'") quoting = 'plain'
    } else if (c === '\\') {
      if (placeholderAt(i + 1)) unsafe ??= 'a backslash'
      else take = 2
    } else if (quoting === 'plain' && c === '$' && placeholderAt(i + 1)) {
      unsafe ??= "a $ (it would make $'…' of the quoted value)"
    } else if (c === '`') {
      unsafe ??= 'a backquote (`)'
    } else if (quoting === 'plain') {
      if (c === "'") quoting = 'single'
      else if (c === '"') quoting = 'double'
      else if (c === '#') unsafe ??= 'a # outside quotes (a comment, $# or ${#…})'
      else if (c === '$' && next === "'") unsafe ??= "$'…' quoting"
      else if (c === '<' && next === '<') unsafe ??= 'a here-document (<<)'
    } else if (c === '"') {
      quoting = 'plain'
    } else if (c === '$' && next === '(') {
      unsafe ??= '$(…) inside double quotes'
    } else if (c === '$' && next === '{') {
      const simple = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}/.exec(text.slice(i))
      if (simple) take = simple[0].length
      else unsafe ??= '${…} inside double quotes'
    }
    out += text.slice(i, i + take)
    i += take
  }
  return out
}

/**
 * `'shell'` mode of {@link expandTemplate}: every value becomes one literal string for `/bin/sh -c`, in POSIX single
 * quotes. Outside quotes `{{ v }}` becomes `'v'`; inside '…' the value with each `'` written `'\''`; inside "…" the
 * double quotes are closed around the single-quoted value (`"a{{ v }}b"` → `"a"'v'"b"`). So `17.06.05;touch x`,
 * `$(id)` or `it's` reach the command as that text, never as shell syntax.
 * @throws InputError for a placeholder after a construct whose quoting {@link scanShell} cannot follow
 */
function expandShell(text: string, vars: TemplateVars): string {
  return scanShell(text, (name, whole, quoting, unsafe) => {
    if (unsafe !== undefined) {
      const message = unquotableMessage(whole, name, unsafe)
      throw new InputError(message, {code: 'PLAYBOOK_INVALID', problems: [message]})
    }
    const value = valueOf(name, vars)
    if (quoting === 'plain') return shellQuote(value)
    if (quoting === 'single') return value.replace(/'/g, `'\\''`)
    return `"${shellQuote(value)}"`
  })
}

function unquotableMessage(whole: string, name: PlaceholderName, unsafe: string): string {
  return `${whole} in a run: command after ${unsafe}: chainup cannot quote it safely there; use "$${PLACEHOLDER_ENV[name]}" instead`
}

/**
 * The problems {@link expandTemplate} would report for placeholders in a `run:` line in `'shell'` mode (placeholders
 * after a construct whose quoting cannot be followed), one message each; empty when the line is fine. For a loader
 * that wants to report them before a run.
 */
export function unquotablePlaceholders(text: string): string[] {
  const problems: string[] = []
  try {
    scanShell(text, (name, whole, _quoting, unsafe) => {
      if (unsafe !== undefined) problems.push(unquotableMessage(whole, name, unsafe))
      return ''
    })
  } catch {
    // Unknown placeholders are reported by unknownPlaceholders.
  }
  return problems
}
