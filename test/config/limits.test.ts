/**
 * The limits of the input files (docs/inventory.md#limits, docs/playbook.md#limits): each is refused with one
 * `FILE:LINE:COL PATH: MESSAGE` line and exit code 2, and whatever a file holds, a problem line stays one line.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {closest} from '../../src/config/common.js'
import {INPUT_LIMITS, loadInventory, loadPlaybook, loadStack} from '../../src/config/index.js'
import {ExitCode, InputError} from '../../src/errors.js'

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-limits-'))
  writeFileSync(join(dir, 'kh'), '')
  writeFileSync(join(dir, 'pb.yml'), PLAYBOOK)
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** Writes `content` to the tmp dir and returns the path relative to the current directory (as a user would type it). */
function write(name: string, content: string | Buffer): string {
  const abs = join(dir, name)
  writeFileSync(abs, content)
  return relative(process.cwd(), abs)
}

/** The InputError a load throws (fails the test when it loads or throws anything else). */
async function inputError(load: Promise<unknown>): Promise<InputError> {
  const error: unknown = await load.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof InputError)) throw new Error(`expected an InputError, got ${String(error)}`)
  expect(error.exitCode).toBe(ExitCode.badInput)
  return error
}

/** The problems of loading `content` as an inventory, without the `FILE:` prefix. */
async function inventoryProblems(content: string | Buffer, name = `i${Math.random().toString(36).slice(2)}.yml`): Promise<string[]> {
  const file = write(name, content)
  const error = await inputError(loadInventory(file))
  expect(error.code).toBe('INVENTORY_INVALID')
  return error.problems.map((p) => {
    expect(p.startsWith(`${file}:`), p).toBe(true)
    return p.slice(file.length + 1)
  })
}

async function playbookProblems(content: string | Buffer): Promise<string[]> {
  const file = write(`p${Math.random().toString(36).slice(2)}.yml`, content)
  const error = await inputError(loadPlaybook(file))
  expect(error.code).toBe('PLAYBOOK_INVALID')
  return error.problems.map((p) => p.slice(file.length + 1))
}

const INVENTORY = `stack: s1
playbook: ./pb.yml
target: {version: "17.09.05", image: cat9k.bin}
ssh: {username: u, password_env: PW, known_hosts: ./kh}
devices:
  - {name: sw1, host: 10.0.0.1}
`

const PLAYBOOK = `name: t
facts:
  command: show version
  version: 'Version (?<version>\\S+)'
upgrade:
  - {name: install, command: 'install add file flash:{{ target.image }} activate commit', reload: true}
`

/** An inventory of `n` devices, one per line. */
function devices(n: number): string {
  let text = INVENTORY.replace('  - {name: sw1, host: 10.0.0.1}\n', '')
  for (let i = 0; i < n; i++) text += `  - {name: sw${i}, host: 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}}\n`
  return text
}

describe('file size', () => {
  it('refuses an inventory of more than 1 MiB and loads one of exactly 1 MiB', async () => {
    const padding = (total: number) => `${INVENTORY}# ${'x'.repeat(total - INVENTORY.length - 3)}\n`
    expect(Buffer.byteLength(padding(INPUT_LIMITS.fileBytes))).toBe(1_048_576)
    await expect(loadInventory(write('exactly-1mib.yml', padding(INPUT_LIMITS.fileBytes)))).resolves.toMatchObject({stack: 's1'})
    expect(await inventoryProblems(padding(INPUT_LIMITS.fileBytes + 1))).toEqual([
      '1:1 (file): the file is larger than 1 MiB; an inventory file may be at most 1 MiB (1048576 bytes)',
    ])
  })

  it('refuses a playbook of more than 1 MiB (a 1 MiB command)', async () => {
    expect(await playbookProblems(`${PLAYBOOK}description: ${'x'.repeat(1 << 20)}\n`)).toEqual([
      '1:1 (file): the file is larger than 1 MiB; a playbook file may be at most 1 MiB (1048576 bytes)',
    ])
  })

  it('reads at most 1 MiB of a file that never ends', async () => {
    const error = await inputError(loadInventory('/dev/zero'))
    expect(error.problems).toEqual(['/dev/zero:1:1 (file): the file is larger than 1 MiB; an inventory file may be at most 1 MiB (1048576 bytes)'])
  })
})

