/**
 * JSON Schemas of the inventory and playbook files, for editors (yaml-language-server and the like): generated from
 * the zod schemas of inventory.ts and playbook.ts with zod's `z.toJSONSchema`, on the **input** side (what the file
 * holds: durations as ISO 8601 text, paths as written, defaults optional), as JSON Schema draft-07, which every
 * editor's YAML support understands.
 *
 * What zod cannot express is added here: the ISO 8601 duration pattern (a transform in zod; durations are found by
 * what they do, see `isDuration`), defaults of durations as text (`PT2M`, not 120000), a description of every field
 * (docs/inventory.md, docs/playbook.md), and the "exactly one of" rules the cross-field checks enforce (login method,
 * SNMP community, gate kind, TLS credentials). The loader stays the authority: rules such as unique names, known
 * placeholders and compiling patterns are not in the schema.
 * `chainup schema inventory|playbook` prints these; `npm run schemas` writes them to `schemas/`.
 */
import {z} from 'zod'

import {inventorySchema} from './inventory.js'
import {playbookSchema} from './playbook.js'

/** The file kinds that have a JSON Schema. */
import {SCHEMA_KINDS, type SchemaKind} from './schema-kinds.js'

export {SCHEMA_KINDS, type SchemaKind}

/** A JSON Schema object (draft-07). */
export type JsonSchema = Record<string, unknown>

/**
 * ISO 8601 durations as chainup accepts them: weeks, days, hours, minutes, seconds (a fraction with `.` or `,`), at
 * least one component, `T` before the time part; no years or months (no fixed length), no sign.
 */
export const DURATION_PATTERN = '^P(?!$)(\\d+([.,]\\d+)?W)?(\\d+([.,]\\d+)?D)?(T(?=\\d)(\\d+([.,]\\d+)?H)?(\\d+([.,]\\d+)?M)?(\\d+([.,]\\d+)?S)?)?$'

const DURATION_TEXT = 'ISO 8601 duration of at most P24D, e.g. PT30S, PT5M, PT1H30M, P1D (no years or months)'

/** `host:port` of a ChainSync node, IPv6 in brackets (the loader checks the host and the port range). */
const NODE_ADDRESS_PATTERN = '^(\\[[^\\]]+\\]|[^:\\s\\[\\]]+):\\d{1,5}$'

const PATH_TEXT = 'relative to the inventory file (or absolute, or starting with ~/); must exist when the inventory is loaded'
const PATTERN_TEXT = 'JavaScript regular expression (flag m: ^ and $ match at every line); placeholders such as {{ target.version }} allowed'

/** Field descriptions by path (`a.b`, `[]` for a list's items); keywords beyond `description` are added as given. */
type Annotation = string | ({description: string} & JsonSchema)

