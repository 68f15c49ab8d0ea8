/**
 * The playbook file: how to read a device's facts, the readiness checks, the upgrade task and the gates
 * (docs/playbook.md). {@link playbookSchema} checks one field at a time (including every placeholder and
 * regular expression); {@link checkPlaybook} checks the rules that span fields. Loading and positions: load.ts.
 */
import {z} from 'zod'

import {type Gate, type HttpGate, INPUT_LIMITS, type Playbook, type PlaybookStage, type PlaybookStep} from './types.js'
import {type CheckIssue, type LineOf, REPORTED_BY_CHECKS, durationOrZeroSchema, durationSchema, isRecord, maxLength, textSchema} from './common.js'
import {type TemplateVars, expandTemplate, unknownPlaceholderMessage, unknownPlaceholders, unquotablePlaceholders} from './template.js'

/** Flags every playbook pattern is compiled with: JavaScript syntax, `^` and `$` match at line breaks. */
export const PATTERN_FLAGS = 'm'

/** The default of `error_patterns`: IOS's `% Invalid input`, `% Incomplete command`, `% Ambiguous command`, `% Error ...`. */
export const DEFAULT_ERROR_PATTERNS = ['^%\\s*(Invalid|Incomplete|Ambiguous|Error)']

/** Values used to expand placeholders when checking patterns without an inventory. */
export const DUMMY_VARS: TemplateVars = {
  stack: 'stack-1',
  target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
  device: {name: 'sw1', host: '192.0.2.1'},
  previous: {version: '17.06.05', image: 'cat9k_iosxe.17.06.05.SPA.bin'},
}

