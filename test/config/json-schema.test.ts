import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {Ajv, type ValidateFunction} from 'ajv'
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {DURATION_PATTERN, SCHEMA_KINDS, type SchemaKind, isoDuration, jsonSchemaFor} from '../../src/config/json-schema.js'
import {parseDurationMs} from '../../src/util/duration.js'

const ROOT = resolve(import.meta.dirname, '../..')

/** Every shipped file of a kind: the inventories (also under inventories/examples) and the playbooks. */
function shipped(kind: SchemaKind): string[] {
  const dirs = kind === 'inventory' ? ['inventories', 'inventories/examples'] : ['playbooks']
  return dirs.flatMap((d) =>
    existsSync(join(ROOT, d))
      ? readdirSync(join(ROOT, d))
          .filter((f) => /\.ya?ml$/.test(f))
          .map((f) => join(d, f))
      : [],
  )
}

/** The committed schema of `kind` (or, with `generated`, the one the source produces now), compiled by ajv. */
function validator(kind: SchemaKind, generated = false): ValidateFunction {
  const schema = generated ? jsonSchemaFor(kind) : JSON.parse(readFileSync(join(ROOT, `schemas/${kind}.schema.json`), 'utf8'))
  // strict: an unknown keyword or a malformed schema throws here instead of being ignored (`required` in a oneOf branch
  // naming a property defined next to it is fine: strictRequired off).
  return new Ajv({strict: true, strictRequired: false, allErrors: true}).compile(schema)
}