const INVENTORY: Record<string, Annotation> = {
  '': 'chainup inventory: one stack, its devices in chain order, the target, how to log in (docs/inventory.md)',
  stack: 'Name of the chain: letters, digits, ".", "_", "-", starting with a letter or digit, at most 64 characters.',
  playbook: `Path of the playbook file, ${PATH_TEXT}.`,
  target: 'The software every device ends up on.',
  'target.version': 'The version as `show version` prints it, e.g. "17.09.05". Quote it: YAML reads 17.10 as the number 17.1.',
  'target.image': 'The image file name on flash:, e.g. cat9k_iosxe.17.09.05.SPA.bin (no "/" or ":").',
  'target.image_file': `The local image file chainup copies to every device during readiness (docs/staging.md), ${PATH_TEXT}.`,
  'target.md5': 'The image\'s MD5, 32 hex digits (with image_file; computed from the file when not given).',
  'target.sha512': 'The image\'s SHA-512, 128 hex digits (with image_file; computed from the file when not given).',
  staging: 'Image staging (docs/staging.md); only used when target.image_file is set.',
  'staging.concurrency': 'Devices copying the image at the same time, across the whole run.',
  'staging.attempts': 'Copies tried per device before it is not ready (an interrupted copy is retried from scratch).',
  ssh: 'How to log in: username and exactly one of password_env, password_file, private_key. Host keys from known_hosts or every device\'s host_key.',
  'ssh.username': 'Login name.',
  'ssh.password_env': 'Name of the environment variable holding the password.',
  'ssh.password_file': `Path of a file whose first line is the password, ${PATH_TEXT}.`,
  'ssh.private_key': `Path of an OpenSSH private key, ${PATH_TEXT}.`,
  'ssh.passphrase_env': 'Name of the environment variable holding the private key\'s passphrase (only with private_key).',
  'ssh.known_hosts': `Path of an OpenSSH known_hosts file holding the devices' host keys, ${PATH_TEXT}.`,
  'ssh.host_key_policy': 'strict (default): a device must present the same host key after its reload. repin-after-reload: a changed key is accepted only after that device\'s own reload, journaled and written to known_hosts.',
  'ssh.max_output_bytes': 'The most output one device command may print (stdout and stderr together), bytes; default 16 MiB.',
  timeouts: 'ISO 8601 durations.',
  'timeouts.command': 'Per device command (a step\'s own timeout overrides it).',
  'timeouts.boot': 'A reloaded device must be back (SSH works, a new boot reported) within this.',
  'timeouts.predecessor': 'A device halts the chain when the device before it works on its upgrade longer than this.',
  'timeouts.gate': 'Default gate timeout; a gate that exceeds it vetoes.',
  'timeouts.connect': 'SSH connect and handshake, per attempt.',
  'timeouts.transfer': 'One image copy (one attempt of staging); never the command timeout.',
  'timeouts.settle': 'Overrides the playbook\'s settle: how long a device must keep answering after its boot before it counts as back (PT0S: no wait).',
  'timeouts.run': 'Maximum execution time of the whole run (no limit by default): past it no new device starts and the run fails.',
  snmp: 'SNMP trap receivers.',
  'snmp.uptime': 'Read each device\'s sysUpTime.0 over SNMPv2c as boot evidence when the playbook\'s facts give neither a restart time nor an uptime (docs/devices.md).',
  'snmp.uptime.community_env': 'Environment variable holding the read community.',
  'snmp.uptime.port': 'UDP port of the devices\' SNMP agents (devices[].snmp_port overrides it).',
  'snmp.uptime.timeout': 'How long one GET may take.',
  'snmp.enterprise_oid': 'The enterprise OID the traps are sent under, dotted, in quotes, e.g. "1.3.6.1.4.1.32473" (docs/snmp.md).',
  'snmp.traps': 'Trap receivers: version 2c with exactly one of community and community_env; version 3 with user, auth and priv (docs/snmp.md).',
  'snmp.traps[].host': 'Host name or IP address of the trap receiver.',
  'snmp.traps[].port': 'UDP port.',
  'snmp.traps[].version': 'SNMP version: 2c (community) or 3 (USM authPriv: user, auth, priv).',
  'snmp.traps[].community': 'Version 2c: the community, written literally (prefer community_env).',
  'snmp.traps[].community_env': 'Version 2c: name of the environment variable holding the community.',
  'snmp.traps[].user': 'Version 3: the USM user name, 1 to 32 characters.',
  'snmp.traps[].auth': 'Version 3: authentication protocol and the environment variable holding its password.',
  'snmp.traps[].auth.protocol': 'SHA, SHA-224, SHA-256, SHA-384 or SHA-512 (any case; MD5 is refused).',
  'snmp.traps[].auth.password_env': 'Name of the environment variable holding the authentication password.',
  'snmp.traps[].priv': 'Version 3: privacy protocol and the environment variable holding its password.',
  'snmp.traps[].priv.protocol': 'AES (= AES-128), AES-256 (= AES-256B, Blumenthal) or AES-256-C (= AES-256R, Reeder, Cisco\'s) (any case; DES and AES-192 are refused).',
  'snmp.traps[].priv.password_env': 'Name of the environment variable holding the privacy password.',
  'snmp.traps[].engine_id': 'Version 3 traps: chainup\'s engine ID as the receiver knows it (its createUser -e value), hex in quotes, e.g. "0x8000B98380C0FFEE0001"; not with inform.',
  'snmp.traps[].inform': 'true: send informs, which the receiver acknowledges (resent when not), instead of traps.',
  'snmp.traps[].timeout': 'Informs: how long to wait for the acknowledgement.',
  'snmp.traps[].retries': 'Informs: resends when no acknowledgement arrives, 0 to 10.',
  on_failure: 'What a failure that halts the chain leads to: halt (leave every device as it is) or rollback (undo, failed device first, then in reverse chain order).',
  lab: 'Settings for the simulated lab (--lab only).',
  'lab.version': 'Version every simulated device starts on.',
  'lab.boot_time': 'How long a reload keeps a simulated device down.',
  chainsync: 'How the devices\' ChainSync nodes talk to each other.',
  'chainsync.extensions': 'Send chainup\'s extension lines (HELLO, EXECUTING, ABORT, HEARTBEAT, ROUND); false: only the draft\'s READY/START/COMPLETE.',
  'chainsync.connect_timeout': 'How long a node keeps dialing its predecessor and waiting for its successor at the start of a run.',
  'chainsync.heartbeat': 'Heartbeat interval (with extensions): a link silent for 3 intervals is dead.',
  'chainsync.reconnect_grace': 'A link that drops during a round must be back within this.',
  'chainsync.insecure_plain_tcp': 'true: plain TCP, nothing authenticated (interop with draft-only peers). Not together with tls.',
  'chainsync.tls': 'TLS 1.3 with mutual authentication: ca + cert_dir (certificates), or psk_file (pre-shared keys). Required when a device is remote.',
  'chainsync.tls.ca': `The CA certificate (PEM), ${PATH_TEXT}.`,
  'chainsync.tls.cert_dir': `Directory holding <device>.crt and <device>.key, as chainup certs init writes them, ${PATH_TEXT}.`,
  'chainsync.tls.pins': 'Certificates only: device name -> SHA-256 fingerprint of its certificate ("AB:CD:...", 32 hex pairs).',
  'chainsync.tls.psk_file': `File of "name: hexkey" lines, one per device, ${PATH_TEXT}.`,
  devices: 'The devices in chain order: the first is upgraded first (Head), the last last (Tail).',
  'devices[].name': 'Unique in the stack; also the device\'s name in ChainSync, the journal and the progress display.',
  'devices[].host': 'Host name (RFC 1123) or IPv4/IPv6 literal of the device\'s SSH service; host:port unique in the stack.',
  'devices[].port': 'SSH port.',
  'devices[].host_key': 'Expected host key fingerprint as ssh-keygen -lf prints it: SHA256: and 43 base64 characters.',
  'devices[].lab': 'Per-device lab settings (--lab only), over the top-level lab.',
  'devices[].lab.version': 'Version this simulated device starts on.',
  'devices[].lab.boot_time': 'How long a reload keeps this simulated device down.',
  'devices[].lab.faults': 'Fault switches of this simulated device (docs/lab.md).',
  'devices[].node': {description: 'Address of the device\'s ChainSync node, "host:port" (IPv6: "[2001:db8::5]:7100", quoted). With any remote device every device needs one.', pattern: NODE_ADDRESS_PATTERN},
  window: 'Maintenance window: chainup upgrade starts only inside it (exit 5 outside), and a device starts only when what is left of the window covers its estimated duration (docs/operations.md).',
  'window.cron': 'When each window opens: a standard 5-field crontab expression in quotes, e.g. "0 2 * * 6" (Saturdays 02:00), or a nickname such as @daily.',
  'window.duration': 'How long each window stays open, at least PT1M.',
  'window.timezone': 'IANA time zone the cron expression is read in, spelled as the zone database spells it, e.g. "Europe/Berlin" or "UTC".',
  'devices[].snmp_port': 'The device\'s SNMP agent port for snmp.uptime (default that section\'s port).',
  'devices[].remote': 'true: the device\'s node runs elsewhere (chainup node --inventory FILE --device NAME); needs chainsync.tls.',
}

