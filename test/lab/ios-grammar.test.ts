import {describe, expect, it} from 'vitest'

import {
  type GrammarRule,
  type IosCommand,
  isOutputCommand,
  matchCommand,
  parseFilter,
  parseLine,
  splitPipe,
} from '../../src/lab/ios-grammar.js'

const IMAGE = 'flash:cat9k_iosxe.17.09.05.SPA.bin'

/** The command of a line that must parse. */
function commandOf(line: string): IosCommand {
  const p = parseLine(line)
  if (p.kind !== 'ok') throw new Error(`${JSON.stringify(line)} did not parse: ${JSON.stringify(p)}`)
  return p.command
}

/** The error of a line that must be refused. */
function errorOf(line: string): unknown {
  const p = parseLine(line)
  if (p.kind !== 'error') throw new Error(`${JSON.stringify(line)} was not refused: ${JSON.stringify(p)}`)
  return p.error
}

/** Applies the output modifier of a line that must parse with one. */
function filtered(line: string, lines: string[]): string[] {
  const p = parseLine(line)
  if (p.kind !== 'ok' || !p.filter) throw new Error(`${JSON.stringify(line)} has no output modifier`)
  return p.filter(lines)
}

describe('parseLine: supported commands', () => {
  it.each([
    ['show version', {id: 'show_version'}],
    ['sh ver', {id: 'show_version'}],
    ['SH VER', {id: 'show_version'}],
    ['  show   version  ', {id: 'show_version'}],
    ['show clock', {id: 'show_clock'}],
    ['sh clo', {id: 'show_clock'}],
    ['show running-config', {id: 'show_running'}],
    ['sh run', {id: 'show_running'}],
    ['show install summary', {id: 'show_install_summary'}],
    ['sh inst sum', {id: 'show_install_summary'}],
    ['show boot', {id: 'show_boot'}],
    ['show switch', {id: 'show_switch'}],
    ['reload', {id: 'reload'}],
    ['rel', {id: 'reload'}],
    ['exit', {id: 'exit'}],
  ] as const)('%j → %j', (line, command) => {
    expect(parseLine(line)).toEqual({kind: 'ok', command, filter: undefined})
  })

  it('dir with and without a file system', () => {
    expect(commandOf('dir')).toEqual({id: 'dir'})
    expect(commandOf('dir flash:')).toEqual({id: 'dir', filesystem: 'flash:'})
    expect(commandOf('dir flash:/')).toEqual({id: 'dir', filesystem: 'flash:/'})
    expect(commandOf('di BOOTFLASH:')).toEqual({id: 'dir', filesystem: 'BOOTFLASH:'})
  })

  it('install add file FILE activate commit, with and without prompt-level none', () => {
    expect(commandOf(`install add file ${IMAGE} activate commit`)).toEqual({id: 'install', file: IMAGE, promptLevelNone: false})
    expect(commandOf(`install add file ${IMAGE} activate commit prompt-level none`)).toEqual({id: 'install', file: IMAGE, promptLevelNone: true})
    expect(commandOf(`inst a f ${IMAGE} act com prompt n`)).toEqual({id: 'install', file: IMAGE, promptLevelNone: true})
    // the file argument is taken as typed (case kept, file system or not); install itself judges it
    expect(commandOf('install add file Cat9k.BIN activate commit')).toEqual({id: 'install', file: 'Cat9k.BIN', promptLevelNone: false})
  })

  it('terminal length N', () => {
    expect(commandOf('terminal length 0')).toEqual({id: 'terminal_length', lines: 0})
    expect(commandOf('term len 24')).toEqual({id: 'terminal_length', lines: 24})
  })

  it('tells output commands from the others', () => {
    expect(['show version', 'show clock', 'sh run', 'sh inst sum', 'show boot', 'show switch', 'dir'].map((l) => isOutputCommand(commandOf(l)))).toEqual(Array(7).fill(true))
    expect(['reload', 'exit', 'terminal length 0', `install add file ${IMAGE} activate commit`].map((l) => isOutputCommand(commandOf(l)))).toEqual([false, false, false, false])
  })

  it('treats a blank line as nothing to do', () => {
    expect(parseLine('')).toEqual({kind: 'empty'})
    expect(parseLine('   ')).toEqual({kind: 'empty'})
  })
})

