/** The playbook fields of interactive sessions: `session`, `prompt`, `pager` (top level), a step's `session` and `answers`. */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadPlaybook} from '../../src/config/index.js'
import {InputError} from '../../src/errors.js'

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-playbook-session-'))
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const BASE = `name: t
facts: {command: show version, version: 'Version (?<version>\\S+)'}
`

async function load(text: string) {
  const file = join(dir, `p${Math.random().toString(36).slice(2)}.yml`)
  writeFileSync(file, text)
  return loadPlaybook(file)
}

async function problems(text: string): Promise<string[]> {
  const error = await load(text).then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof InputError)) throw new Error('expected an InputError')
  return error.problems.map((p) => p.replace(/^[^:]+:/, ''))
}

describe('playbook session fields', () => {
  it('loads session, prompt and pager, and a step session with answers', async () => {
    const playbook = await load(`${BASE}session: interactive
prompt: '^[\\w.-]+[>#] ?$'
pager: terminal length 0
upgrade:
  - name: install
    command: install all nxos bootflash:{{ target.image }}
    session: interactive
    answers:
      - { prompt: '\\(y/n\\)\\?', send: 'y' }
      - { prompt: '\\[confirm\\]', send: '' }
    reload: true
  - { name: verify, command: show version, session: exec, expect: 'Version {{ target.version }}' }
`)
    expect(playbook.session).toBe('interactive')
    expect(playbook.prompt).toBe('^[\\w.-]+[>#] ?$')
    expect(playbook.pager).toBe('terminal length 0')
    expect(playbook.upgrade[0]!.answers).toEqual([
      {prompt: '\\(y/n\\)\\?', send: 'y'},
      {prompt: '\\[confirm\\]', send: ''},
    ])
    expect(playbook.upgrade[0]!.session).toBe('interactive')
    expect(playbook.upgrade[1]!.session).toBe('exec')
  })

  it('leaves them out when not written (exec is the default)', async () => {
    const playbook = await load(`${BASE}upgrade: [{name: a, command: reload, reload: true}]\n`)
    expect(playbook.session).toBeUndefined()
    expect(playbook.prompt).toBeUndefined()
    expect(playbook.pager).toBeUndefined()
    expect(playbook.upgrade[0]!.answers).toBeUndefined()
  })

  it('refuses an unknown mode, a broken prompt or answer pattern, an answer without send, and unknown answer fields', async () => {
    const found = await problems(`${BASE}session: pty
prompt: '[unclosed'
upgrade:
  - name: a
    command: x
    session: shell
    answers:
      - { prompt: '(y/n' , send: 'y' }
      - { prompt: 'ok' }
      - { prompt: 'ok', send: 'y', times: 2 }
`)
    expect(found.join('\n')).toMatch(/session: expected "exec" or "interactive", got "pty"/)
    expect(found.join('\n')).toMatch(/prompt: invalid regular expression/)
    expect(found.join('\n')).toMatch(/upgrade\[0\]\.session: expected "exec" or "interactive", got "shell"/)
    expect(found.join('\n')).toMatch(/upgrade\[0\]\.answers\[0\]\.prompt: invalid regular expression/)
    expect(found.join('\n')).toMatch(/upgrade\[0\]\.answers\[1\]/)
    expect(found.join('\n')).toMatch(/upgrade\[0\]\.answers\[2\]\.times/)
  })

  it('every shipped vendor playbook loads, names its platform and carries the schema line', async () => {
    const {readFileSync} = await import('node:fs')
    const {ROOT} = await import('../helpers/lab-stack.js')
    for (const name of ['eos', 'junos', 'nxos', 'sonic']) {
      const file = join(ROOT, 'playbooks', `${name}.yml`)
      expect(readFileSync(file, 'utf8').split('\n')[0]).toBe('# yaml-language-server: $schema=../schemas/playbook.schema.json')
      const playbook = await loadPlaybook(file)
      expect(playbook.platform).toBe(name)
      expect(playbook.upgrade.filter((s) => s.reload).length).toBeGreaterThanOrEqual(1)
      expect(playbook.upgrade.some((s) => s.compensate)).toBe(true)
    }
  })
})
