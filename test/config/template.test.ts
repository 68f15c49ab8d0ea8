import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import {type TemplateVars, expandTemplate} from '../../src/config/index.js'
import {PLACEHOLDER_ENV, PLACEHOLDERS, shellQuote, unquotablePlaceholders} from '../../src/config/template.js'
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
      'unknown placeholder {{ device.ip }}; known: {{ stack }}, {{ target.version }}, {{ target.image }}, {{ target.md5 }}, {{ target.sha512 }}, {{ device.name }}, {{ device.host }}, {{ previous.version }}, {{ previous.image }}',
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

/** Shells a `run:` line may meet: /bin/sh (dash on Debian), and bash (/bin/sh on macOS and RHEL), also in POSIX mode. */
const SHELLS: string[][] = [['/bin/sh', '-c'], ...(existsSync('/bin/bash') ? [['/bin/bash', '-c'], ['/bin/bash', '--posix', '-c']] : [])]

/** Runs a command line in an empty directory; returns stdout and the files the command left there. */
function sh(shell: string[], line: string): {stdout: string; files: string[]; status: number | null} {
  const cwd = mkdtempSync(join(tmpdir(), 'chainup-shell-'))
  const r = spawnSync(shell[0]!, [...shell.slice(1), line], {cwd, encoding: 'utf8'})
  return {stdout: r.stdout, files: readdirSync(cwd), status: r.status}
}

const HOSTILE_VERSIONS = ['17.06.05;touch${IFS}pwned', '$(touch pwned)', '`touch pwned`', "it's'; touch pwned; echo '", '17.06.05\ntouch pwned', 'a"b\\"; touch pwned; "', '-n', '*', '']
const withPrevious = (version: string): TemplateVars => ({...VARS, previous: {version, image: `cat9k_iosxe.${version}.SPA.bin`}})

