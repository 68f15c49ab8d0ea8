/** Tokens file, bearer header, roles; --listen and TLS rules; inventory names (src/serve/auth.ts, listen.ts, inventories.ts). */
import {mkdirSync, mkdtempSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {InputError} from '../../src/errors.js'
import {allows, bearerToken, tokenHash, TokenTable} from '../../src/serve/auth.js'
import {listInventories, resolveInventory} from '../../src/serve/inventories.js'
import {checkListen, parseListen} from '../../src/serve/listen.js'

describe('tokens file', () => {
  it('finds a token by its sha256 and knows its role', () => {
    expect(tokenHash('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    const t = TokenTable.parse(`# who\nalice operator ${tokenHash('s3cret-one')}\n\nbob viewer ${tokenHash('s3cret-two')}  # read only\n`, 'tokens')
    expect(t.lookup('s3cret-one')).toEqual({name: 'alice', role: 'operator'})
    expect(t.lookup('s3cret-two')).toEqual({name: 'bob', role: 'viewer'})
    expect(t.lookup('s3cret-three')).toBeNull()
  })

  it('refuses bad lines with FILE:LINE', () => {
    const bad = () => TokenTable.parse(`alice admin ${tokenHash('x')}\nbob viewer 1234\ncarol operator\nalice viewer ${tokenHash('y')}\n`, 'tokens')
    expect(bad).toThrow(InputError)
    try {
      bad()
    } catch (error) {
      expect((error as InputError).problems).toEqual([
        'tokens:1: role must be viewer or operator, not "admin"',
        'tokens:2: the token hash must be 64 hex digits (printf %s "$TOKEN" | sha256sum)',
        'tokens:3: expected "NAME ROLE SHA256-HEX", got 2 fields',
      ])
    }
    expect(() => TokenTable.parse('# nothing\n', 'tokens')).toThrow(/no tokens/)
  })

  it('reads the bearer header and compares roles', () => {
    expect(bearerToken('Bearer abc.DEF-123')).toBe('abc.DEF-123')
    expect(bearerToken('bearer abc')).toBe('abc')
    expect(bearerToken('Basic abc')).toBeNull()
    expect(bearerToken(undefined)).toBeNull()
    expect(allows('viewer', 'viewer')).toBe(true)
    expect(allows('viewer', 'operator')).toBe(false)
    expect(allows('operator', 'operator')).toBe(true)
  })
})

describe('--listen', () => {
  it('parses HOST:PORT, [V6]:PORT, :PORT', () => {
    expect(parseListen('127.0.0.1:8080')).toEqual({host: '127.0.0.1', port: 8080})
    expect(parseListen('[::1]:9000')).toEqual({host: '::1', port: 9000})
    expect(parseListen(':0')).toEqual({host: '127.0.0.1', port: 0})
    expect(() => parseListen('8080')).toThrow(/HOST:PORT/)
    expect(() => parseListen('host:99999')).toThrow(/HOST:PORT/)
  })

  it('refuses plain HTTP off loopback unless --insecure-http or TLS', () => {
    expect(() => checkListen({host: '0.0.0.0', port: 8080}, {}, false)).toThrow(/not a loopback address/)
    expect(() => checkListen({host: '0.0.0.0', port: 8080}, {}, true)).not.toThrow()
    expect(() => checkListen({host: '0.0.0.0', port: 8080}, {cert: 'c', key: 'k'}, false)).not.toThrow()
    expect(() => checkListen({host: '127.0.0.1', port: 8080}, {}, false)).not.toThrow()
    expect(() => checkListen({host: 'localhost', port: 8080}, {cert: 'c'}, false)).toThrow(/go together/)
  })
})

describe('inventories by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-inv-'))
  mkdirSync(join(dir, 'inventories'))
  writeFileSync(join(dir, 'inventories', 'a.yml'), 'x')
  writeFileSync(join(dir, 'inventories', 'b.yaml'), 'x')
  writeFileSync(join(dir, 'secret.yml'), 'x')
  symlinkSync(join(dir, 'secret.yml'), join(dir, 'inventories', 'link.yml'))
  mkdirSync(join(dir, 'inventories', 'sub.yml'))
  const inv = join(dir, 'inventories')

  it('resolves plain names with or without the extension', () => {
    expect(resolveInventory(inv, 'a')).toMatch(/inventories\/a\.yml$/)
    expect(resolveInventory(inv, 'a.yml')).toMatch(/inventories\/a\.yml$/)
    expect(resolveInventory(inv, 'b')).toMatch(/inventories\/b\.yaml$/)
    expect(listInventories(inv)).toEqual(['a', 'b'])
  })

  it.each(['../secret', '../secret.yml', '/etc/passwd', 'a/../a', '..', '.', '', 'a\0', 'link', 'sub', '%2e%2e%2fsecret'])('refuses %j', (name) => {
    expect(() => resolveInventory(inv, name)).toThrow(InputError)
  })
})