/** Digests patterns are checked with when the inventory does not give them (they are computed from the image at run time). */
export const DUMMY_DIGESTS = {md5: 'd41d8cd98f00b204e9800998ecf8427e', sha512: 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e'}

const GATE_LISTS = ['before', 'after', 'on_error', 'final'] as const

/** Text sent to a device or a shell: every placeholder must be known. */
function commandSchema(what: string) {
  return textSchema(what).superRefine((text, ctx) => {
    for (const p of unknownPlaceholders(text)) ctx.addIssue({code: 'custom', message: unknownPlaceholderMessage(p), input: text})
  })
}

/** A gate's `run:` line for `/bin/sh -c`: every placeholder known, and each where chainup can quote it (template.ts). */
function runLineSchema() {
  return commandSchema('command').superRefine((text, ctx) => {
    for (const message of unquotablePlaceholders(text)) ctx.addIssue({code: 'custom', message, input: text})
  })
}

/** What the patterns of one load are checked with: each device's values, and the per-device checks left (INPUT_LIMITS.devicePatternChecks). */
interface PatternCheck {
  varsList: readonly TemplateVars[]
  perDeviceLeft: number
}

/**
 * A regular expression: every placeholder must be known, and the pattern must compile with {@link PATTERN_FLAGS}
 * after expansion with each of `check.varsList` (values regex-escaped). With `group`, it must define that named group.
 */
function patternSchema(check: PatternCheck, group?: string) {
  return z
    .string()
    .max(INPUT_LIMITS.text, maxLength(INPUT_LIMITS.text))
    .min(1, 'expected a regular expression, got an empty string')
    .superRefine((text, ctx) => {
      const unknown = unknownPlaceholders(text)
      for (const p of unknown) ctx.addIssue({code: 'custom', message: unknownPlaceholderMessage(p), input: text})
      if (unknown.length > 0) return
      // Only the device placeholders differ between the entries of varsList. Where every one of them stands in plain
      // regex context, each device's value parses the same way and one check stands for all: a playbook of many
      // patterns with 1000 devices costs patterns, not patterns × devices, compilations.
      const checked = new Set<string>()
      const perDevice = devicesMatter(text)
      for (const vars of perDevice ? check.varsList : check.varsList.slice(0, 1)) {
        const expanded = expandTemplate(text, withDigests(vars), 'regex')
        if (checked.has(expanded)) continue
        if (checked.size > 0 && --check.perDeviceLeft < 0) {
          ctx.addIssue({code: 'custom', message: TOO_MANY_DEVICE_CHECKS, input: text})
          return
        }
        checked.add(expanded)
        let re: RegExp
        try {
          re = new RegExp(expanded, PATTERN_FLAGS)
        } catch (error: unknown) {
          ctx.addIssue({code: 'custom', message: `invalid regular expression: ${regexErrorText(error)}`, input: text})
          return
        }
        if (group !== undefined && !definesGroup(re, group)) {
          ctx.addIssue({code: 'custom', message: `the pattern must capture the ${group} in a named group: (?<${group}>...)`, input: text})
          return
        }
      }
    })
}

/** `vars` with {@link DUMMY_DIGESTS} where the target's digests are not known at load time. */
function withDigests(vars: TemplateVars): TemplateVars {
  if (vars.target.md5 !== undefined && vars.target.sha512 !== undefined) return vars
  return {...vars, target: {md5: DUMMY_DIGESTS.md5, sha512: DUMMY_DIGESTS.sha512, ...vars.target}}
}

const TOO_MANY_DEVICE_CHECKS =
  `too many per-device pattern checks: a pattern with {{ device.name }} or {{ device.host }} inside [...], {...} or (?<...>) is compiled once per device, at most ${INPUT_LIMITS.devicePatternChecks} times per load`

/** `{{`, anything but braces, `}}`: the placeholder syntax of template.ts. */
const PLACEHOLDER = /\{\{([^{}]*)\}\}/g

/**
 * True when a pattern must be checked with every device's values: it holds `{{ device.name }}` or
 * `{{ device.host }}` where the inserted text could change how the pattern parses. Inserted values are regex-escaped
 * literals; outside a character class, a `{...}` quantifier, a group name (`(?<...>`, `\k<...>`), right after a
 * backslash and right after `(?`, every literal parses as itself, so whether the pattern compiles (and which named
 * groups it has) does not depend on the value. Conservative: anything it cannot place is "matters".
 */
function devicesMatter(text: string): boolean {
  const st = {
    inClass: false,
    inBraces: false,
    inGroupName: false,
    escaped: false,
    /** The last token in plain context: `(`, `(?`, `(?<`, an escaped `k`, or anything else. */
    last: '' as '(' | '(?' | '(?<' | '\\k' | '',
  }
  const step = (ch: string): void => {
    if (st.escaped) {
      st.escaped = false
      st.last = !st.inClass && !st.inGroupName && ch === 'k' ? '\\k' : ''
    } else if (ch === '\\') {
      st.escaped = true
    } else if (st.inClass) {
      st.inClass = ch !== ']'
    } else if (st.inGroupName) {
      st.inGroupName = ch !== '>'
    } else if (st.last === '(?<' && ch !== '=' && ch !== '!') {
      // `(?<name>`: the name starts here (`(?<=` and `(?<!` are lookbehinds).
      st.inGroupName = ch !== '>'
      st.last = ''
    } else {
      if (ch === '[') st.inClass = true
      else if (ch === '{') st.inBraces = true
      else if (ch === '}') st.inBraces = false
      else if (ch === '<' && st.last === '\\k') st.inGroupName = true
      st.last = ch === '(' ? '(' : ch === '?' && st.last === '(' ? '(?' : ch === '<' && st.last === '(?' ? '(?<' : ''
    }
  }
  let at = 0
  for (const match of text.matchAll(PLACEHOLDER)) {
    for (const ch of text.slice(at, match.index)) step(ch)
    at = match.index + match[0].length
    const name = (match[1] ?? '').trim()
    const plain = !st.escaped && !st.inClass && !st.inBraces && !st.inGroupName && (st.last === '' || st.last === '(')
    if (!plain && (name === 'device.name' || name === 'device.host')) return true
    // A value is a run of escaped literals (no `]`, `}`, `>`, `(`, `\\`): it ends an escape and any `(?` before it.
    st.escaped = false
    st.last = ''
  }
  return false
}

/** Strips V8's `Invalid regular expression: /src/flags: ` prefix, leaving e.g. `Unterminated group`. */
function regexErrorText(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  const match = /^Invalid regular expression: \/[\s\S]*\/[a-z]*: ([^\n]*)$/.exec(message)
  return match?.[1] ?? message
}

/** True when `re` defines the named group `name` (an empty alternative makes it match anywhere; `groups` lists every name). */
function definesGroup(re: RegExp, name: string): boolean {
  const probe = new RegExp(`(?:${re.source})|`, re.flags).exec('')
  return probe?.groups !== undefined && name in probe.groups
}

const stepFields = (check: PatternCheck) => ({
  name: textSchema('step name', INPUT_LIMITS.shortText),
  command: commandSchema('command'),
  expect: patternSchema(check).exactOptional(),
  reject: patternSchema(check).exactOptional(),
  reload: z.boolean().exactOptional(),
  timeout: durationSchema.exactOptional(),
  session: sessionModeSchema.exactOptional(),
  answers: z
    .array(z.strictObject({prompt: patternSchema(check), send: z.string().max(INPUT_LIMITS.shortText, maxLength(INPUT_LIMITS.shortText))}))
    .exactOptional(),
})

/** `session:` of a playbook or a step (docs/devices.md "Sessions: exec and interactive"). */
const sessionModeSchema = z.enum(['exec', 'interactive'], {error: (iss) => `expected "exec" or "interactive", got ${JSON.stringify(iss.input) ?? 'nothing'}`})

/** The zod schema of one step (`readiness`, `upgrade`); upgrade steps may carry a compensating action. */
function stepSchema(check: PatternCheck) {
  return z
    .strictObject({
      ...stepFields(check),
      compensate: z.array(z.strictObject(stepFields(check)).transform((s): PlaybookStep => s)).min(1, 'a compensating action needs at least one step').exactOptional(),
    })
    .transform((s): PlaybookStep => s)
}

/** An HTTP gate's `http:` (docs/playbook.md "HTTP gates"): url, method, headers, timeout, secret_env. */
function httpGateSchema() {
  return z
    .strictObject({
      url: textSchema('url').refine((u) => /^https?:\/\/[^\s/]+/i.test(u), 'expected an http:// or https:// URL'),
      method: z.enum(['POST', 'PUT']).default('POST'),
      headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'a header name: letters, digits and "-"'), textSchema('header value')).default({}),
      timeout: durationSchema.exactOptional(),
      secret_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name').exactOptional(),
    })
    .transform((h): HttpGate['http'] => h)
}