const PLAYBOOK: Record<string, Annotation> = {
  '': 'chainup playbook: how to read a device\'s facts, the readiness checks, the upgrade steps and the gates (docs/playbook.md)',
  name: 'Name of the playbook, shown in messages.',
  description: 'Free text.',
  platform: 'Free text, e.g. ios-xe.',
  session: 'How commands reach the device unless a step says otherwise: exec (an exec channel per command, the default) or interactive (a PTY shell; docs/devices.md).',
  prompt: `Interactive sessions: pattern the last line matches when the CLI waits for a command; ${PATTERN_TEXT}.`,
  pager: 'Interactive sessions: the command sent first to turn the pager off, e.g. "terminal length 0".',
  facts: 'How to read the device\'s version, uptime and restart time.',
  'facts.command': 'The command that prints the facts, e.g. show version.',
  'facts.version': `Pattern with the named group (?<version>...) capturing the running version; ${PATTERN_TEXT}.`,
  'facts.uptime': `Pattern with the named group (?<uptime>...); ${PATTERN_TEXT}.`,
  'facts.restarted_at': `Pattern with the named group (?<restarted_at>...); ${PATTERN_TEXT}.`,
  'facts.uptime_precision': 'The granularity of the uptime the device prints (IOS: whole minutes).',
  settle: 'After a reload, how long the device must keep answering (with the same boot) before it counts as back and its after gates run; PT0S: no wait. The inventory\'s timeouts.settle overrides it.',
  stage: 'How the inventory\'s target.image_file is copied to a device during readiness and proven intact (docs/staging.md).',
  'stage.method': 'scp (the SCP sink protocol over an exec channel) or sftp (the SFTP subsystem).',
  'stage.destination': 'Where the image goes, e.g. "flash:" (IOS-XE) or "/var/tmp/"; the image\'s name is appended.',
  'stage.free_space': 'How the image\'s presence and the free space are read.',
  'stage.free_space.command': 'Lists the destination; default "dir <destination>".',
  'stage.free_space.unit': 'Bytes per unit of the captured free value, e.g. 1024 for 1024-byte blocks; default 1.',
  'stage.free_space.pattern': `Pattern with the named group (?<free>\\d+): free bytes; default IOS-XE's "(N bytes free)"; ${PATTERN_TEXT}.`,
  'stage.verify': 'The on-device digest check, after a copy and to skip a copy.',
  'stage.verify.command': 'e.g. verify /md5 flash:{{ target.image }}.',
  'stage.verify.expect': `Pattern the output must match, e.g. '{{ target.md5 }}'; ${PATTERN_TEXT}.`,
  'stage.verify.timeout': 'Overrides timeouts.command for the verify command (a device hashes 1 GB in minutes).',
  error_patterns: 'Patterns; a match in any command\'s output fails that step. Setting the field replaces the default ([] turns it off).',
  'error_patterns[]': PATTERN_TEXT,
  skip_if_on_target: 'A device whose facts already show target.version skips its upgrade steps.',
  readiness: 'Read-only steps that make a device ready, run before the chain reaches it.',
  rollback_readiness: 'Read-only steps that check a rollback would be possible; run only with on_failure: rollback.',
  upgrade: 'The steps of the device\'s upgrade task, at least one; one marked reload: true.',
  'step.name': 'Unique within its list; shown in the progress display and the journal.',
  'step.command': 'The command line; may hold placeholders such as {{ target.image }}.',
  'step.expect': `Pattern the output must match, else the step fails; ${PATTERN_TEXT}.`,
  'step.reject': `Pattern the output must not match, else the step fails; ${PATTERN_TEXT}.`,
  'step.reload': 'true when the command makes the device reload: chainup then waits (timeouts.boot) for it to come back with a new boot.',
  'step.timeout': 'Overrides the inventory\'s timeouts.command for this step.',
  'step.session': 'Overrides the playbook\'s session for this step: exec (its own exec channel) or interactive (the connection\'s PTY shell).',
  'step.answers': 'Interactive only: confirmation prompts answered while the command runs.',
  'step.answers[].prompt': `Pattern matched against the last line the device printed, e.g. '\\(y/n\\)\\?'; ${PATTERN_TEXT}.`,
  'step.answers[].send': 'Text typed in answer, followed by Enter; "" just presses Enter.',
  'step.compensate': 'upgrade steps: the steps that undo this one when the run rolls back, run in the given order.',
  gates: 'Gates that allow or veto: before, after, on_error, final.',
  'gates.before': 'scope: stack: once before any device is touched (run only); scope: device (default): per device, in its readiness.',
  'gates.after': 'Per device, after its upgrade task.',
  'gates.on_error': 'Per device when its task fails: all allow = continue, any veto = halt.',
  'gates.final': 'Once, after all devices are done (run only).',
  'gate.name': 'Unique within its list.',
  'gate.scope': 'before gates only: stack (once, local command only) or device (default).',
  'gate.run': 'A local command (/bin/sh -c, in the playbook\'s directory): exit 0 = allow; the first line of its output is the reason. Prefer the CHAINUP_* variables to placeholders.',
  'gate.device_command': 'A command on the device; allows when its output matches expect and does not match reject.',
  'gate.expect': `device_command gates: pattern the output must match to allow; ${PATTERN_TEXT}.`,
  'gate.reject': `device_command gates: pattern the output must not match; ${PATTERN_TEXT}.`,
  'gate.timeout': 'Overrides the inventory\'s timeouts.gate; a gate that exceeds it vetoes.',
  'gate.http': 'A call to another system (docs/playbook.md "HTTP gates"): the gate context is sent as JSON and {"decision": "allow"|"veto", "reason": "..."} decides; anything else, a non-2xx status or a timeout vetoes.',
  'gate.http.url': 'http:// or https:// URL; placeholders are filled in, URL-encoded.',
  'gate.http.method': 'POST (default) or PUT.',
  'gate.http.headers': 'Extra request headers; placeholders are filled in.',
  'gate.http.timeout': 'Overrides the gate\'s timeout.',
  'gate.http.secret_env': 'Environment variable holding the HMAC-SHA256 key: the body is signed in X-Chainup-Signature: sha256=<hex>.',
}

