/**
 * The events hash chain (docs/journal.md "Hash chain"): each row's hash is
 * `sha256(prev_hash ‖ canonical JSON of the row's content fields)`, hex, over UTF-8 bytes.
 */
import {createHash} from 'node:crypto'

import type {HashedEventContent, Json} from './types.js'

/** `prev_hash` of the first event in a journal: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64)

/**
 * JSON with object keys sorted (by UTF-16 code units, as `Array.prototype.sort`) at every depth and no whitespace.
 * Numbers and strings are written as `JSON.stringify` writes them. Input must already be {@link Json}
 * (finite numbers, no `undefined`); `redact()` guarantees that.
 */
export function canonicalJson(value: Json): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  const keys = Object.keys(value).sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as Json)}`).join(',')}}`
}

export type {HashedEventContent} from './types.js'

/** The exact string whose UTF-8 bytes are hashed for one event row. */
export function hashInput(prevHash: string, content: HashedEventContent): string {
  const {seq, run_id, operation_run_id, at, type, device, data} = content
  return prevHash + canonicalJson({at, data, device, operation_run_id, run_id, seq, type})
}

/** SHA-256 of {@link hashInput}, 64 lowercase hex digits. */
export function eventHash(prevHash: string, content: HashedEventContent): string {
  return createHash('sha256').update(hashInput(prevHash, content), 'utf8').digest('hex')
}
