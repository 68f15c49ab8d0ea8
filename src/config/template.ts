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
export const PLACEHOLDERS = ['stack', 'target.version', 'target.image', 'device.name', 'device.host', 'previous.version', 'previous.image'] as const
export type PlaceholderName = (typeof PLACEHOLDERS)[number]

/** `{{`, anything but braces, `}}`. Whitespace inside the braces is optional. */
const PLACEHOLDER = /\{\{([^{}]*)\}\}/g

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
 * In `'text'` mode the values are inserted as they are (device commands, gate commands).
 * In `'regex'` mode they are regex-escaped first, so `{{ target.image }}` in an `expect` pattern matches the
 * image name literally (its dots match dots only). Text outside placeholders is never changed.
 *
 * @param text - A command or pattern from the playbook.
 * @param vars - The values for this device.
 * @param mode - `'text'` for commands, `'regex'` for patterns (`expect`, `reject`, `facts.*`, `error_patterns`).
 * @returns The expanded text.
 * @throws InputError (code `PLAYBOOK_INVALID`) when `text` holds an unknown placeholder; the playbook loader
 *   rejects those already, so this only happens for text that did not come through the loader.
 */
export function expandTemplate(text: string, vars: TemplateVars, mode: 'text' | 'regex'): string {
  return text.replace(PLACEHOLDER, (whole: string, inner: string) => {
    const name = inner.trim()
    if (!isPlaceholderName(name)) {
      const message = unknownPlaceholderMessage(whole)
      throw new InputError(message, {code: 'PLAYBOOK_INVALID', problems: [message]})
    }
    const value = valueOf(name, vars)
    return mode === 'regex' ? escapeRegExp(value) : value
  })
}
