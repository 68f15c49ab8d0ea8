import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type TemplateVars, expandTemplate, loadInventory, loadPlaybook, loadStack} from '../../src/config/index.js'
import {ExitCode, InputError} from '../../src/errors.js'

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-playbook-'))
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function write(name: string, text: string): string {
  const abs = join(dir, name)
  writeFileSync(abs, text)
  return relative(process.cwd(), abs)
}

async function loadError(promise: Promise<unknown>): Promise<InputError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof InputError)) throw new Error(`expected an InputError, got ${String(error)}`)
  return error
}

/** Loads `text` as a playbook and returns its problems without the `FILE:` prefix. */
async function problemsOf(text: string): Promise<string[]> {
  const file = write(`p${Math.random().toString(36).slice(2)}.yml`, text)
  const error = await loadError(loadPlaybook(file))
  expect(error.code).toBe('PLAYBOOK_INVALID')
  expect(error.exitCode).toBe(ExitCode.badInput)
  expect(error.message).toBe(`${file}: ${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}`)
  return error.problems.map((p) => {
    expect(p.startsWith(`${file}:`)).toBe(true)
    return p.slice(file.length + 1)
  })
}

// A valid playbook; the cases below change a line or add to it.
const VALID = `name: t
facts:
  command: show version
  version: 'Version (?<version>\\S+)'
upgrade:
  - {name: install, command: 'install add file flash:{{ target.image }} activate commit', reload: true}
`

const LAB_VARS: TemplateVars = {
  stack: 'lab-stack',
  target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
  device: {name: 'sw1', host: '127.0.0.1'},
}

const SHOW_VERSION_17_09_05 = `Cisco IOS XE Software, Version 17.09.05
Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.9.5, RELEASE SOFTWARE (fc3)
sw1 uptime is 2 minutes
Uptime for this control processor is 4 minutes
System returned to ROM by Reload Command
System restarted at 10:11:12 UTC Mon Mar 4 2024
System image file is "flash:packages.conf"
`

describe('loadPlaybook: the shipped ios-xe-install playbook', () => {
  it('loads with the kind-tagged gates, durations in ms and defaults', async () => {
    const playbook = await loadPlaybook('playbooks/ios-xe-install.yml')
    expect(playbook.file).toBe(resolve('playbooks/ios-xe-install.yml'))
    expect(playbook.name).toBe('ios-xe-install')
    expect(playbook.platform).toBe('ios-xe')
    expect(playbook.skip_if_on_target).toBe(true)
    expect(playbook.error_patterns).toEqual(['^%\\s*(Invalid|Incomplete|Ambiguous|Error)', '^(FAILED|ERROR):'])
    expect(playbook.settle).toBe(30_000)
    expect(playbook.facts.uptime_precision).toBe(60_000)
    expect(playbook.readiness.map((s) => s.command)).toEqual(['show version', 'dir flash:'])
    expect(playbook.upgrade).toEqual([
      {
        name: 'install image',
        command: 'install add file flash:{{ target.image }} activate commit prompt-level none',
        reload: true,
        timeout: 1_800_000,
        compensate: [
          {name: 'reinstall the previous image', command: 'install add file flash:{{ previous.image }} activate commit prompt-level none', reload: true, timeout: 1_800_000},
          {name: 'verify previous version', command: 'show version', expect: 'Version {{ previous.version }}'},
        ],
      },
      {name: 'verify version', command: 'show version', expect: 'Version {{ target.version }}'},
    ])
    expect(playbook.gates).toEqual({
      before: [],
      after: [{kind: 'device_command', name: 'running target', device_command: 'show version', expect: 'Version {{ target.version }}'}],
      on_error: [],
      final: [],
    })
  })

  it('reads facts from real show version output and verifies the target version', async () => {
    const playbook = await loadPlaybook('playbooks/ios-xe-install.yml')
    const fact = (pattern: string | undefined) => new RegExp(pattern ?? '(?!)', 'm').exec(SHOW_VERSION_17_09_05)?.groups
    expect(fact(playbook.facts.version)?.['version']).toBe('17.09.05')
    expect(fact(playbook.facts.uptime)?.['uptime']).toBe('2 minutes')
    expect(fact(playbook.facts.restarted_at)?.['restarted_at']).toBe('10:11:12 UTC Mon Mar 4 2024')

    const verify = playbook.upgrade[1]?.expect ?? ''
    expect(new RegExp(expandTemplate(verify, LAB_VARS, 'regex'), 'm').test(SHOW_VERSION_17_09_05)).toBe(true)
    const older = {...LAB_VARS, target: {...LAB_VARS.target, version: '17.06.05'}}
    expect(new RegExp(expandTemplate(verify, older, 'regex'), 'm').test(SHOW_VERSION_17_09_05)).toBe(false)

    const install = playbook.upgrade[0]?.command ?? ''
    expect(expandTemplate(install, LAB_VARS, 'text')).toBe('install add file flash:cat9k_iosxe.17.09.05.SPA.bin activate commit prompt-level none')

    const errors = playbook.error_patterns.map((p) => new RegExp(p, 'm'))
    expect(errors.some((re) => re.test('sw1#show verison\n            ^\n% Invalid input detected at \'^\' marker.\n'))).toBe(true)
    expect(errors.some((re) => re.test(SHOW_VERSION_17_09_05))).toBe(false)
  })

  it('checks the image on flash: literally (dots in the name are not wildcards)', async () => {
    const playbook = await loadPlaybook('playbooks/ios-xe-install.yml')
    const onFlash = new RegExp(expandTemplate(playbook.readiness[1]?.expect ?? '', LAB_VARS, 'regex'), 'm')
    expect(onFlash.test('  18  -rw-  1234567  Mar 4 2024 10:00:00 +00:00  cat9k_iosxe.17.09.05.SPA.bin')).toBe(true)
    expect(onFlash.test('  18  -rw-  1234567  Mar 4 2024 10:00:00 +00:00  cat9k_iosxeX17X09X05XSPAXbin')).toBe(false)
  })
})