/**
 * The JSON Schema (draft-07) of an inventory or a playbook file, as an object ready for `JSON.stringify`.
 * Deterministic: the same zod schemas give the same object.
 */
export function jsonSchemaFor(kind: SchemaKind): JsonSchema {
  const zodSchema = kind === 'inventory' ? inventorySchema('.') : playbookSchema()
  const generated = z.toJSONSchema(zodSchema, {
    target: 'draft-07',
    io: 'input',
    // Every transform in these schemas sits behind a pipe whose input side is representable; nothing should get here.
    unrepresentable: 'throw',
    override: ({zodSchema: s, jsonSchema}) => {
      if (isDuration(s)) {
        jsonSchema.pattern = DURATION_PATTERN
        jsonSchema.description = DURATION_TEXT
      }
      const def = s._zod.def
      // zod drops the default of a transformed value on the input side (it is the output, ms): give it as text.
      if (def.type === 'default' && isDuration(def.innerType)) {
        const ms: unknown = def.defaultValue
        if (typeof ms === 'number') jsonSchema.default = isoDuration(ms)
      }
    },
  }) as JsonSchema
  // A plain JSON copy: the walk below may edit shared nodes freely.
  const schema = JSON.parse(JSON.stringify(generated)) as JsonSchema
  const annotations = kind === 'inventory' ? INVENTORY : PLAYBOOK
  annotate(schema, [], kind === 'inventory' ? (p) => p : playbookKey, annotations)
  if (kind === 'inventory') addInventoryRules(schema)
  else addPlaybookRules(schema)
  return {
    $schema: schema['$schema'],
    $comment: `Generated from chainup's zod schemas by \`chainup schema ${kind}\`; do not edit: run npm run schemas.`,
    title: `chainup ${kind}`,
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  }
}