describe('characters', () => {
  it('refuses invalid UTF-8 at the first bad byte', async () => {
    const bytes = Buffer.concat([Buffer.from(INVENTORY.replace('username: u,', 'username: u')), Buffer.from([0xc3, 0x28]), Buffer.from(',\n')])
    // The 0xC3 0x28 is on line 6, after "devices:\n  - {name: sw1, host: 10.0.0.1}\n".
    expect(await inventoryProblems(bytes)).toEqual(['7:1 (file): not UTF-8 text: invalid byte 0xC3 (save the file as UTF-8)'])
    // An overlong "/", a surrogate, a code point past U+10FFFF, a sequence cut short: each at its first byte.
    for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) {
      const file = Buffer.concat([Buffer.from('stack: é'), Buffer.from(bad), Buffer.from('\n')])
      expect(await inventoryProblems(file)).toEqual([`1:9 (file): not UTF-8 text: invalid byte 0x${(bad[0] ?? 0).toString(16).toUpperCase()} (save the file as UTF-8)`])
    }
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(INVENTORY, 'utf16le')])
    expect(await inventoryProblems(utf16)).toEqual(['1:1 (file): not UTF-8 text: invalid byte 0xFF (save the file as UTF-8)'])
  })

  it('refuses a NUL byte or another control character where it is, and still loads tabs, CRLF and a BOM', async () => {
    expect(await inventoryProblems(INVENTORY.replace('username: u,', 'username: u\0,'))).toEqual([
      '4:18 (file): unexpected character U+0000 (a YAML file holds printable characters, tabs and line breaks only)',
    ])
    expect(await inventoryProblems(INVENTORY.replace('stack: s1', 'stack: s1\u001b[2J'))).toEqual([
      '1:10 (file): unexpected character U+001B (a YAML file holds printable characters, tabs and line breaks only)',
    ])
    const fine = `\ufeff${INVENTORY.replace('stack: s1', 'stack:\ts1').replace(/\n/g, '\r\n')}`
    await expect(loadInventory(write('tab-crlf-bom.yml', fine))).resolves.toMatchObject({stack: 's1'})
  })
})