describe('loadStack', () => {
  it('loads the lab inventory and its playbook', async () => {
    const {inventory, playbook} = await loadStack('inventories/lab.yml')
    expect(inventory.stack).toBe('lab-stack')
    expect(playbook.file).toBe(inventory.playbook)
    expect(playbook.name).toBe('ios-xe-install')
  })

  it('reports playbook problems with the playbook path relative to the current directory', async () => {
    writeFileSync(join(dir, 'bad-pb.yml'), 'name: t\nfacts: {command: show version, version: "x"}\nupgrade: []\n')
    writeFileSync(join(dir, 'kh'), '')
    const inventoryFile = write(
      'stack.yml',
      'stack: s1\nplaybook: ./bad-pb.yml\ntarget: {version: "1", image: i.bin}\nssh: {username: u, password_env: PW, known_hosts: ./kh}\ndevices: [{name: sw1, host: h1}]\n',
    )
    const error = await loadError(loadStack(inventoryFile))
    const shown = relative(process.cwd(), join(dir, 'bad-pb.yml'))
    expect(error.code).toBe('PLAYBOOK_INVALID')
    expect(error.message).toBe(`${shown}: 2 problems`)
    expect(error.problems).toEqual([
      `${shown}:2:41 facts.version: the pattern must capture the version in a named group: (?<version>...)`,
      `${shown}:3:10 upgrade: at least one upgrade step is required`,
    ])
  })

  it('checks patterns with the inventory values when given one', async () => {
    const inventory = await loadInventory('inventories/lab.yml')
    const playbook = await loadPlaybook('playbooks/ios-xe-install.yml', {inventory})
    expect(playbook.upgrade).toHaveLength(2)
  })
})