function errorsOf(validate: ValidateFunction, value: unknown): string[] {
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`)
}

describe('schemas/*.schema.json', () => {
  it.each(SCHEMA_KINDS)('schemas/%s.schema.json is what chainup schema prints now', (kind) => {
    const committed = readFileSync(join(ROOT, `schemas/${kind}.schema.json`), 'utf8')
    const current = JSON.stringify(jsonSchemaFor(kind), null, 2) + '\n'
    if (committed !== current) expect.fail(`schemas/${kind}.schema.json is out of date: run npm run schemas (and commit schemas/)`)
  })

  it('is draft-07 with a title, descriptions and required fields', () => {
    const inventory = jsonSchemaFor('inventory')
    expect(inventory).toMatchObject({
      $schema: 'http://json-schema.org/draft-07/schema#',
      title: 'chainup inventory',
      type: 'object',
      additionalProperties: false,
      required: ['stack', 'playbook', 'target', 'ssh', 'devices'],
    })
    const props = inventory['properties'] as Record<string, Record<string, unknown>>
    expect(props['on_failure']).toMatchObject({enum: ['halt', 'rollback'], default: 'halt'})
    expect(props['timeouts']?.['properties']).toMatchObject({command: {type: 'string', pattern: DURATION_PATTERN, default: 'PT2M'}, boot: {default: 'PT15M'}})
    expect(String((props['timeouts']?.['properties'] as Record<string, {description: string}>)['command']?.description)).toMatch(/ISO 8601/)
    expect(jsonSchemaFor('playbook')).toMatchObject({title: 'chainup playbook', required: ['name', 'facts', 'upgrade']})
  })

  it('describes every field of both files', () => {
    const undescribed: string[] = []
    const walk = (node: Record<string, unknown>, path: string): void => {
      for (const [key, child] of Object.entries((node['properties'] ?? {}) as Record<string, Record<string, unknown>>)) {
        if (typeof child['description'] !== 'string') undescribed.push(`${path}${key}`)
        walk(child, `${path}${key}.`)
        if (child['items']) walk(child['items'] as Record<string, unknown>, `${path}${key}[].`)
      }
    }
    for (const kind of SCHEMA_KINDS) walk(jsonSchemaFor(kind), `${kind}: `)
    expect(undescribed, 'describe each new field: an entry in the INVENTORY/PLAYBOOK tables of src/config/json-schema.ts (or .describe() on its zod schema), then npm run schemas').toEqual([])
  })
})

describe('the shipped files against the schemas', () => {
  const cases = SCHEMA_KINDS.flatMap((kind) => shipped(kind).map((file) => ({kind, file})))

  it('finds the shipped inventories and playbooks', () => {
    expect(cases.map((c) => c.file)).toEqual(expect.arrayContaining(['inventories/lab.yml', 'inventories/examples/access-stack-1.yml', 'playbooks/ios-xe-install.yml']))
  })

  it.each(cases)('$file validates against the $kind schema', ({kind, file}) => {
    expect(errorsOf(validator(kind), parse(readFileSync(join(ROOT, file), 'utf8')))).toEqual([])
  })

  it.each(cases)('$file names its schema on its first line with a path that exists', ({kind, file}) => {
    const first = readFileSync(join(ROOT, file), 'utf8').split('\n', 1)[0] ?? ''
    const match = /^# yaml-language-server: \$schema=(\S+)$/.exec(first)
    expect(match, `first line of ${file}`).not.toBeNull()
    expect(resolve(ROOT, dirname(file), match?.[1] ?? '')).toBe(join(ROOT, `schemas/${kind}.schema.json`))
  })
})

describe('broken files fail the schemas', () => {
  const inventory = (): Record<string, unknown> => parse(readFileSync(join(ROOT, 'inventories/lab.yml'), 'utf8')) as Record<string, unknown>
  const playbook = (): Record<string, unknown> => parse(readFileSync(join(ROOT, 'playbooks/ios-xe-install.yml'), 'utf8')) as Record<string, unknown>
  type Edit = (doc: Record<string, unknown>) => void
  const at = (doc: Record<string, unknown>, key: string): Record<string, unknown> => doc[key] as Record<string, unknown>
  const firstDevice = (doc: Record<string, unknown>): Record<string, unknown> => (doc['devices'] as Record<string, unknown>[])[0] ?? {}

  const inventoryCases: [string, Edit, RegExp][] = [
    ['an unknown top-level field', (d) => (d['stak'] = 'x'), /must NOT have additional properties/],
    ['an unknown device field', (d) => (firstDevice(d)['hots'] = 'x'), /\/devices\/0 must NOT have additional properties/],
    ['a wrong enum', (d) => (d['on_failure'] = 'abort'), /\/on_failure must be equal to one of the allowed values/],
    ['a duration in seconds', (d) => (d['timeouts'] = {boot: 900}), /\/timeouts\/boot must be string/],
    ['a duration with years', (d) => (d['timeouts'] = {boot: 'P1Y'}), /\/timeouts\/boot must match pattern/],
    ['a missing required field', (d) => delete d['stack'], /must have required property 'stack'/],
    ['two login methods', (d) => (at(d, 'ssh')['password_file'] = './pw'), /\/ssh must match exactly one schema in oneOf/],
    ['no login method', (d) => delete at(d, 'ssh')['password_env'], /\/ssh must match exactly one schema in oneOf/],
    ['a passphrase without a key', (d) => (at(d, 'ssh')['passphrase_env'] = 'PP'), /\/ssh must have property private_key when property passphrase_env is present/],
    ['a port out of range', (d) => (firstDevice(d)['port'] = 70000), /\/devices\/0\/port must be <= 65535/],
    ['a bad node address', (d) => (firstDevice(d)['node'] = '10.0.0.5'), /\/devices\/0\/node must match pattern/],
    ['an unknown lab fault', (d) => (firstDevice(d)['lab'] = {faults: ['explodes']}), /\/devices\/0\/lab\/faults\/0 must be equal to one of the allowed values/],
    ['a trap with two communities', (d) => (d['snmp'] = {traps: [{host: 'h', community: 'abcd', community_env: 'C'}]}), /\/snmp\/traps\/0 must match exactly one schema in oneOf/],
    ['tls with certificates and a PSK file', (d) => (d['chainsync'] = {tls: {ca: 'a', cert_dir: 'b', psk_file: 'c'}}), /\/chainsync\/tls must match exactly one schema in oneOf/],
  ]
  it.each(inventoryCases)('inventory: %s', (_name, edit, message) => {
    const doc = inventory()
    edit(doc)
    expect(errorsOf(validator('inventory'), doc).join('\n')).toMatch(message)
  })

  const gate = (list: string, g: Record<string, unknown>): Edit => (d) => (d['gates'] = {[list]: [g]})
  const playbookCases: [string, Edit, RegExp][] = [
    ['an unknown field', (d) => (d['upgarde'] = []), /must NOT have additional properties/],
    ['a wrong enum', gate('before', {name: 'g', scope: 'chain', run: 'true'}), /\/gates\/before\/0\/scope must be equal to one of the allowed values/],
    ['a gate with run and device_command', gate('after', {name: 'g', run: 'true', device_command: 'show x', expect: 'x'}), /must match exactly one schema in oneOf/],
    ['a device_command gate without expect', gate('after', {name: 'g', device_command: 'show x'}), /must match exactly one schema in oneOf/],
    ['scope outside before', gate('after', {name: 'g', scope: 'device', run: 'true'}), /\/gates\/after\/0 must NOT have additional properties/],
    ['a device command in a final gate', gate('final', {name: 'g', device_command: 'show x', expect: 'x'}), /\/gates\/final\/0 must NOT have additional properties/],
    ['a device command in a stack-wide before gate', gate('before', {name: 'g', scope: 'stack', device_command: 'show x', expect: 'x'}), /must match "then" schema/],
    ['no upgrade step', (d) => delete d['upgrade'], /must have required property 'upgrade'/],
    ['a step timeout in seconds', (d) => ((d['upgrade'] as Record<string, unknown>[])[0]!['timeout'] = 60), /\/upgrade\/0\/timeout must be string/],
    ['reload as text', (d) => ((d['upgrade'] as Record<string, unknown>[])[0]!['reload'] = 'yes'), /\/upgrade\/0\/reload must be boolean/],
  ]
  it.each(playbookCases)('playbook: %s', (_name, edit, message) => {
    const doc = playbook()
    edit(doc)
    expect(errorsOf(validator('playbook'), doc).join('\n')).toMatch(message)
  })

  it('accepts the inventory forms the loader accepts', () => {
    const variants: Edit[] = [
      (d) => (d['ssh'] = {username: 'u', private_key: './key', passphrase_env: 'PP', known_hosts: './kh'}),
      (d) => (d['ssh'] = {username: 'u', password_file: './pw', known_hosts: './kh'}),
      (d) => (d['snmp'] = {traps: [{host: '192.0.2.50', community_env: 'C'}, {host: 'nms.example.net', port: 1162, version: '2c', community: 'abcd'}]}),
      (d) => (d['chainsync'] = {tls: {ca: './ca.crt', cert_dir: './pki', pins: {sw1: `${'AB:'.repeat(31)}AB`}}, connect_timeout: 'PT10M'}),
      (d) => (d['chainsync'] = {tls: {psk_file: './psk'}, heartbeat: 'PT0.5S'}),
      (d) => (d['devices'] = [{name: 'sw1', host: '10.0.0.1', node: '10.0.0.5:7101'}, {name: 'sw2', host: '2001:db8::2', node: '[2001:db8::5]:7102', remote: true}]),
      (d) => (d['timeouts'] = {command: 'PT2M', boot: 'PT15M', predecessor: 'PT1H', gate: 'PT1M', connect: 'PT15S', run: 'P1DT4H'}),
      (d) => (d['on_failure'] = 'rollback'),
    ]
    for (const edit of variants) {
      const doc = inventory()
      edit(doc)
      expect(errorsOf(validator('inventory'), doc)).toEqual([])
    }
  })

  const trapVersions = (((jsonSchemaFor('inventory')['properties'] as Record<string, any>)['snmp'].properties.traps.items.properties.version.enum ?? []) as unknown[])
  it.runIf(trapVersions.includes(3))('SNMPv3 receivers: user, auth, priv and engine_id or inform; no community', () => {
    const v3 = {host: '192.0.2.50', version: 3, user: 'chainup', auth: {protocol: 'SHA-256', password_env: 'A'}, priv: {protocol: 'aes', password_env: 'P'}}
    const check = (trap: Record<string, unknown>) => {
      const doc = inventory()
      doc['snmp'] = {traps: [trap]}
      return errorsOf(validator('inventory', true), doc).join('\n')
    }
    expect(check({...v3, engine_id: '0x8000B98380C0FFEE0001'})).toBe('')
    expect(check({...v3, inform: true, timeout: 'PT5S', retries: 2})).toBe('')
    expect(check({...v3, engine_id: '0x8000B98380C0FFEE0001', community_env: 'C'})).toMatch(/must NOT be valid/)
    expect(check(v3)).toMatch(/must match exactly one schema in oneOf/)
    expect(check({...v3, inform: true, engine_id: '0x8000B98380C0FFEE0001'})).toMatch(/must match exactly one schema in oneOf/)
    expect(check({host: 'h', community_env: 'C', user: 'chainup'})).toMatch(/must NOT be valid/)
    expect(check({host: 'h', community_env: 'C', retries: 2})).toMatch(/must have required property 'inform'/)
  })

  it('accepts the gate forms the loader accepts', () => {
    const doc = playbook()
    doc['gates'] = {
      before: [
        {name: 'window', scope: 'stack', run: './w.sh', timeout: 'PT30S'},
        {name: 'healthy', device_command: 'show version', expect: 'uptime is', reject: 'crash'},
      ],
      after: [{name: 'on target', device_command: 'show version', expect: 'Version {{ target.version }}'}],
      on_error: [{name: 'noc', run: './noc.sh'}],
      final: [{name: 'notify', run: './notify.sh'}],
    }
    expect(errorsOf(validator('playbook'), doc)).toEqual([])
  })
})

describe('durations in the schema', () => {
  const re = new RegExp(DURATION_PATTERN, 'u')

  it.each(['PT30S', 'PT5M', 'PT1H30M', 'PT0.5S', 'PT0,5S', 'P1D', 'P1DT2H', 'P2W', 'P24D', 'PT1H0M0S'])('%s: the pattern and the loader accept it', (text) => {
    expect(re.test(text)).toBe(true)
    expect(parseDurationMs(text)).toBeGreaterThan(0)
  })

  it.each(['', 'P', 'PT', '5M', 'pt5m', 'P1Y', 'P1M', '-PT5M', 'PT5M ', 'PT5Mjunk', 'P1DT', 'PT.5S', '1h'])('%j: the pattern refuses it', (text) => {
    expect(re.test(text)).toBe(false)
  })

  it.each([
    [120_000, 'PT2M'],
    [900_000, 'PT15M'],
    [3_600_000, 'PT1H'],
    [5_400_000, 'PT1H30M'],
    [500, 'PT0.5S'],
    [86_400_000, 'P1D'],
    [90_061_000, 'P1DT1H1M1S'],
  ])('isoDuration(%d) = %s, and back', (ms, text) => {
    expect(isoDuration(ms)).toBe(text)
    expect(parseDurationMs(text)).toBe(ms)
    expect(re.test(text)).toBe(true)
  })
})