/** The zod schema of one gate as written (`run`, `device_command` or `http`), turned into the `kind`-tagged {@link Gate}. */
function gateSchema(check: PatternCheck) {
  return z
    .strictObject({
      name: textSchema('gate name', INPUT_LIMITS.shortText),
      scope: z.enum(['stack', 'device']).exactOptional(),
      run: runLineSchema().exactOptional(),
      device_command: commandSchema('command').exactOptional(),
      expect: patternSchema(check).exactOptional(),
      reject: patternSchema(check).exactOptional(),
      http: httpGateSchema().exactOptional(),
      timeout: durationSchema.exactOptional(),
    })
    .transform((g, ctx): Gate & {scope: 'stack' | 'device'} => {
      const scope = g.scope ?? 'device'
      const timeout = g.timeout === undefined ? {} : {timeout: g.timeout}
      if (g.run !== undefined) return {kind: 'command', name: g.name, run: g.run, ...timeout, scope}
      if (g.http !== undefined) return {kind: 'http', name: g.name, http: g.http, ...timeout, scope}
      if (g.device_command !== undefined && g.expect !== undefined) {
        return {
          kind: 'device_command',
          name: g.name,
          device_command: g.device_command,
          expect: g.expect,
          ...(g.reject === undefined ? {} : {reject: g.reject}),
          ...timeout,
          scope,
        }
      }
      // checkPlaybook reports the exact problem; this only keeps the parse from succeeding.
      ctx.issues.push({code: 'custom', message: REPORTED_BY_CHECKS, input: g, continue: false})
      return z.NEVER
    })
}