describe('YAML', () => {
  it(`refuses more than ${INPUT_LIMITS.yamlTokens} tokens where the limit is passed`, async () => {
    // `1,` is three tokens (a scalar marker, the scalar, the comma).
    const problems = await inventoryProblems(`${INVENTORY}x: [${'1,'.repeat(40_000)}]\n`)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatch(/^7:\d+ \(yaml\): more than 100000 YAML tokens \(values, indicators, comments, line breaks; at most 100000 per file\)$/)
  })

  it('refuses lists and mappings nested 10,000 levels deep, flow or block, where the nesting passes the limit', async () => {
    const flow = `${INVENTORY}x: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`
    // The lexer stops at the 33rd `[` (flow collections alone past the limit): the parser never sees the rest.
    expect(await inventoryProblems(flow)).toEqual(['7:36 (yaml): lists and mappings nested more than 32 levels deep (at most 32)'])
    const block = `${INVENTORY}x:\n${'- '.repeat(10_000)}1\n`
    expect(await inventoryProblems(block)).toEqual([`8:${1 + 31 * 2} (yaml): lists and mappings nested more than 32 levels deep (at most 32)`])
    let indented = `${INVENTORY}x:\n`
    for (let i = 1; i <= 40; i++) indented += `${' '.repeat(i)}a:\n`
    expect(await inventoryProblems(indented)).toEqual(['39:33 (yaml): lists and mappings nested more than 32 levels deep (at most 32)'])
  })

  it('accepts 32 levels', async () => {
    expect(await inventoryProblems(`${INVENTORY}x: ${'['.repeat(31)}${']'.repeat(31)}\n`)).toEqual([
      '7:1 x: unknown field; expected one of: stack, playbook, target, staging, ssh, timeouts, snmp, on_failure, lab, window, chainsync, devices',
    ])
  })

  it('refuses a billion laughs at the alias that passes the expansion limit', async () => {
    let laughs = 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n'
    for (let i = 1; i < 10; i++) laughs += `a${i}: &a${i} [${Array.from({length: 10}, () => `*a${i - 1}`).join(', ')}]\n`
    const problems = await inventoryProblems(`${INVENTORY}${laughs}`)
    // Up to a2 the aliases stand for 10×1 + 10×11 + 10×111 values; each of a3's for 1111: its 8th passes 10,000.
    expect(problems).toEqual(['10:45 (yaml): YAML error: Excessive alias count indicates a resource exhaustion attack'])
  })

  it(`refuses more than ${INPUT_LIMITS.aliases} aliases and more than ${INPUT_LIMITS.anchors} anchors`, async () => {
    const aliases = `${INVENTORY}x: &x 1\ny: [${Array.from({length: 1001}, () => '*x').join(', ')}]\n`
    expect(await inventoryProblems(aliases)).toEqual([`8:${5 + 1000 * 4} (yaml): more than 1000 YAML aliases (*name; at most 1000 per file)`])
    const anchors = `${INVENTORY}y: [${Array.from({length: 1001}, (_, i) => `&a${i} 1`).join(', ')}]\n`
    expect((await inventoryProblems(anchors))[0]).toMatch(/^7:\d+ \(yaml\): more than 1000 YAML anchors \(&name; at most 1000 per file\)$/)
  })

  it('still loads a stack whose 1000 devices share their lab settings through one alias each', async () => {
    let text = INVENTORY.replace('devices:\n  - {name: sw1, host: 10.0.0.1}\n', 'lab_defaults: &lab {version: "17.06.05", boot_time: PT3S}\ndevices:\n')
    for (let i = 0; i < 1000; i++) text += `  - {name: sw${i}, host: 10.0.${i >> 8}.${i & 255}, lab: *lab}\n`
    // lab_defaults is not a field: the only problem is that one key, after 1000 aliases resolved.
    expect(await inventoryProblems(text)).toEqual([
      '5:1 lab_defaults: unknown field; expected one of: stack, playbook, target, staging, ssh, timeouts, snmp, on_failure, lab, window, chainsync, devices',
    ])
  })

  it('resolves 999 aliases in a large file without comparing each with the whole file (yaml took seconds)', async () => {
    const text = `${INVENTORY}s: &s 1\nl: &l [${Array.from({length: 998}, () => '*s').join(', ')}]\nm: *l\np: [${'1,'.repeat(30_000)}]\n`
    const started = performance.now()
    const problems = await inventoryProblems(text)
    expect(problems.map((p) => p.replace(/;.*/, ''))).toEqual(['7:1 s: unknown field', '8:1 l: unknown field', '9:1 m: unknown field', '10:1 p: unknown field'])
    expect(performance.now() - started).toBeLessThan(5000)
  })

  it('finds duplicate keys in a mapping of 12,000 keys with one set, not by comparing every pair', async () => {
    let text = `${INVENTORY}x:\n`
    for (let i = 0; i < 12_000; i++) text += `  k${i}: 1\n`
    text += '  k5: 2\n'
    const started = performance.now()
    expect(await inventoryProblems(text)).toEqual(['12008:3 (yaml): YAML syntax error: Map keys must be unique'])
    expect(performance.now() - started).toBeLessThan(5000)
  })

  it('prints no warning for a mapping used as a key', async () => {
    const warn = vi.spyOn(process, 'emitWarning')
    try {
      const problems = await inventoryProblems(`${INVENTORY}? [a, b]\n: 1\n`)
      expect(problems).toEqual(['1:1 ["[ a, b ]"]: unknown field; expected one of: stack, playbook, target, staging, ssh, timeouts, snmp, on_failure, lab, window, chainsync, devices'])
      expect(warn).not.toHaveBeenCalled()
    } finally {
      warn.mockRestore()
    }
  })
})

