import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {type TemplateVars, expandTemplate} from '../../src/config/index.js'
import {InputError} from '../../src/errors.js'

const VARS: TemplateVars = {
  stack: 'access-stack-1',
  target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
  device: {name: 'sw1', host: '10.0.0.11'},
}

describe('expandTemplate', () => {
  it('replaces every placeholder in text mode', () => {
    expect(expandTemplate('{{ stack }} {{ target.version }} {{ target.image }} {{ device.name }} {{ device.host }}', VARS, 'text')).toBe(
      'access-stack-1 17.09.05 cat9k_iosxe.17.09.05.SPA.bin sw1 10.0.0.11',
    )
  })

  it('accepts any whitespace inside the braces, or none', () => {
    expect(expandTemplate('{{target.image}}|{{  device.name\t}}|{{ stack}}', VARS, 'text')).toBe('cat9k_iosxe.17.09.05.SPA.bin|sw1|access-stack-1')
  })

  it('replaces repeated placeholders and leaves other text alone', () => {
    expect(expandTemplate('copy flash:{{ target.image }} flash:{{ target.image }}.bak', VARS, 'text')).toBe(
      'copy flash:cat9k_iosxe.17.09.05.SPA.bin flash:cat9k_iosxe.17.09.05.SPA.bin.bak',
    )
    expect(expandTemplate('show version | include {Version} { {x} }', VARS, 'text')).toBe('show version | include {Version} { {x} }')
    expect(expandTemplate('', VARS, 'text')).toBe('')
  })

  it('escapes the values, and only the values, in regex mode', () => {
    const pattern = expandTemplate('^Version {{ target.version }}\\s', VARS, 'regex')
    expect(pattern).toBe('^Version 17\\.09\\.05\\s')
    expect(new RegExp(pattern, 'm').test('Cisco IOS XE Software, Version 17.09.05\n')).toBe(false)
    expect(new RegExp(pattern, 'm').test('Version 17.09.05 \n')).toBe(true)
    expect(new RegExp(pattern, 'm').test('Version 17x09x05 \n')).toBe(false)
  })

  it('inserts values literally even when they look like replacement patterns', () => {
    const vars = {...VARS, device: {name: "$&$1$'$`", host: '::1'}}
    expect(expandTemplate('name={{ device.name }}', vars, 'text')).toBe("name=$&$1$'$`")
  })

  it('throws InputError PLAYBOOK_INVALID for an unknown placeholder', () => {
    let error: unknown
    try {
      expandTemplate('show {{ device.ip }}', VARS, 'text')
    } catch (e: unknown) {
      error = e
    }
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).code).toBe('PLAYBOOK_INVALID')
    expect((error as InputError).message).toBe(
      'unknown placeholder {{ device.ip }}; known: {{ stack }}, {{ target.version }}, {{ target.image }}, {{ device.name }}, {{ device.host }}, {{ previous.version }}, {{ previous.image }}',
    )
    expect(() => expandTemplate('{{}}', VARS, 'regex')).toThrow(InputError)
  })

  it('regex mode: any value matches itself exactly, with and without the u flag', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (value, other) => {
        const vars = {...VARS, target: {...VARS.target, version: value}}
        const source = `^${expandTemplate('{{ target.version }}', vars, 'regex')}$`
        for (const flags of ['m', 'u']) {
          const re = new RegExp(source, flags)
          expect(re.test(value)).toBe(true)
          if (other !== value && !other.includes('\n') && !value.includes('\n')) expect(re.test(other)).toBe(false)
        }
      }),
    )
  })

  it('text mode is the identity on text without placeholders', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !s.includes('{{')),
        (text) => expandTemplate(text, VARS, 'text') === text && expandTemplate(text, VARS, 'regex') === text,
      ),
    )
  })
})