describe('loadPlaybook: broken playbooks', () => {
  it('fills the defaults of a minimal playbook', async () => {
    const playbook = await loadPlaybook(write('minimal.yml', VALID))
    expect(playbook).toEqual({
      file: join(dir, 'minimal.yml'),
      name: 't',
      facts: {command: 'show version', version: 'Version (?<version>\\S+)', uptime_precision: 60_000},
      settle: 30_000,
      error_patterns: ['^%\\s*(Invalid|Incomplete|Ambiguous|Error)'],
      skip_if_on_target: true,
      readiness: [],
      rollback_readiness: [],
      upgrade: [{name: 'install', command: 'install add file flash:{{ target.image }} activate commit', reload: true}],
      gates: {before: [], after: [], on_error: [], final: []},
    })
  })

  it('settle: PT0S turns the settle off; a negative or malformed one is refused', async () => {
    expect((await loadPlaybook(write('settle0.yml', `${VALID}settle: PT0S\n`))).settle).toBe(0)
    expect((await loadPlaybook(write('settle5.yml', `${VALID}settle: PT5S\n`))).settle).toBe(5000)
    expect(await problemsOf(`${VALID}settle: 30 seconds\n`)).toEqual([expect.stringMatching(/^\d+:\d+ settle: /)])
  })

  it('turns run / device_command gates into the kind-tagged union, scope defaulting to device', async () => {
    const playbook = await loadPlaybook(
      write(
        'gates.yml',
        `${VALID}gates:
  before:
    - {name: change window, scope: stack, run: ./gates/change-window.sh, timeout: PT30S}
    - {name: healthy, device_command: show version, expect: 'uptime is', reject: 'Reload Reason: Critical'}
  on_error: [{name: ask, run: 'echo "allow {{ device.name }}"'}]
  final: [{name: notify, run: './notify.sh {{ stack }}'}]
`,
      ),
    )
    expect(playbook.gates).toEqual({
      before: [
        {kind: 'command', name: 'change window', run: './gates/change-window.sh', timeout: 30_000, scope: 'stack'},
        {kind: 'device_command', name: 'healthy', device_command: 'show version', expect: 'uptime is', reject: 'Reload Reason: Critical', scope: 'device'},
      ],
      after: [],
      on_error: [{kind: 'command', name: 'ask', run: 'echo "allow {{ device.name }}"'}],
      final: [{kind: 'command', name: 'notify', run: './notify.sh {{ stack }}'}],
    })
  })

  it('unknown placeholder', async () => {
    expect(await problemsOf(`${VALID}readiness:\n  - {name: v, command: show version, expect: 'Version {{ target.vers }}'}\n`)).toEqual([
      '8:46 readiness[0].expect: unknown placeholder {{ target.vers }}; known: {{ stack }}, {{ target.version }}, {{ target.image }}, {{ target.md5 }}, {{ target.sha512 }}, {{ device.name }}, {{ device.host }}, {{ previous.version }}, {{ previous.image }}',
    ])
  })

  it('unknown placeholder in a command, written without spaces', async () => {
    expect(await problemsOf(VALID.replace('{{ target.image }}', '{{image}}'))).toEqual([
      '6:30 upgrade[0].command: unknown placeholder {{image}}; known: {{ stack }}, {{ target.version }}, {{ target.image }}, {{ target.md5 }}, {{ target.sha512 }}, {{ device.name }}, {{ device.host }}, {{ previous.version }}, {{ previous.image }}',
    ])
  })

  it('a run: gate with a placeholder chainup cannot quote is refused at load time, naming the variable to use (issue #8 §2)', async () => {
    const problems = await problemsOf(`${VALID}gates:\n  before:\n    - {name: ticket, run: 'echo "$(cat {{ previous.version }})"'}\n`)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatch(/^\d+:\d+ gates\.before\[0\]\.run: \{\{ previous\.version \}\} in a run: command after \$\(…\) inside double quotes: chainup cannot quote it safely there; use "\$CHAINUP_PREVIOUS_VERSION" instead$/)
  })

  it('bad regular expression (expect, reject, facts, error_patterns)', async () => {
    const text = `name: t
facts:
  command: show version
  version: 'Version (?<version>\\S+'
  uptime: 'uptime is (?<uptime>[a-'
error_patterns: ['^%(']
upgrade:
  - {name: install, command: x, reject: '*fail'}
`
    expect(await problemsOf(text)).toEqual([
      '4:12 facts.version: invalid regular expression: Unterminated group',
      '5:11 facts.uptime: invalid regular expression: Unterminated character class',
      '6:18 error_patterns[0]: invalid regular expression: Unterminated group',
      '8:41 upgrade[0].reject: invalid regular expression: Nothing to repeat',
    ])
  })

  it('facts.version without the version group', async () => {
    expect(await problemsOf(VALID.replace('(?<version>\\S+)', '(\\S+)'))).toEqual([
      '4:12 facts.version: the pattern must capture the version in a named group: (?<version>...)',
    ])
  })

  it('device_command gate under final', async () => {
    expect(await problemsOf(`${VALID}gates:\n  final:\n    - {name: check, device_command: show version, expect: x}\n`)).toEqual([
      '9:21 gates.final[0].device_command: a stack-wide gate cannot run a device command',
    ])
  })

  it('device_command gate in before with scope stack', async () => {
    expect(await problemsOf(`${VALID}gates:\n  before:\n    - {name: check, scope: stack, device_command: show version, expect: x}\n`)).toEqual([
      '9:35 gates.before[0].device_command: a stack-wide gate cannot run a device command',
    ])
  })

  it('scope under after', async () => {
    expect(await problemsOf(`${VALID}gates:\n  after:\n    - {name: check, scope: device, run: ./check.sh}\n`)).toEqual([
      '9:21 gates.after[0].scope: scope is only allowed under gates.before (gates.after gates have a fixed scope)',
    ])
  })

  it('missing upgrade', async () => {
    expect(await problemsOf(VALID.split('upgrade:')[0] ?? '')).toEqual(['1:1 upgrade: missing required field "upgrade"'])
  })

  it('empty upgrade', async () => {
    expect(await problemsOf(`${VALID.split('upgrade:')[0] ?? ''}upgrade: []\n`)).toEqual(['5:10 upgrade: at least one upgrade step is required'])
  })

  it('gate with both run and device_command', async () => {
    expect(await problemsOf(`${VALID}gates:\n  after:\n    - {name: g, run: ./g.sh, device_command: show version, expect: x}\n`)).toEqual([
      '9:30 gates.after[0].device_command: a gate has either run (a local command) or device_command, not both',
    ])
  })

  it('gate with neither run nor device_command', async () => {
    expect(await problemsOf(`${VALID}gates:\n  on_error:\n    - {name: g, timeout: PT5S}\n`)).toEqual([
      '9:7 gates.on_error[0]: a gate needs either run (a local command) or device_command (a command on the device, with expect)',
    ])
  })

  it('device_command gate without expect', async () => {
    expect(await problemsOf(`${VALID}gates:\n  after:\n    - {name: g, device_command: show version}\n`)).toEqual([
      '9:7 gates.after[0].expect: missing required field "expect" (a device_command gate passes when its output matches expect)',
    ])
  })

  it('run gate with expect', async () => {
    expect(await problemsOf(`${VALID}gates:\n  after:\n    - {name: g, run: ./g.sh, expect: ok}\n`)).toEqual([
      '9:30 gates.after[0].expect: expect only applies to device_command gates (a run gate allows with exit code 0)',
    ])
  })

  it('unknown fields, with a suggestion', async () => {
    expect(await problemsOf(`${VALID.replace('reload: true', 'relaod: true')}gates:\n  finally: []\n`)).toEqual([
      '6:91 upgrade[0].relaod: unknown field (did you mean "reload"?)',
      '8:3 gates.finally: unknown field (did you mean "final"?)',
    ])
  })

  it('duplicate step names in one list', async () => {
    expect(await problemsOf(`${VALID}  - {name: install, command: show version}\n`)).toEqual([
      '7:12 upgrade[1].name: duplicate step name "install" (first at line 6)',
    ])
  })

  it('bad step timeout and a non-boolean reload', async () => {
    expect(await problemsOf(VALID.replace('reload: true', 'reload: "yes", timeout: 30'))).toEqual([
      '6:99 upgrade[0].reload: expected true or false, got "yes"',
      '6:115 upgrade[0].timeout: expected an ISO 8601 duration such as PT5M, got the number 30',
    ])
  })

  it('unquoted placeholder at the start of a value (YAML reads it as a mapping)', async () => {
    expect(await problemsOf(`${VALID}readiness:\n  - name: v\n    command: show version\n    expect: {{ target.version }}\n`)).toEqual([
      "10:13 readiness[0].expect: expected a string, got a mapping (a value that starts with {{ must be quoted: '{{ ... }}')",
    ])
  })

  it('YAML syntax error', async () => {
    const problems = await problemsOf('name: t\nfacts: {command: x\nupgrade: []\n')
    expect(problems.length).toBeGreaterThan(0)
    for (const p of problems) expect(p).toMatch(/^\d+:\d+ \(yaml\): YAML syntax error: /)
  })

  it('compensate step with an unknown field', async () => {
    expect(await problemsOf(`${VALID}  - name: verify\n    command: show version\n    compensate:\n      - {name: undo, command: show version, retries: 3}\n`)).toEqual([
      '10:45 upgrade[1].compensate[0].retries: unknown field; expected one of: name, command, expect, reject, reload, timeout, session, answers',
    ])
  })

  it('compensate step with a compensate of its own (refused as an unknown field)', async () => {
    expect(await problemsOf(`${VALID}  - name: verify\n    command: show version\n    compensate:\n      - name: undo\n        command: show version\n        compensate: [{name: undo again, command: show version}]\n`)).toEqual([
      '12:9 upgrade[1].compensate[0].compensate: unknown field; expected one of: name, command, expect, reject, reload, timeout, session, answers',
    ])
  })

  it('unknown placeholder in a compensate step', async () => {
    expect(await problemsOf(`${VALID}  - name: verify\n    command: show version\n    compensate:\n      - {name: undo, command: 'install add file flash:{{ previous.img }} activate commit'}\n`)).toEqual([
      '10:31 upgrade[1].compensate[0].command: unknown placeholder {{ previous.img }}; known: {{ stack }}, {{ target.version }}, {{ target.image }}, {{ target.md5 }}, {{ target.sha512 }}, {{ device.name }}, {{ device.host }}, {{ previous.version }}, {{ previous.image }}',
    ])
  })
})