describe('device count', () => {
  it(`loads ${INPUT_LIMITS.devices} devices and refuses ${INPUT_LIMITS.devices + 1}`, async () => {
    const inventory = await loadInventory(write('1000.yml', devices(1000)))
    expect(inventory.devices).toHaveLength(1000)
    expect(await inventoryProblems(devices(1001))).toEqual(['6:3 devices: at most 1000 devices per stack, got 1001'])
  })

  it('loads 1000 devices with the shipped playbook', async () => {
    const text = devices(1000).replace('./pb.yml', `${relative(dir, 'playbooks/ios-xe-install.yml')}`)
    const {inventory, playbook} = await loadStack(write('stack-1000.yml', text))
    expect(inventory.devices).toHaveLength(1000)
    expect(playbook.name).toBe('ios-xe-install')
  })
})

describe('string lengths', () => {
  const long = (n: number) => 'a'.repeat(n)
  const cases: Array<{field: string; yaml: string; at: string; max: number}> = [
    {field: 'ssh.username', yaml: INVENTORY.replace('username: u', `username: ${long(257)}`), at: '4:17', max: 256},
    {field: 'ssh.password_env', yaml: INVENTORY.replace('password_env: PW', `password_env: ${long(257)}`), at: '4:34', max: 256},
    {field: 'ssh.known_hosts', yaml: INVENTORY.replace('known_hosts: ./kh', `known_hosts: ${long(4097)}`), at: '4:51', max: 4096},
    {field: 'target.version', yaml: INVENTORY.replace('"17.09.05"', long(65)), at: '3:19', max: 64},
    {field: 'target.image', yaml: INVENTORY.replace('cat9k.bin', `${long(256)}.bin`), at: '3:38', max: 255},
    {field: 'devices[0].node', yaml: INVENTORY.replace('10.0.0.1}', `10.0.0.1, node: ${long(4097)}}`), at: '6:39', max: 4096},
    {field: 'timeouts.command', yaml: `${INVENTORY}timeouts: {command: PT${'9'.repeat(70)}S}\n`, at: '7:21', max: 64},
    {field: 'snmp.traps[0].community', yaml: `${INVENTORY}snmp: {traps: [{host: 10.0.0.9, community: ${long(257)}}]}\n`, at: '7:44', max: 256},
  ]
  it('inventory chainsync.tls.pins: a key of at most 256 characters, one message', async () => {
    const problems = await inventoryProblems(`${INVENTORY}chainsync: {tls: {ca: ./kh, cert_dir: ., pins: {${long(257)}: "${Array(32).fill('AB').join(':')}"}}}\n`)
    expect(problems).toEqual([expect.stringMatching(/^7:\d+ chainsync\.tls\.pins\["a{40}…"\]: expected a device name as the key, at most 256 characters, got 257$/)])
  })

  it.each(cases)('inventory $field: at most $max characters, one message', async ({field, yaml, at, max}) => {
    const problems = await inventoryProblems(yaml)
    expect(problems).toEqual([expect.stringMatching(new RegExp(`^${at} ${field.replace(/[.[\]]/g, '\\$&')}: expected at most ${max} characters, got \\d+$`))])
  })

  const step = (extra: string) => PLAYBOOK.replace("reload: true}", `reload: true, ${extra}}`)
  const playbookCases: Array<{field: string; yaml: string; max: number}> = [
    {field: 'name', yaml: PLAYBOOK.replace('name: t', `name: ${long(257)}`), max: 256},
    {field: 'description', yaml: `${PLAYBOOK}description: ${long(4097)}\n`, max: 4096},
    {field: 'platform', yaml: `${PLAYBOOK}platform: ${long(257)}\n`, max: 256},
    {field: 'facts.command', yaml: PLAYBOOK.replace('command: show version', `command: show ${long(4097)}`), max: 4096},
    {field: 'facts.version', yaml: PLAYBOOK.replace("'Version (?<version>\\S+)'", `'(?<version>${long(4097)})'`), max: 4096},
    {field: 'upgrade[0].name', yaml: PLAYBOOK.replace('name: install', `name: ${long(257)}`), max: 256},
    {field: 'upgrade[0].expect', yaml: step(`expect: '${'(a+)+'.repeat(1000)}'`), max: 4096},
    {field: 'gates.final[0].run', yaml: `${PLAYBOOK}gates: {final: [{name: g, run: ${long(4097)}}]}\n`, max: 4096},
  ]
  it.each(playbookCases)('playbook $field: at most $max characters, one message', async ({field, yaml, max}) => {
    const problems = await playbookProblems(yaml)
    expect(problems).toEqual([expect.stringMatching(new RegExp(`^\\d+:\\d+ ${field.replace(/[.[\]]/g, '\\$&')}: expected at most ${max} characters, got \\d+$`))])
  })

  it('keeps strings at the limit', async () => {
    const yaml = INVENTORY.replace('username: u', `username: ${long(256)}`).replace('"17.09.05"', `"1${'0'.repeat(63)}"`)
    await expect(loadInventory(write('at-limit.yml', yaml))).resolves.toMatchObject({ssh: {username: long(256)}})
  })
})

