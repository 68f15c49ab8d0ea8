/**
 * `chainup serve --tokens FILE`: bearer tokens (RFC 6750) and their roles. The file holds one token a line as
 * `NAME ROLE SHA256-HEX`, where the hash is the lowercase hex SHA-256 of the token itself (make one with
 * `printf %s "$TOKEN" | sha256sum`); `#` starts a comment, blank lines are ignored. Only hashes are stored, so the
 * file does not hold a usable secret. Roles: `viewer` reads (history, executions, events, plan without `check`,
 * metrics, the page), `operator` also changes (execute, cancel, resume, plan with `check`: it contacts devices).
 */
import {createHash, timingSafeEqual} from 'node:crypto'
import {readFileSync} from 'node:fs'

import {InputError} from '../errors.js'

/** What a token may do: `viewer` reads, `operator` also starts, cancels and resumes runs. */
export const Role = {
  /** Read-only: history, executions, their events and trees, plans without `check`, metrics. */
  viewer: 'viewer',
  /** Everything a viewer does, and every request that changes something or contacts a device. */
  operator: 'operator',
} as const
export type Role = (typeof Role)[keyof typeof Role]

/** The caller of a request: the token's name (journaled with every change) and its role. */
export interface Caller {
  name: string
  role: Role
}

interface TokenEntry extends Caller {
  hash: Buffer
}

/** Lowercase hex SHA-256 of a token, as the tokens file stores it. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** The tokens of a `--tokens` file, checked in constant time per entry. */
export class TokenTable {
  private constructor(private readonly entries: readonly TokenEntry[]) {}

  /**
   * Parses a tokens file's text.
   * @throws InputError (exit 2, `TOKENS_INVALID`) with `FILE:LINE: MESSAGE` problems for a bad line, an unknown role,
   *   a hash that is not 64 hex digits, or a name or hash given twice
   */
  static parse(text: string, file: string): TokenTable {
    const problems: string[] = []
    const entries: TokenEntry[] = []
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.replace(/#.*$/, '').trim()
      if (line === '') return
      const at = `${file}:${i + 1}`
      const fields = line.split(/\s+/)
      if (fields.length !== 3) return problems.push(`${at}: expected "NAME ROLE SHA256-HEX", got ${fields.length} field${fields.length === 1 ? '' : 's'}`)
      const [name, role, hash] = fields as [string, string, string]
      if (role !== 'viewer' && role !== 'operator') return problems.push(`${at}: role must be viewer or operator, not "${role}"`)
      if (!/^[0-9a-fA-F]{64}$/.test(hash)) return problems.push(`${at}: the token hash must be 64 hex digits (printf %s "$TOKEN" | sha256sum)`)
      if (entries.some((e) => e.name === name)) return problems.push(`${at}: token name "${name}" appears twice`)
      const bytes = Buffer.from(hash, 'hex')
      if (entries.some((e) => e.hash.equals(bytes))) return problems.push(`${at}: the same token hash appears twice`)
      entries.push({name, role, hash: bytes})
    })
    if (problems.length > 0) throw new InputError(`${file}: bad tokens file`, {code: 'TOKENS_INVALID', problems, hint: 'one "NAME ROLE SHA256-HEX" a line; docs/api.md "Auth"'})
    if (entries.length === 0) throw new InputError(`${file}: no tokens`, {code: 'TOKENS_INVALID', hint: 'one "NAME ROLE SHA256-HEX" a line; docs/api.md "Auth"'})
    return new TokenTable(entries)
  }

  /** @throws InputError (exit 2) when the file cannot be read or is bad ({@link TokenTable.parse}) */
  static load(file: string): TokenTable {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      throw new InputError(`--tokens ${file}: cannot read: ${(error as Error).message}`, {code: 'TOKENS_INVALID'})
    }
    return TokenTable.parse(text, file)
  }

  /** The caller a bearer token belongs to, or null. Compares every entry (no early exit on a match). */
  lookup(token: string): Caller | null {
    const hash = createHash('sha256').update(token, 'utf8').digest()
    let found: Caller | null = null
    for (const e of this.entries) if (timingSafeEqual(e.hash, hash) && found === null) found = {name: e.name, role: e.role}
    return found
  }
}

/** The bearer token of an `Authorization` header (RFC 6750 §2.1), or null. */
export function bearerToken(header: string | undefined): string | null {
  const m = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(header ?? '')
  return m ? (m[1] as string) : null
}

/** Whether `role` may do what needs `needed` (an operator may do what a viewer may). */
export function allows(role: Role, needed: Role): boolean {
  return needed === 'viewer' || role === 'operator'
}