describe("expandTemplate 'shell' mode (a gate's run: line, issue #8 §2)", () => {
  it('single-quotes each value outside quotes, so a hostile version is one literal argument', () => {
    expect(expandTemplate('echo {{ previous.version }}', withPrevious('17.06.05;touch${IFS}pwned'), 'shell')).toBe("echo '17.06.05;touch${IFS}pwned'")
    expect(expandTemplate('echo {{ previous.version }}', withPrevious('$(id)'), 'shell')).toBe("echo '$(id)'")
    expect(expandTemplate('echo {{ previous.version }}', withPrevious("it's"), 'shell')).toBe("echo 'it'\\''s'")
    expect(expandTemplate('notify {{ device.name }} {{ target.version }}', VARS, 'shell')).toBe("notify 'sw1' '17.09.05'")
    expect(shellQuote('')).toBe("''")
  })

  it('inside single or double quotes the value stays literal too (the quotes are closed around it)', () => {
    const vars = withPrevious("$(id)'x")
    expect(expandTemplate("echo 'v={{ previous.version }}!'", vars, 'shell')).toBe("echo 'v=$(id)'\\''x!'")
    expect(expandTemplate('echo "v={{ previous.version }}!"', vars, 'shell')).toBe(`echo "v="'$(id)'\\''x'"!"`)
  })

  it.each(SHELLS.map((s) => [s.join(' '), s]))('%s runs every hostile value as text: the command prints it and creates no file', (_name, shell) => {
    for (const version of HOSTILE_VERSIONS) {
      for (const template of ["printf '[%s]' {{ previous.version }}", "printf '[%s]' 'v={{ previous.version }}'", `printf '[%s]' "v={{ previous.version }}" `, `x=$(printf '%s' {{ previous.version }})x; printf '[%s]' "$x"`]) {
        const line = expandTemplate(template, withPrevious(version), 'shell')
        const r = sh(shell, line)
        const expected = template.includes('v=') ? `[v=${version}]` : template.includes('$(') ? `[${version.replace(/\n+$/, '')}x]` : `[${version}]`
        expect({line, stdout: r.stdout, files: r.files}).toEqual({line, stdout: expected, files: []})
      }
    }
  })

  it.each(SHELLS.map((s) => [s.join(' '), s]))('%s: any value (no NUL) passes through a run: line unchanged, in every kind of quoting', (_name, shell) => {
    fc.assert(
      fc.property(fc.string({unit: 'binary'}).filter((v) => !v.includes('\0')), (value) => {
        const vars = withPrevious(value)
        const line = expandTemplate(`printf '%s|' {{ previous.version }} '{{ previous.version }}' "{{ previous.version }}"`, vars, 'shell')
        const r = sh(shell, line)
        expect(r.files).toEqual([])
        expect(r.stdout).toBe(`${value}|${value}|${value}|`)
      }),
      {numRuns: 40},
    )
  })

  it.each(SHELLS.map((s) => [s.join(' '), s]))(
    '%s: in a random run: line a placeholder is either refused or cannot break out of its quoting',
    (_name, shell) => {
      // Values that run `touch pwned…` from any quoting they break out of: plain, '…', "…", backquotes, a new line.
      const attacks = [
        `;touch pwned1;'touch pwned2;'";touch pwned3;"$(touch pwned4)\`touch pwned5\``,
        `\ntouch pwned6\n'\ntouch pwned7\n'"\ntouch pwned8\n"\ntouch pwned9\n`,
        `\\'\\"\\\ntouch pwned10\n`,
      ]
      const token = fc.constantFrom("'", '"', '\\', '$', '(', ')', '{', '}', '`', '#', '<', '<<', ' ', ';', 'a', '\n', '${HOME}', '$(', '{{ previous.version }}')
      fc.assert(
        fc.property(fc.array(token, {maxLength: 14}), fc.constantFrom(...attacks), (tokens, attack) => {
          const template = ['{{ previous.version }}', ...tokens].join('')
          let line: string
          try {
            line = expandTemplate(template, withPrevious(attack), 'shell')
          } catch {
            return // refused: the gate vetoes, nothing runs
          }
          const cwd = mkdtempSync(join(tmpdir(), 'chainup-shell-'))
          spawnSync(shell[0]!, [...shell.slice(1), line], {cwd, timeout: 5000, stdio: 'ignore'})
          expect(readdirSync(cwd), JSON.stringify(line)).toEqual([])
        }),
        {numRuns: 150},
      )
    },
  )

  it('refuses a placeholder where the quoting cannot be followed, naming the variable to use instead', () => {
    const vars = withPrevious('17.06.05')
    for (const [template, why] of [
      ['echo `echo {{ previous.version }}`', 'a backquote'],
      ['echo "$(echo {{ previous.version }})"', '$(…) inside double quotes'],
      ['echo "${X:-{{ previous.version }}}"', '${…} inside double quotes'],
      ['echo # {{ previous.version }}', 'a # outside quotes'],
      ["echo $'{{ previous.version }}'", "$'…' quoting"],
      ['cat <<EOF\n{{ previous.version }}\nEOF', 'a here-document'],
      ['echo \\{{ previous.version }}', 'a backslash'],
      ['echo ${{ previous.version }}', 'a $'],
    ]) {
      expect(() => expandTemplate(template!, vars, 'shell'), template).toThrow(why!)
      expect(() => expandTemplate(template!, vars, 'shell'), template).toThrow('use "$CHAINUP_PREVIOUS_VERSION" instead')
      expect(unquotablePlaceholders(template!), template).toHaveLength(1)
    }
    // Placeholders before such a construct, and constructs whose quoting is followed, are fine.
    expect(expandTemplate('echo {{ device.name }} `date` # done', VARS, 'shell')).toBe("echo 'sw1' `date` # done")
    expect(expandTemplate('echo "${HOME}/{{ device.name }}" $(echo {{ device.name }}) \\# \'#\' "#"', VARS, 'shell')).toBe(
      `echo "\${HOME}/"'sw1'"" $(echo 'sw1') \\# '#' "#"`,
    )
    expect(unquotablePlaceholders('echo {{ device.name }} "{{ stack }}"')).toEqual([])
  })

  it('still refuses unknown placeholders, and leaves text without placeholders alone', () => {
    expect(() => expandTemplate('echo {{ device.ip }}', VARS, 'shell')).toThrow(/unknown placeholder \{\{ device\.ip \}\}/)
    fc.assert(fc.property(fc.string().filter((s) => !s.includes('{{')), (text) => expandTemplate(text, VARS, 'shell') === text))
  })

  it('names one environment variable per placeholder', () => {
    expect(PLACEHOLDERS.map((p) => PLACEHOLDER_ENV[p])).toEqual([
      'CHAINUP_STACK',
      'CHAINUP_TARGET_VERSION',
      'CHAINUP_TARGET_IMAGE',
      'CHAINUP_TARGET_MD5',
      'CHAINUP_TARGET_SHA512',
      'CHAINUP_DEVICE',
      'CHAINUP_DEVICE_HOST',
      'CHAINUP_PREVIOUS_VERSION',
      'CHAINUP_PREVIOUS_IMAGE',
    ])
  })
})

describe('{{ target.md5 }} and {{ target.sha512 }} (image staging)', () => {
  const md5 = '0123456789abcdef0123456789abcdef'
  const withDigests: TemplateVars = {...VARS, target: {...VARS.target, md5, sha512: 'ab'.repeat(64)}}

  it('inserts the digests in commands and patterns', () => {
    expect(expandTemplate('verify /md5 flash:{{ target.image }} {{ target.md5 }}', withDigests, 'text')).toBe(`verify /md5 flash:cat9k_iosxe.17.09.05.SPA.bin ${md5}`)
    expect(expandTemplate('= {{target.sha512}}', withDigests, 'regex')).toBe(`= ${'ab'.repeat(64)}`)
  })

  it('says how to get them when they are not known', () => {
    expect(() => expandTemplate('{{ target.md5 }}', VARS, 'text')).toThrow('{{ target.md5 }} is not known: set target.image_file (its digests are computed) or target.md5 in the inventory')
    expect(() => expandTemplate('{{ target.sha512 }}', VARS, 'regex')).toThrow('or target.sha512 in the inventory')
  })
})