describe('durations', () => {
  it('refuses a duration longer than 24 days (Node would fire its timer at once) and keeps P24D', async () => {
    expect(await inventoryProblems(`${INVENTORY}timeouts: {run: P25D, predecessor: PT${'9'.repeat(20)}S}\n`)).toEqual([
      '7:17 timeouts.run: expected a duration of at most 24 days (P24D), got "P25D"',
      '7:36 timeouts.predecessor: expected a duration of at most 24 days (P24D), got "PT99999999999999999999S"',
    ])
    const inventory = await loadInventory(write('p24d.yml', `${INVENTORY}timeouts: {run: P24D}\n`))
    expect(inventory.timeouts.run).toBe(24 * 86_400_000)
  })
})

describe('problem lines', () => {
  it(`lists at most ${INPUT_LIMITS.problems} problems and says how many more there are`, async () => {
    let text = INVENTORY
    for (let i = 0; i < 1500; i++) text += `k${i}: 1\n`
    const file = write('1500.yml', text)
    const error = await inputError(loadInventory(file))
    expect(error.message).toBe(`${file}: 1500 problems`)
    expect(error.problems).toHaveLength(1001)
    expect(error.problems[999]).toBe(`${file}:1006:1 k999: unknown field; expected one of: stack, playbook, target, staging, ssh, timeouts, snmp, on_failure, lab, window, chainsync, devices`)
    expect(error.problems[1000]).toBe(`${file}:1007:1 (file): 500 more problems not listed (at most 1000 are)`)
  })

  it('shows a key that is not plain quoted, escaped and cut, on one line', async () => {
    const problems = await inventoryProblems(`${INVENTORY}"\\e[31mred\\nline\\0": 1\n"a b": 2\n${'k'.repeat(100)}: 3\n`)
    expect(problems).toEqual([
      '7:1 ["\\u001b[31mred\\nline\\u0000"]: unknown field; expected one of: stack, playbook, target, staging, ssh, timeouts, snmp, on_failure, lab, window, chainsync, devices',
      '8:1 ["a b"]: unknown field; expected one of: stack, playbook, target, staging, ssh, timeouts, snmp, on_failure, lab, window, chainsync, devices',
      `9:1 ["${'k'.repeat(40)}…"]: unknown field; expected one of: stack, playbook, target, staging, ssh, timeouts, snmp, on_failure, lab, window, chainsync, devices`,
    ])
  })

  it('escapes control characters of a value quoted in a message', async () => {
    expect(await inventoryProblems(`${INVENTORY}on_failure: "halt\\n\\e]0;owned\\a"\n`)).toEqual([
      '7:13 on_failure: expected "halt" or "rollback", got "halt\\n\\u001b]0;owned\\u0007"',
    ])
  })
})