describe('parseLine: refusals as IOS reports them', () => {
  it('marks the first word that fits nothing, at its column in the line', () => {
    expect(errorOf('show versoin')).toEqual({kind: 'invalid', col: 5})
    expect(errorOf('frobnicate')).toEqual({kind: 'invalid', col: 0})
    expect(errorOf('  show   versoin')).toEqual({kind: 'invalid', col: 9})
    expect(errorOf('show version extra')).toEqual({kind: 'invalid', col: 13})
    expect(errorOf('dir foo:')).toEqual({kind: 'invalid', col: 4})
    expect(errorOf('terminal length x')).toEqual({kind: 'invalid', col: 16})
    expect(errorOf('showversion')).toEqual({kind: 'invalid', col: 0})
    const all = `install add file ${IMAGE} activate commit prompt-level all`
    expect(errorOf(all)).toEqual({kind: 'invalid', col: all.lastIndexOf('all')})
  })

  it('calls a proper prefix of a command incomplete', () => {
    for (const line of ['show', 'sh', 's', 'show install', 'terminal length', 'install', 'install add file', `install add file ${IMAGE}`, `install add file ${IMAGE} activate commit prompt-level`]) {
      expect(errorOf(line), line).toEqual({kind: 'incomplete'})
    }
  })

  it('reports an ambiguous abbreviation with the words typed so far', () => {
    const grammar: GrammarRule[] = [
      {id: 'show_clock', words: ['show', 'clock']},
      {id: 'show_boot', words: ['show', 'clear']},
      {id: 'reload', words: ['clear']},
      {id: 'exit', words: ['clock']},
    ]
    expect(matchCommand('sh cl', grammar)).toEqual({kind: 'ambiguous', text: 'sh cl'})
    expect(matchCommand('c', grammar)).toEqual({kind: 'ambiguous', text: 'c'})
    expect(matchCommand('sh clo', grammar)).toMatchObject({kind: 'ok', rule: {id: 'show_clock'}, args: []})
  })

  it('lets a keyword typed in full win over the longer keywords it abbreviates', () => {
    const grammar: GrammarRule[] = [
      {id: 'show_version', words: ['show', 'version']},
      {id: 'show_boot', words: ['show', 'versions']},
    ]
    expect(matchCommand('show version', grammar)).toMatchObject({kind: 'ok', rule: {id: 'show_version'}})
    expect(matchCommand('show versions', grammar)).toMatchObject({kind: 'ok', rule: {id: 'show_boot'}})
    expect(matchCommand('show vers', grammar)).toEqual({kind: 'ambiguous', text: 'show vers'})
  })

  it('returns the words typed for arguments', () => {
    expect(matchCommand('term len 24')).toMatchObject({kind: 'ok', args: ['24']})
    expect(matchCommand(`install add file ${IMAGE} activate commit prompt-level none`)).toMatchObject({kind: 'ok', args: [IMAGE]})
  })
})

describe('output modifiers', () => {
  const text = ['Cisco IOS XE Software, Version 17.06.05', 'sw1 uptime is 0 minutes', 'System restarted at 10:01:59 UTC Sat Nov 21 2026', 'Cisco IOS-XE software']

  it('split at the first |, the modifier keeping the column after it', () => {
    expect(splitPipe('sh ver | i a|b')).toEqual(['sh ver ', {text: ' i a|b', col: 8}])
    expect(splitPipe('sh ver')).toEqual(['sh ver', undefined])
  })

  it('include, exclude, begin and count, abbreviated, with a case-sensitive regular expression', () => {
    expect(filtered('sh ver | include ^Cisco', text)).toEqual([text[0], text[3]])
    expect(filtered('sh ver | i ^Cisco IOS XE', text)).toEqual([text[0]])
    expect(filtered('sh ver | i cisco', text)).toEqual([])
    expect(filtered('sh ver | e Cisco', text)).toEqual([text[1], text[2]])
    expect(filtered('sh ver | b ^System', text)).toEqual([text[2], text[3]])
    expect(filtered('sh ver | be ^Cisco', text)).toEqual(text)
    expect(filtered('sh ver | c Cisco', text)).toEqual(['Number of lines which match regexp = 2'])
    expect(filtered('dir|i conf', ['a.bin', 'packages.conf'])).toEqual(['packages.conf'])
  })

  it('take a pattern that does not compile literally', () => {
    expect(filtered('sh ver | i (fc2', ['x (fc2)', 'fc2'])).toEqual(['x (fc2)'])
  })

  it('are refused after commands that print nothing, with the caret under the |', () => {
    expect(errorOf('terminal length 0 | i x')).toEqual({kind: 'invalid', col: 18})
    expect(errorOf('reload | i x')).toEqual({kind: 'invalid', col: 7})
  })

  it('are refused when unknown or incomplete', () => {
    expect(errorOf('sh ver | foo x')).toEqual({kind: 'invalid', col: 9})
    expect(errorOf('sh ver |   foo x')).toEqual({kind: 'invalid', col: 11})
    expect(errorOf('sh ver |')).toEqual({kind: 'incomplete'})
    expect(errorOf('sh ver | include')).toEqual({kind: 'incomplete'})
    expect(parseFilter('  nope')).toEqual({kind: 'invalid', col: 2})
  })

  it('do not rescue a bad command', () => {
    expect(errorOf('show versoin | i x')).toEqual({kind: 'invalid', col: 5})
    expect(errorOf('show | i x')).toEqual({kind: 'incomplete'})
  })
})
