/** util/text.ts: device text made safe for a terminal, a log line and a gate (issue #8 §2). */
import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {firstLines, hasUnsafeCharacters, lineAt, printable, terminalJson, withoutSecrets} from '../../src/util/text.js'

describe('printable', () => {
  it('escapes C0 controls, DEL, C1 controls (8-bit CSI/OSC), line separators and bidi controls visibly', () => {
    expect(printable('a\x1b[2Jb')).toBe('a\\x1b[2Jb')
    expect(printable('\x1b]0;owned\x07')).toBe('\\x1b]0;owned\\x07')
    expect(printable('x\x9b31m\x9d0;t\x9c')).toBe('x\\x9b31m\\x9d0;t\\x9c')
    expect(printable('tab\there\r\nnext\x00\x7f')).toBe('tab\\there\\r\\nnext\\x00\\x7f')
    expect(printable('a\u2028b\u202ec\u2066d')).toBe('a\\u2028b\\u202ec\\u2066d')
  })

  it('keeps printable ASCII and other Unicode as they are', () => {
    expect(printable('Version 17.06.05 — café ✓ 日本')).toBe('Version 17.06.05 — café ✓ 日本')
  })

  it('leaves nothing a terminal would interpret, and is idempotent', () => {
    fc.assert(
      fc.property(fc.string({unit: 'binary'}), (text) => {
        const out = printable(text)
        expect(out).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/)
        expect(hasUnsafeCharacters(out)).toBe(false)
        expect(printable(out)).toBe(out)
      }),
    )
    expect(hasUnsafeCharacters('ok')).toBe(false)
    expect(hasUnsafeCharacters('\x1b')).toBe(true)
  })
})

describe('device output quoted in messages', () => {
  it('lineAt and firstLines quote device lines escaped, and drop the CR of CRLF line ends', () => {
    const out = "% Invalid input detected at '^' marker.\x1b[31m\x07\r\x1b[2Kall good\r\nnext\r\n"
    expect(lineAt(out, 0)).toBe("% Invalid input detected at '^' marker.\\x1b[31m\\x07\\r\\x1b[2Kall good")
    expect(firstLines('%Error opening flash:/x\r\nsecond\r\nthird\r\n')).toBe('%Error opening flash:/x / second')
    expect(firstLines('\x1b]0;t\x07\nb')).toBe('\\x1b]0;t\\x07 / b')
  })
})

describe('withoutSecrets', () => {
  it('redacts every occurrence of each secret of 4 characters or more', () => {
    expect(withoutSecrets('pw hunter2 and hunter2, key abc', ['hunter2', 'abc', undefined])).toBe('pw [redacted] and [redacted], key abc')
  })
})

describe('terminalJson', () => {
  it('escapes what JSON.stringify leaves raw (DEL, C1 such as the one-character CSI, line separators, bidi controls) and parses back to the same value', () => {
    const value = {output: 'a\x7fb\x9b31mc\x9d0;x\x07\u2028\u202e\u2066d', ok: 'Version 17.09.05 – ü', n: 3}
    const text = terminalJson(value)
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u202e\u2066]/)
    expect(text).toContain('\\u009b31m')
    expect(text).toContain('\\u202e')
    expect(text).toContain('– ü')
    expect(JSON.parse(text)).toEqual(value)
  })
})