describe('stage (image staging, docs/staging.md)', () => {
  it('the shipped playbook stages by SCP to flash: and verifies the MD5', async () => {
    const playbook = await loadPlaybook('playbooks/ios-xe-install.yml')
    expect(playbook.stage).toEqual({
      method: 'scp',
      destination: 'flash:',
      free_space: {command: 'dir flash:', pattern: '\\((?<free>\\d+) bytes free\\)'},
      verify: {command: 'verify /md5 flash:{{ target.image }}', expect: '= {{ target.md5 }}', timeout: 600_000},
    })
  })

  it('fills the defaults: destination flash:, dir of the destination, the IOS-XE free-space pattern', async () => {
    const playbook = await loadPlaybook(write('stage-defaults.yml', `${VALID}stage:\n  method: sftp\n  verify: {command: 'verify /sha512 flash:{{ target.image }}', expect: '{{ target.sha512 }}'}\n`))
    expect(playbook.stage).toEqual({
      method: 'sftp',
      destination: 'flash:',
      free_space: {command: 'dir flash:', pattern: '\\((?<free>\\d+) bytes free\\)'},
      verify: {command: 'verify /sha512 flash:{{ target.image }}', expect: '{{ target.sha512 }}'},
    })
    const other = await loadPlaybook(write('stage-dir.yml', `${VALID}stage: {method: scp, destination: /var/tmp/, verify: {command: 'md5sum /var/tmp/{{ target.image }}', expect: '^{{ target.md5 }} '}}\n`))
    expect(other.stage?.free_space.command).toBe('dir /var/tmp/')
  })

  it('reports a bad method, a destination with shell syntax, a free pattern without its group and a missing verify', async () => {
    expect(await problemsOf(`${VALID}stage:\n  method: ftp\n  destination: 'flash:; reload'\n  free_space: {pattern: '(\\d+) bytes free'}\n`)).toEqual([
      '8:3 stage.verify: missing required field "verify"',
      '8:11 stage.method: expected "scp" or "sftp", got "ftp"',
      '9:16 stage.destination: expected a file system or directory such as "flash:" or "/var/tmp/" (letters, digits, "_", ".", "/", ":", "+", "-")',
      '10:25 stage.free_space.pattern: the pattern must capture the free in a named group: (?<free>...)',
    ])
  })

  it('checks {{ target.md5 }} in patterns with a sample digest when the inventory gives none', async () => {
    expect(await problemsOf(`${VALID}stage: {method: scp, verify: {command: 'verify /md5 flash:{{ target.image }}', expect: '{{ target.md6 }}'}}\n`)).toEqual([
      expect.stringMatching(/^7:88 stage\.verify\.expect: unknown placeholder \{\{ target\.md6 \}\}; known: .*\{\{ target\.md5 \}\}, \{\{ target\.sha512 \}\}/),
    ])
  })
})