describe('"did you mean"', () => {
  it('compares no word longer than 64 characters: bounded by construction, whatever the key', () => {
    // Today's table for these would have 10^10 cells.
    expect(closest('x'.repeat(100_000), ['x'.repeat(100_001)])).toBeUndefined()
    expect(closest('h'.repeat(65), ['h'.repeat(66)])).toBeUndefined()
    expect(closest('h'.repeat(64), ['h'.repeat(63)])).toBe('h'.repeat(63))
    expect(closest('hots', ['name', 'host', 'port'])).toBe('host')
  })

  it('reports a 100 KB unknown key as unknown, with its start', async () => {
    const problems = await inventoryProblems(INVENTORY.replace('{name: sw1,', `{name: sw1, ${'h'.repeat(100_000)}: 1,`))
    expect(problems).toEqual([`6:17 devices[0]["${'h'.repeat(40)}…"]: unknown field; expected one of: name, host, port, host_key, lab, node, remote, snmp_port`])
  })
})

describe('patterns checked per device', () => {
  /** A stack of `n` devices whose playbook has `patterns` readiness steps expecting `pattern(i)`. */
  function stack(n: number, names: (i: number) => string, patterns: number, pattern: (i: number) => string): string {
    // Lines 1-4 are the facts, line 5 `readiness:`, readiness[i] is on line 6 + i.
    let playbook = `${PLAYBOOK.split('upgrade:')[0] ?? ''}readiness:\n`
    for (let i = 0; i < patterns; i++) playbook += `  - {name: s${i}, command: show, expect: '${pattern(i)}'}\n`
    playbook += 'upgrade:\n  - {name: install, command: install, reload: true}\n'
    const pb = write(`pb-${Math.random().toString(36).slice(2)}.yml`, playbook)
    let text = INVENTORY.replace('./pb.yml', relative(dir, pb)).replace('  - {name: sw1, host: 10.0.0.1}\n', '')
    for (let i = 0; i < n; i++) text += `  - {name: ${names(i)}, host: 10.0.${(i >> 8) & 255}.${i & 255}}\n`
    return write(`stack-${Math.random().toString(36).slice(2)}.yml`, text)
  }

  it('still checks with every device where the value changes how the pattern parses', async () => {
    // `[sw-1]` is a range from w to 1: out of order. `[a1]` is fine.
    const file = stack(2, (i) => (i === 0 ? 'a1' : 'sw-1'), 1, () => '[{{ device.name }}]')
    const error = await inputError(loadStack(file))
    expect(error.problems).toEqual([expect.stringMatching(/:6:39 readiness\[0\]\.expect: invalid regular expression: Range out of order in character class$/)])
    // A group name: `(?<sw-1>` is not one.
    const named = stack(2, (i) => (i === 0 ? 'a1' : 'sw-1'), 1, () => '(?<{{ device.name }}>x)')
    expect((await inputError(loadStack(named))).problems).toEqual([expect.stringMatching(/readiness\[0\]\.expect: invalid regular expression: Invalid capture group name$/)])
  })

  it('checks a pattern with {{ device.name }} in plain context once, not once per device', async () => {
    const file = stack(1000, (i) => `sw${i}`, 2000, (i) => `^{{ device.name }} step ${i} (ok|done)$`)
    const started = performance.now()
    const {playbook} = await loadStack(file)
    expect(playbook.readiness).toHaveLength(2000)
    // Before: 2,000,000 expansions and compilations (about 10 s on the CI machine).
    expect(performance.now() - started).toBeLessThan(5000)
  })

  it(`refuses more than ${INPUT_LIMITS.devicePatternChecks} per-device checks in one load`, async () => {
    const file = stack(1000, (i) => `sw${i}`, 60, (i) => `[{{ device.name }}]${i}`)
    const error = await inputError(loadStack(file))
    // 50 patterns × 999 further devices fit; the 51st pattern is past the limit.
    expect(error.problems).toHaveLength(10)
    expect(error.problems[0]).toMatch(
      /:56:\d+ readiness\[50\]\.expect: too many per-device pattern checks: a pattern with \{\{ device\.name \}\} or \{\{ device\.host \}\} inside \[\.\.\.\], \{\.\.\.\} or \(\?<\.\.\.>\) is compiled once per device, at most 50000 times per load$/,
    )
  })
})