/**
 * True for a duration field: a pipe that turns `PT5M` into 300000 (ms). Asked of the schema itself rather than by
 * identity, so `durationSchema`, its refinements and any other duration schema of common.ts are all found.
 */
function isDuration(schema: z.core.$ZodType): boolean {
  if (schema._zod.def.type !== 'pipe') return false
  const probe = z.safeParse(schema, 'PT5M')
  return probe.success && probe.data === 300_000
}

/** Step and gate fields share their descriptions across lists (`upgrade[].compensate[].name` → `step.name`). */
function playbookKey(path: string): string {
  return path
    .replace(/^(readiness|rollback_readiness|upgrade)\[\](\.compensate\[\])?(?=\.)/, 'step')
    .replace(/^gates\.(before|after|on_error|final)\[\](?=\.)/, 'gate')
}

/** Adds the descriptions (and extra keywords) of `table` to every property, walking objects and list items. */
function annotate(node: JsonSchema, path: string[], keyOf: (path: string) => string, table: Record<string, Annotation>): void {
  const here = path.join('.').replace(/\.\[\]/g, '[]')
  const entry = table[keyOf(here)]
  if (entry !== undefined) {
    const {description, ...extra} = typeof entry === 'string' ? {description: entry} : entry
    // A duration keeps its generic text after the field's own.
    const generic = typeof node['description'] === 'string' && node['description'] !== description ? ` ${node['description']}.` : ''
    Object.assign(node, extra, {description: description + generic})
  }
  const properties = node['properties']
  if (isObject(properties)) {
    for (const [key, child] of Object.entries(properties)) if (isObject(child)) annotate(child, [...path, key], keyOf, table)
  }
  const items = node['items']
  if (isObject(items)) annotate(items, [...path, '[]'], keyOf, table)
}

