/** Small helpers for device output quoted in messages, and for text that reaches a terminal, a log or a gate. */

/**
 * Characters that must never reach a terminal or a log line raw: the C0 controls (tab, LF and CR included, so a
 * device cannot start a line of its own or overwrite one), DEL, the C1 controls U+0080–U+009F (U+009B is a
 * one-character CSI, U+009D an OSC), the Unicode line and paragraph separators, and the bidirectional-text controls
 * that reorder what a terminal shows. Escaping ESC (0x1b) defuses every ANSI/VT sequence, OSC included: what follows it
 * is printable text.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

const UNSAFE_ONE = new RegExp(UNSAFE.source)

const SHORT: Record<string, string> = {'\t': '\\t', '\n': '\\n', '\r': '\\r'}

/**
 * `text` with every unsafe character (see {@link UNSAFE}: C0 and C1 controls, DEL, line separators, bidi controls)
 * escaped visibly: `\t`, `\n`, `\r`, `\xNN` (e.g. ESC → `\x1b`, CSI → `\x9b`), `\uNNNN`. The result is one line of
 * printable text; everything else (printable ASCII, other Unicode) is kept. Idempotent on its own output.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const short = SHORT[c]
    if (short) return short
    const code = c.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`
  })
}

/** What JSON.stringify leaves raw of {@link UNSAFE}: DEL, the C1 controls, the line separators and the bidi controls. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/**
 * `JSON.stringify(value, null, indent)` with every character a terminal could act on written as a `\uNNNN` escape:
 * JSON.stringify escapes the C0 controls (ESC included) but leaves DEL, the C1 controls (U+009B is a one-character
 * CSI), the line separators and the bidi controls raw. The output parses back (JSON.parse) to the same value; it is
 * what chainup prints for `--json` and writes to result files, where device output is quoted.
 */
export function terminalJson(value: unknown, indent = 2): string {
  return JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Whether `text` holds a character {@link printable} would escape. */
export function hasUnsafeCharacters(text: string): boolean {
  return UNSAFE_ONE.test(text)
}

/** The line of `text` that contains offset `index`, trimmed, at most 160 characters, made {@link printable}. */
export function lineAt(text: string, index: number): string {
  const start = text.lastIndexOf('\n', index) + 1
  const end = text.indexOf('\n', index)
  return printable(text.slice(start, end === -1 ? undefined : end).trim().slice(0, 160))
}

/** The first two lines of `text` (LF or CRLF), joined with " / ", at most 200 characters, made {@link printable}. */
export function firstLines(text: string): string {
  return printable(text.trim().split(/\r?\n/).slice(0, 2).join(' / ').slice(0, 200))
}

/** `text` with every occurrence of a secret (4 characters or longer) replaced by `[redacted]`, as the journal does. */
export function withoutSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text
  for (const s of secrets) if (s !== undefined && s.length >= 4 && out.includes(s)) out = out.split(s).join('[redacted]')
  return out
}

/** An error's message, or the thrown value as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
