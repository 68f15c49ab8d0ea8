/**
 * Help, completion and mistyped commands, through the built CLI (`bin/run.js`, no TTY) and oclif's own view of the
 * commands (`Config.load`): every command has an example, `chainup autocomplete bash` sets up a completion that bash
 * really runs, and `chainup upgarde` suggests `upgrade` and exits 2 without waiting for an answer.
 */
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Config} from '@oclif/core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {notFoundMessage} from '../../src/cli/not-found.js'
import {chainup} from '../helpers/cli.js'
import {ROOT} from '../helpers/lab-stack.js'

let config: Config
let cacheDir: string

beforeAll(async () => {
  config = await Config.load(ROOT)
  // The completion cache goes here, not into the user's ~/.cache.
  cacheDir = mkdtempSync(join(tmpdir(), 'chainup-help-'))
})
afterAll(() => rmSync(cacheDir, {recursive: true, force: true}))

describe('--help', () => {
  it('every command oclif knows has a summary and at least one example (commands added later too)', () => {
    const commands = config.commands.filter((c) => !c.hidden)
    expect(commands.map((c) => c.id)).toEqual(expect.arrayContaining(['upgrade', 'resume', 'history', 'show', 'validate', 'node', 'unlock', 'schema', 'certs:init', 'autocomplete']))
    const withoutExample = commands.filter((c) => (c.examples ?? []).length === 0).map((c) => c.id)
    expect(withoutExample, 'add static examples to these commands').toEqual([])
    const withoutSummary = commands.filter((c) => !(c.summary ?? c.description)).map((c) => c.id)
    expect(withoutSummary).toEqual([])
  })

  it('shows the examples with the binary name filled in', async () => {
    const ours = config.commands.filter((c) => !c.hidden && c.pluginName === 'chainup').map((c) => c.id)
    const runs = await Promise.all(ours.map((id) => chainup([...id.split(':'), '--help'])))
    runs.forEach((run, i) => {
      expect(run.code, ours[i]).toBe(0)
      expect(run.stdout, ours[i]).toMatch(/^EXAMPLES\n {2}\$ chainup \S/m)
      expect(run.stdout).not.toContain('<%=')
    })
  })

  it('chainup --help lists schema and autocomplete', async () => {
    const run = await chainup(['--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^ {2}schema +Print the JSON Schema/m)
    expect(run.stdout).toMatch(/^ {2}autocomplete +/m)
  })
})

describe('shell completion', () => {
  it('chainup autocomplete bash prints the setup', async () => {
    const run = await chainup(['autocomplete', 'bash'], {CHAINUP_CACHE_DIR: cacheDir})
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('Setup Instructions for CHAINUP CLI Autocomplete')
    expect(run.stdout).toContain('printf "$(chainup autocomplete script bash)" >> ~/.bashrc')
  })

  it('the script it installs completes commands, topics and flags in bash', async () => {
    expect((await chainup(['autocomplete', '--refresh-cache'], {CHAINUP_CACHE_DIR: cacheDir})).code).toBe(0)
    const script = await chainup(['autocomplete', 'script', 'bash'], {CHAINUP_CACHE_DIR: cacheDir})
    expect(script.code).toBe(0)
    expect(script.stdout).toContain(`CHAINUP_AC_BASH_SETUP_PATH=${join(cacheDir, 'autocomplete/bash_setup')}`)
    const complete = (...words: string[]) =>
      execFileSync('bash', ['-c', `${script.stdout.trim()}\nCOMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; _chainup_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`, 'bash', ...words], {encoding: 'utf8'})
        .trim()
        .split('\n')
    expect(complete('chainup', 'upg')).toEqual(['upgrade'])
    expect(complete('chainup', 'schem')).toEqual(['schema'])
    expect(complete('chainup', 'certs', 'i')).toEqual(['init'])
    expect(complete('chainup', 'upgrade', '--la')).toEqual(['--lab'])
  })
})

describe('a mistyped command', () => {
  it('chainup upgarde suggests upgrade and exits 2 at once, without a prompt', async () => {
    const started = Date.now()
    // stdin is a pipe nobody writes to: a prompt would wait until the timeout.
    const run = await chainup(['upgarde', 'inventories/lab.yml', '--lab'], {}, 20_000)
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('chainup: "upgarde" is not a chainup command. Did you mean upgrade?')
    expect(run.stderr).toContain('Run chainup --help for a list of commands.')
    expect(run.stderr).not.toMatch(/\(Y\/n\)/)
    expect(run.stdout).toBe('')
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it('suggests a command under a topic, and nothing for a word that is close to none', async () => {
    const topic = await chainup(['certs', 'innit', 'pki'])
    expect(topic.code).toBe(2)
    expect(topic.stderr).toContain('"certs innit" is not a chainup command. Did you mean certs init?')
    const far = await chainup(['xyzzy'])
    expect(far.code).toBe(2)
    expect(far.stderr).toContain('"xyzzy" is not a chainup command.')
    expect(far.stderr).not.toContain('Did you mean')
  })

  it('chainup help [COMMAND] shows the help (there is no help command, only the flag); an unknown one exits 2 with a suggestion', async () => {
    const [root, command, topic, typo] = await Promise.all([chainup(['help']), chainup(['help', 'certs', 'init']), chainup(['help', 'certs']), chainup(['help', 'upgarde'])])
    expect(root.code).toBe(0)
    expect(root.stdout).toMatch(/^COMMANDS$/m)
    expect(command.code).toBe(0)
    expect(command.stdout).toContain('$ chainup certs init DIR --inventory')
    expect(topic.code).toBe(0)
    expect(topic.stdout).toContain('$ chainup certs COMMAND')
    expect(typo.code).toBe(2)
    expect(typo.stderr).toContain('chainup: no help for "upgarde". Did you mean chainup upgrade --help?')
  })

  it('notFoundMessage: compares each command with as many words as it has, never a hidden one', () => {
    const fake = {
      bin: 'chainup',
      topicSeparator: ' ',
      commandIDs: ['upgrade', 'unlock', 'certs:init', 'secret:thing'],
      commands: [{id: 'secret:thing', hidden: true, aliases: []}, {id: 'upgrade', hidden: false, aliases: ['up']}],
    } as unknown as Parameters<typeof notFoundMessage>[1]
    expect(notFoundMessage('unlokc:stack-1', fake)).toBe('chainup: "unlokc" is not a chainup command. Did you mean unlock?\nRun chainup --help for a list of commands.')
    expect(notFoundMessage('help:unlokc', fake)).toBe('chainup: no help for "unlokc". Did you mean chainup unlock --help?')
    expect(notFoundMessage('certs:inti', fake)).toContain('"certs inti" is not a chainup command. Did you mean certs init?')
    expect(notFoundMessage('secret:thinq', fake)).not.toContain('Did you mean')
    expect(notFoundMessage('uq', fake)).toContain('Did you mean up?')
  })
})