/** The cross-field rules of `checkInventory` that JSON Schema can say. */
function addInventoryRules(schema: JsonSchema): void {
  const ssh = child(schema, 'ssh')
  ssh['oneOf'] = ['password_env', 'password_file', 'private_key'].map((field) => ({required: [field]}))
  ssh['dependencies'] = {passphrase_env: ['private_key']}
  // SNMP version 3 (where the loader knows it) takes user, auth, priv and engine_id or inform; 2c one community.
  const trap = child(child(child(schema, 'snmp'), 'traps'), '[]')
  const informs = {properties: {inform: {const: true}}, required: ['inform']}
  const anyOf = (...fields: string[]) => ({anyOf: fields.map((f) => ({required: [f]}))})
  trap['if'] = {properties: {version: {const: 3}}, required: ['version']}
  trap['then'] = {
    required: ['user', 'auth', 'priv'],
    not: anyOf('community', 'community_env'),
    oneOf: [{required: ['engine_id'], not: informs}, {...informs, not: {required: ['engine_id']}}],
  }
  trap['else'] = {oneOf: [{required: ['community']}, {required: ['community_env']}], not: anyOf('user', 'auth', 'priv', 'engine_id')}
  trap['dependencies'] = {retries: informs}
  const tls = child(child(schema, 'chainsync'), 'tls')
  tls['oneOf'] = [
    {required: ['ca', 'cert_dir'], not: {required: ['psk_file']}},
    {required: ['psk_file'], not: {anyOf: [{required: ['ca']}, {required: ['cert_dir']}, {required: ['pins']}]}},
  ]
}

/** The cross-field rules of `checkPlaybook` that JSON Schema can say: a gate's kind, `scope` only under `before`, no device command in a stack-wide gate. */
function addPlaybookRules(schema: JsonSchema): void {
  const gates = child(schema, 'gates')
  const kinds = [
    {required: ['run'], not: {anyOf: [{required: ['device_command']}, {required: ['expect']}, {required: ['reject']}, {required: ['http']}]}},
    {required: ['device_command', 'expect'], not: {anyOf: [{required: ['run']}, {required: ['http']}]}},
    {required: ['http'], not: {anyOf: [{required: ['run']}, {required: ['device_command']}, {required: ['expect']}, {required: ['reject']}]}},
  ]
  for (const list of ['before', 'after', 'on_error', 'final']) {
    const gate = child(child(gates, list), '[]')
    const properties = child(gate, 'properties')
    if (list !== 'before') delete properties['scope']
    if (list === 'final') {
      for (const field of ['device_command', 'expect', 'reject']) delete properties[field]
      gate['required'] = ['name']
      gate['oneOf'] = [{required: ['run'], not: {required: ['http']}}, {required: ['http'], not: {required: ['run']}}]
    } else {
      gate['oneOf'] = kinds
    }
    if (list === 'before') {
      gate['if'] = {properties: {scope: {const: 'stack'}}, required: ['scope']}
      gate['then'] = {not: {required: ['device_command']}}
    }
  }
}

/** `properties[key]`, or `items` for `[]`, of a generated schema node (which must be there). */
function child(node: JsonSchema, key: string): JsonSchema {
  const next = key === '[]' ? node['items'] : key === 'properties' ? node['properties'] : (node['properties'] as JsonSchema | undefined)?.[key]
  if (!isObject(next)) throw new Error(`json-schema: no ${key} in the generated schema`)
  return next
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Milliseconds as the shortest ISO 8601 duration: 120000 → `PT2M`, 5400000 → `PT1H30M`, 500 → `PT0.5S`, 86400000 → `P1D`. */
export function isoDuration(ms: number): string {
  const days = Math.floor(ms / 86_400_000)
  let rest = ms - days * 86_400_000
  const hours = Math.floor(rest / 3_600_000)
  rest -= hours * 3_600_000
  const minutes = Math.floor(rest / 60_000)
  const seconds = (rest - minutes * 60_000) / 1000
  const time = `${hours ? `${hours}H` : ''}${minutes ? `${minutes}M` : ''}${seconds ? `${seconds}S` : ''}`
  if (days === 0 && time === '') return 'PT0S'
  return `P${days ? `${days}D` : ''}${time ? `T${time}` : ''}`
}
