/**
 * Defence in depth against secrets in the journal (docs/journal.md "Secrets"). The guarantee is that callers never
 * pass secrets; this catches the mistakes: it drops object keys named like secrets, drops raw bytes (key material),
 * blanks PEM private-key blocks and any value registered with `openJournal(..., {secrets})`, and turns the
 * rest into plain {@link Json}.
 */
import type {Json} from './types.js'

/** Key names (lower-cased, without `_`, `-`, `.` and spaces) that are dropped wherever they appear. */
const SECRET_KEY_PARTS = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'community',
  'privatekey',
  'privkey',
  'authkey',
  'authpass',
  'privpass',
  'psk',
  'token',
  'credential',
  'apikey',
  'keymaterial',
]
const SECRET_KEY_EXACT = new Set(['key', 'pass', 'pwd'])

/**
 * Whether an object key is dropped by {@link redact}: names like password, passphrase, secret, community, token,
 * psk, credential; and any name ending in "key"/"keys" (key material) except public and host keys.
 */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_.\s]/g, '')
  if (SECRET_KEY_EXACT.has(k) || SECRET_KEY_PARTS.some((p) => k.includes(p))) return true
  return /keys?$/.test(k) && !k.includes('public') && !k.includes('host')
}

const PEM_PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g

/** Text to store in place of a removed secret inside a string. */
export const REDACTED = '[redacted]'

/** Blanks PEM private-key blocks and every occurrence of the given secret values (4 characters or longer). */
export function redactString(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(PEM_PRIVATE_KEY, REDACTED)
  for (const s of secrets) if (s.length >= 4 && out.includes(s)) out = out.split(s).join(REDACTED)
  return out
}

/**
 * A JSON copy of `value` safe to store: keys named like secrets (see {@link isSecretKey}) and `Uint8Array`/`Buffer`
 * values are dropped; strings go through {@link redactString}; `toJSON()` is honoured (objects that hide secrets
 * that way stay hidden); `undefined`, functions and symbols are dropped (as in arrays: written as null); non-finite
 * numbers become null, bigints strings, cycles `"[circular]"`.
 */
export function redact(value: unknown, secrets: readonly string[] = []): Json {
  const seen = new Set<object>()
  const walk = (v: unknown): Json | undefined => {
    if (v === null) return null
    switch (typeof v) {
      case 'string':
        return redactString(v, secrets)
      case 'number':
        return Number.isFinite(v) ? v : null
      case 'boolean':
        return v
      case 'bigint':
        return v.toString()
      case 'object':
        break
      default:
        return undefined
    }
    const obj = v as object
    if (obj instanceof Uint8Array || obj instanceof ArrayBuffer) return undefined
    if (seen.has(obj)) return '[circular]'
    seen.add(obj)
    try {
      if (typeof (obj as {toJSON?: unknown}).toJSON === 'function') return walk((obj as {toJSON: () => unknown}).toJSON())
      if (obj instanceof Error) return {name: obj.name, message: redactString(obj.message, secrets)}
      if (Array.isArray(obj)) return obj.map((item) => walk(item) ?? null)
      if (obj instanceof Map) return walk(Object.fromEntries(obj))
      if (obj instanceof Set) return walk([...obj])
      const out: {[key: string]: Json} = {}
      for (const [k, item] of Object.entries(obj)) {
        if (isSecretKey(k)) continue
        const r = walk(item)
        if (r !== undefined) out[k] = r
      }
      return out
    } finally {
      seen.delete(obj)
    }
  }
  return walk(value) ?? null
}