/** Where `stage.destination` may point: a file system (`flash:`) or a directory, no spaces or shell syntax. */
const DESTINATION = /^[A-Za-z0-9_.\/:+-]+$/

/** The zod schema of `stage` (docs/staging.md): how the inventory's `target.image_file` reaches a device. */
function stageSchema(check: PatternCheck) {
  return z
    .strictObject({
      method: z.enum(['scp', 'sftp'], {error: (iss) => `expected "scp" or "sftp", got ${JSON.stringify(iss.input) ?? 'nothing'}`}),
      destination: z
        .string()
        .max(INPUT_LIMITS.text, maxLength(INPUT_LIMITS.text))
        .regex(DESTINATION, 'expected a file system or directory such as "flash:" or "/var/tmp/" (letters, digits, "_", ".", "/", ":", "+", "-")')
        .default('flash:'),
      free_space: z
        .strictObject({
          command: commandSchema('command').exactOptional(),
          pattern: patternSchema(check, 'free').exactOptional(),
          unit: z.number({error: 'expected a number of bytes, e.g. 1024'}).int('expected a whole number of bytes').min(1, 'expected at least 1').max(1_073_741_824, 'expected at most 1073741824').exactOptional(),
        })
        .exactOptional(),
      verify: z.strictObject({
        command: commandSchema('command'),
        expect: patternSchema(check),
        timeout: durationSchema.exactOptional(),
      }),
    })
    .transform(
      (s): PlaybookStage => ({
        method: s.method,
        destination: s.destination,
        free_space: {command: s.free_space?.command ?? `dir ${s.destination}`, pattern: s.free_space?.pattern ?? DEFAULT_FREE_PATTERN, ...(s.free_space?.unit === undefined ? {} : {unit: s.free_space.unit})},
        verify: s.verify,
      }),
    )
}

/** IOS-XE's `dir` summary line: `11353194496 bytes total (8942338048 bytes free)`. */
export const DEFAULT_FREE_PATTERN = '\\((?<free>\\d+) bytes free\\)'

/** Drops `scope` from a gate outside `before` (checkPlaybook reports it when it was written there). */
function withoutScope(gate: Gate & {scope: 'stack' | 'device'}): Gate {
  const {scope: _scope, ...rest} = gate
  return rest
}

/**
 * The zod schema of one playbook file. Patterns are checked by expanding their placeholders with each of
 * `varsList` (use {@link DUMMY_VARS} when no inventory is at hand). Durations come out in milliseconds;
 * defaults are filled in. The output is a {@link Playbook} without `file` (the loader adds it).
 */
export function playbookSchema(varsList: readonly TemplateVars[] = [DUMMY_VARS]) {
  const check: PatternCheck = {varsList, perDeviceLeft: INPUT_LIMITS.devicePatternChecks}
  const gate = gateSchema(check)
  const gateList = z.array(gate.transform(withoutScope)).default([])
  return z.strictObject({
    name: textSchema('playbook name', INPUT_LIMITS.shortText),
    description: z.string().max(INPUT_LIMITS.text, maxLength(INPUT_LIMITS.text)).exactOptional(),
    platform: z.string().max(INPUT_LIMITS.shortText, maxLength(INPUT_LIMITS.shortText)).exactOptional(),
    session: sessionModeSchema.exactOptional(),
    prompt: patternSchema(check).exactOptional(),
    pager: commandSchema('command').exactOptional(),
    facts: z.strictObject({
      command: commandSchema('command'),
      version: patternSchema(check, 'version'),
      uptime: patternSchema(check, 'uptime').exactOptional(),
      restarted_at: patternSchema(check, 'restarted_at').exactOptional(),
      uptime_precision: durationSchema.default(60_000),
    }),
    settle: durationOrZeroSchema.default(30_000),
    error_patterns: z.array(patternSchema(check)).default(() => [...DEFAULT_ERROR_PATTERNS]),
    skip_if_on_target: z.boolean().default(true),
    readiness: z.array(stepSchema(check)).default([]),
    rollback_readiness: z.array(stepSchema(check)).default([]),
    upgrade: z.array(stepSchema(check)).min(1, 'at least one upgrade step is required'),
    stage: stageSchema(check).exactOptional(),
    gates: z
      .strictObject({
        before: z.array(gate).default([]),
        after: gateList,
        on_error: gateList,
        final: gateList,
      })
      .prefault({}),
  })
}

// Compile-time proof that the schema produces exactly the contract of types.ts.
type SchemaOutput = z.output<ReturnType<typeof playbookSchema>>
const _producesPlaybook = (x: SchemaOutput): Omit<Playbook, 'file'> => x
const _coversPlaybook = (x: Omit<Playbook, 'file'>): SchemaOutput => x
void _producesPlaybook
void _coversPlaybook

/**
 * The rules of a playbook that span fields: a gate runs either `run` or `device_command` (the latter with
 * `expect`), `scope` only under `before`, no device command in a stack-wide gate, unique step and gate names
 * per list. Works on the raw parsed YAML and skips whatever is malformed (the schema reports that).
 */
export function checkPlaybook(raw: Record<string, unknown>, lineOf: LineOf): CheckIssue[] {
  const issues: CheckIssue[] = []
  for (const list of ['readiness', 'rollback_readiness', 'upgrade'] as const) uniqueNames(raw[list], [list], 'step', lineOf, issues)

  const gates = raw['gates']
  if (!isRecord(gates)) return issues
  for (const list of GATE_LISTS) {
    const entries = gates[list]
    uniqueNames(entries, ['gates', list], 'gate', lineOf, issues)
    if (!Array.isArray(entries)) continue
    entries.forEach((g, i) => {
      if (!isRecord(g)) return
      const at = ['gates', list, i]
      const hasRun = 'run' in g
      const hasDevice = 'device_command' in g
      const hasHttp = 'http' in g
      if (hasHttp && (hasRun || hasDevice)) {
        issues.push({path: [...at, 'http'], at: 'key', message: `a gate has either ${hasRun ? 'run (a local command)' : 'device_command'} or http (a call to another system), not both`})
      } else if (hasRun && hasDevice) {
        issues.push({path: [...at, 'device_command'], at: 'key', message: 'a gate has either run (a local command) or device_command, not both'})
      } else if (!hasRun && !hasDevice && !hasHttp) {
        // (http, a call to another system, is the third kind: docs/playbook.md "HTTP gates")
        issues.push({path: at, message: 'a gate needs either run (a local command) or device_command (a command on the device, with expect)'})
      } else if (hasDevice && !('expect' in g)) {
        issues.push({path: [...at, 'expect'], message: 'missing required field "expect" (a device_command gate passes when its output matches expect)'})
      } else if (hasRun || hasHttp) {
        for (const field of ['expect', 'reject'] as const) {
          if (field in g) issues.push({path: [...at, field], at: 'key', message: `${field} only applies to device_command gates (${hasRun ? 'a run gate allows with exit code 0' : 'an http gate allows with {"decision": "allow"}'})`})
        }
      }
      if ('scope' in g && list !== 'before') {
        issues.push({path: [...at, 'scope'], at: 'key', message: `scope is only allowed under gates.before (gates.${list} gates have a fixed scope)`})
      }
      const stackWide = list === 'final' || (list === 'before' && g['scope'] === 'stack')
      if (stackWide && hasDevice) {
        issues.push({path: [...at, 'device_command'], at: 'key', message: 'a stack-wide gate cannot run a device command'})
      }
    })
  }
  return issues
}

function uniqueNames(entries: unknown, at: (string | number)[], what: string, lineOf: LineOf, issues: CheckIssue[]): void {
  if (!Array.isArray(entries)) return
  const seen = new Map<string, number>()
  entries.forEach((entry, i) => {
    if (!isRecord(entry) || typeof entry['name'] !== 'string') return
    const name = entry['name']
    const first = seen.get(name)
    if (first === undefined) {
      seen.set(name, i)
      return
    }
    const line = lineOf([...at, first, 'name'])
    issues.push({path: [...at, i, 'name'], message: `duplicate ${what} name "${name}"${line === undefined ? '' : ` (first at line ${line})`}`})
  })
}
