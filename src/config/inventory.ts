/**
 * The inventory file: which stack, which devices in which order, how to log in, which target (docs/inventory.md).
 * {@link inventorySchema} checks one field at a time; {@link checkInventory} checks the rules that span fields.
 * Both always run, so one load reports every problem of the file. Loading and positions: load.ts.
 */
import {Cron} from 'croner'
import {z} from 'zod'

import {INPUT_LIMITS, type Inventory, LAB_FAULTS, SNMP_AUTH_PROTOCOLS, SNMP_PRIV_PROTOCOLS} from './types.js'
import {
  type CheckIssue,
  type LineOf,
  describeValue,
  durationOrZeroSchema,
  durationSchema,
  envNameSchema,
  existingFileSchema,
  hostSchema,
  isRecord,
  maxLength,
  nameSchema,
  portSchema,
  textSchema,
} from './common.js'

/** `ssh-keygen -lf` output for a SHA-256 fingerprint: `SHA256:` and 43 base64 characters without padding. */
const HOST_KEY_PATTERN = /^SHA256:[A-Za-z0-9+/]{43}$/

/** The fields of `ssh` that choose how to log in; exactly one must be set. */
const AUTH_METHODS = ['password_env', 'password_file', 'private_key'] as const

// Both end up in device commands and, in `run` gates, in shell command lines: no spaces, no shell syntax.
const versionSchema = z
  .string()
  .max(INPUT_LIMITS.version, maxLength(INPUT_LIMITS.version))
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+()-]*$/, 'expected a version as `show version` prints it, e.g. "17.09.05" (letters, digits, ".", "_", "-", "+", "(", ")")')

const imageSchema = z
  .string()
  .max(INPUT_LIMITS.image, maxLength(INPUT_LIMITS.image))
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._+-]*$/,
    'expected a plain file name such as "cat9k_iosxe.17.09.05.SPA.bin" (letters, digits, ".", "_", "-", "+"; no "/" or ":": chainup looks for it on flash:)',
  )

/** A digest as hex (either case; stored in lower case): `target.md5`, `target.sha512`. */
function hexDigestSchema(what: string, digits: number) {
  return z
    .string({error: (iss) => (iss.input === undefined ? undefined : `expected the image's ${what} as ${digits} hex digits (in quotes), got ${describeValue(iss.input)}`)})
    .max(INPUT_LIMITS.text, maxLength(INPUT_LIMITS.text))
    .regex(new RegExp(`^[0-9a-fA-F]{${digits}}$`), `expected the image's ${what} as ${digits} hex digits`)
    .transform((hex) => hex.toLowerCase())
}

const faultSchema = z.enum(LAB_FAULTS, {error: (iss) => `unknown fault ${describeValue(iss.input)}; known: ${LAB_FAULTS.join(', ')}`})

const labDeviceSchema = z.strictObject({
  version: versionSchema.exactOptional(),
  boot_time: durationSchema.exactOptional(),
  faults: z.array(faultSchema).exactOptional(),
})

/** `host:port` (IPv6 as `[addr]:port`) of a ChainSync node. */
const nodeAddressSchema = z.string().max(INPUT_LIMITS.text, maxLength(INPUT_LIMITS.text)).transform((text, ctx) => {
  const m = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text)
  const host = m?.[1] ?? m?.[2]
  const port = Number(m?.[3])
  if (!m || !host || !hostSchema.safeParse(host).success || !(port >= 1 && port <= 65535)) {
    ctx.addIssue({code: 'custom', message: 'expected a ChainSync node address as host:port, e.g. "10.0.0.5:7100" or "[2001:db8::5]:7100"'})
    return z.NEVER
  }
  return {host, port}
})

const deviceSchema = z.strictObject({
  name: nameSchema('device name'),
  host: hostSchema,
  port: portSchema.default(22),
  host_key: z.string().regex(HOST_KEY_PATTERN, 'expected a SHA256: fingerprint as ssh-keygen -lf prints it').exactOptional(),
  lab: labDeviceSchema.exactOptional(),
  node: nodeAddressSchema.exactOptional(),
  remote: z.boolean({error: 'expected true or false'}).default(false),
  snmp_port: portSchema.exactOptional(),
})

/**
 * An SNMPv3 USM protocol name, in any case, as Net-SNMP's tools spell it; the output is the canonical spelling.
 * Unsupported ones are refused naming the allowed list (and why, for the well-known weak ones).
 */
function usmProtocolSchema<P extends string>(what: string, allowed: readonly P[], refused: Readonly<Record<string, string>>) {
  return z
    .string({error: (iss) => `expected the ${what} protocol as text, one of ${allowed.join(', ')}, got ${describeValue(iss.input)}`})
    .max(INPUT_LIMITS.shortText, maxLength(INPUT_LIMITS.shortText))
    .transform((text, ctx) => {
      const found = allowed.find((p) => p.toLowerCase() === text.trim().toLowerCase())
      if (found !== undefined) return found
      const why = refused[text.trim().toUpperCase()]
      ctx.addIssue({code: 'custom', message: `unsupported ${what} protocol ${describeValue(text)}${why ? ` (${why})` : ''}; allowed (any case): ${allowed.join(', ')}`})
      return z.NEVER
    })
}

const usmAuthSchema = z.strictObject({
  protocol: usmProtocolSchema('authentication', SNMP_AUTH_PROTOCOLS, {MD5: 'too weak'}),
  password_env: envNameSchema,
})

const usmPrivSchema = z.strictObject({
  protocol: usmProtocolSchema('privacy', SNMP_PRIV_PROTOCOLS, {
    DES: 'broken, and Node needs a legacy OpenSSL provider for it',
    '3DES': 'net-snmp does not implement it',
    'AES-192': 'net-snmp does not implement it',
    'AES-192-C': 'net-snmp does not implement it',
  }),
  password_env: envNameSchema,
})

/** One receiver. Which fields go with which version: {@link checkInventory} (docs/snmp.md). */
const trapSchema = z.strictObject({
  host: hostSchema,
  port: portSchema.default(162),
  version: z.literal(['2c', 3], {error: (iss) => `expected 2c or 3 (SNMP version), got ${describeValue(iss.input)}`}).default('2c'),
  // Its value never appears in a message.
  community: z
    .string({error: (iss) => (iss.input === undefined ? undefined : 'expected the community as a string (in quotes)')})
    .max(INPUT_LIMITS.shortText, maxLength(INPUT_LIMITS.shortText))
    .min(1, 'expected a non-empty community')
    .exactOptional(),
  community_env: envNameSchema.exactOptional(),
  user: z
    .string({error: (iss) => `expected the SNMPv3 user name as text, got ${describeValue(iss.input)}`})
    .regex(/^[A-Za-z0-9._@+-]{1,32}$/, 'expected an SNMPv3 user name of 1 to 32 characters (letters, digits, ".", "_", "@", "+", "-")')
    .exactOptional(),
  auth: usmAuthSchema.exactOptional(),
  priv: usmPrivSchema.exactOptional(),
  engine_id: z
    .string({error: (iss) => `expected the engine ID as hex text in quotes, e.g. "0x8000B98380C0FFEE0001", got ${describeValue(iss.input)}`})
    .regex(/^(?:0x)?(?:[0-9A-Fa-f]{2}){5,32}$/, 'expected an SNMP engine ID as 5 to 32 octets of hex (10 to 64 hex digits, optionally after 0x), e.g. "0x8000B98380C0FFEE0001"')
    .exactOptional(),
  inform: z.boolean({error: 'expected true or false'}).exactOptional(),
  timeout: durationSchema.exactOptional(),
  retries: z.number({error: 'expected a number of resends, e.g. 2'}).int('expected a whole number').min(0, 'expected 0 to 10').max(10, 'expected 0 to 10').exactOptional(),
})

/** `snmp.enterprise_oid`: a dotted OID such as 1.3.6.1.4.1.32473 (arcs below 2^32, at most 64 arcs). */
const enterpriseOidSchema = z
  .string({error: (iss) => `expected a dotted OID in quotes, e.g. "1.3.6.1.4.1.32473", got ${describeValue(iss.input)}`})
  .max(INPUT_LIMITS.shortText, maxLength(INPUT_LIMITS.shortText))
  .regex(/^[0-2](?:\.(?:0|[1-9][0-9]{0,9})){1,63}$/, 'expected a dotted numeric OID such as "1.3.6.1.4.1.32473" (no leading dot)')
  .refine((oid) => oid.split('.').every((arc) => Number(arc) <= 0xffff_ffff), 'expected every arc of the OID below 4294967296')

/** crontab's nicknames that name a schedule (not `@reboot`, which is no time). */
const CRON_NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']
const CRON_NAMES = /\b(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT)\b/gi

/**
 * `window.cron`: a standard 5-field crontab expression (what `chainup schedule` writes into a crontab), checked by
 * croner. croner's extensions that crontab does not know (`L`, `W`, `#`, `+`, `?`, seconds, years) are refused.
 */
const cronSchema = z
  .string({error: (iss) => (iss.input === undefined ? undefined : `expected a cron expression in quotes, e.g. "0 2 * * 6", got ${describeValue(iss.input)}`)})
  .max(INPUT_LIMITS.shortText, maxLength(INPUT_LIMITS.shortText))
  .superRefine((text, ctx) => {
    const trimmed = text.trim()
    if (trimmed.startsWith('@')) {
      if (!CRON_NICKNAMES.includes(trimmed.toLowerCase())) ctx.addIssue({code: 'custom', message: `unknown cron nickname "${trimmed}"; known: ${CRON_NICKNAMES.join(', ')}`})
      return
    }
    const fields = trimmed.split(/\s+/)
    if (fields.length !== 5) {
      ctx.addIssue({code: 'custom', message: `expected 5 cron fields (minute hour day-of-month month day-of-week), e.g. "0 2 * * 6", got ${fields.length}`})
      return
    }
    const [, , dom = '*', , dow = '*'] = fields
    if (dom !== '*' && dow !== '*' && (dom.startsWith('*') || dow.startsWith('*'))) {
      ctx.addIssue({code: 'custom', message: `day-of-month "${dom}" and day-of-week "${dow}" are both restricted and one starts with "*": cron implementations disagree on whether either or both must match; list the days instead`})
      return
    }
    const extension = /[LW#+?]/i.exec(trimmed.replace(CRON_NAMES, ''))
    if (extension) {
      ctx.addIssue({code: 'custom', message: `"${extension[0]}" is a croner extension crontab does not understand; use numbers, names, *, ranges (1-5), lists (1,3) and steps (*/2)`})
      return
    }
    try {
      if (new Cron(trimmed, {paused: true, mode: '5-part'}).nextRun() === null) ctx.addIssue({code: 'custom', message: 'this cron expression never matches a date (e.g. 30 February): the window would never open'})
    } catch (error) {
      ctx.addIssue({code: 'custom', message: `not a valid cron expression: ${(error as Error).message.replace(/^CronPattern: /, '')}`})
    }
  })

/** `window.timezone`: an IANA zone name Intl knows, spelled as the zone database spells it (CRON_TZ and systemd need that). */
const timeZoneSchema = z
  .string({error: (iss) => (iss.input === undefined ? undefined : `expected an IANA time zone such as "Europe/Berlin", got ${describeValue(iss.input)}`)})
  .max(INPUT_LIMITS.shortText, maxLength(INPUT_LIMITS.shortText))
  .superRefine((zone, ctx) => {
    let resolved: string
    try {
      if (!/^[A-Za-z]/.test(zone)) throw new RangeError('not a zone name')
      resolved = new Intl.DateTimeFormat('en-US', {timeZone: zone}).resolvedOptions().timeZone
    } catch {
      ctx.addIssue({code: 'custom', message: `unknown time zone "${zone}"; expected an IANA name such as "Europe/Berlin" or "UTC"`})
      return
    }
    if (resolved !== zone && resolved.toLowerCase() === zone.toLowerCase()) ctx.addIssue({code: 'custom', message: `write the time zone as "${resolved}" (cron and systemd need its exact spelling)`})
  })

const windowSchema = z.strictObject({
  cron: cronSchema,
  duration: durationSchema.refine((ms) => ms >= 60_000, 'expected a window of at least PT1M'),
  timezone: timeZoneSchema,
})

/** How {@link inventorySchema} treats what it cannot check yet. */
export interface InventorySchemaOptions {
  /**
   * `chainsync.tls.ca` and `cert_dir` may name files that do not exist yet (they are still resolved, and one that
   * exists must be of the right kind): `chainup certs init` loads the inventory before it writes them. `psk_file`
   * must still exist: certs init does not write it.
   * @default false: they must exist, like every other path
   */
  tlsFilesMayBeMissing?: boolean
}

/**
 * The zod schema of one inventory file. Paths are resolved against `baseDir` (the inventory file's directory)
 * and must name existing files; durations come out in milliseconds; defaults are filled in.
 * The output is an {@link Inventory} without `file` (the loader adds it).
 */
export function inventorySchema(baseDir: string, opts: InventorySchemaOptions = {}) {
  const tlsMayBeMissing = opts.tlsFilesMayBeMissing === true
  return z.strictObject({
    stack: nameSchema('stack name'),
    playbook: existingFileSchema(baseDir, 'playbook file'),
    target: z.strictObject({
      version: versionSchema,
      image: imageSchema,
      image_file: existingFileSchema(baseDir, 'image file').exactOptional(),
      md5: hexDigestSchema('MD5', 32).exactOptional(),
      sha512: hexDigestSchema('SHA-512', 128).exactOptional(),
    }),
    staging: z
      .strictObject({
        concurrency: z.number({error: 'expected a number of devices, e.g. 4'}).int('expected a whole number').min(1, 'expected at least 1').max(64, 'expected at most 64').default(4),
        attempts: z.number({error: 'expected a number of attempts, e.g. 3'}).int('expected a whole number').min(1, 'expected at least 1').max(10, 'expected at most 10').default(3),
      })
      .prefault({}),
    ssh: z.strictObject({
      username: textSchema('user name', INPUT_LIMITS.shortText),
      password_env: envNameSchema.exactOptional(),
      password_file: existingFileSchema(baseDir, 'password file').exactOptional(),
      private_key: existingFileSchema(baseDir, 'private key file').exactOptional(),
      passphrase_env: envNameSchema.exactOptional(),
      known_hosts: existingFileSchema(baseDir, 'known_hosts file').exactOptional(),
      max_output_bytes: z
        .number({error: 'expected a number of bytes, e.g. 16777216 (16 MiB)'})
        .int('expected a whole number of bytes')
        .min(65_536, 'expected at least 65536 bytes (64 KiB)')
        .max(1_073_741_824, 'expected at most 1073741824 bytes (1 GiB)')
        .default(16 * 1024 * 1024),
      host_key_policy: z
        .enum(['strict', 'repin-after-reload'], {error: (iss) => `expected "strict" or "repin-after-reload", got ${describeValue(iss.input)}`})
        .default('strict'),
    }),
    timeouts: z
      .strictObject({
        command: durationSchema.default(120_000),
        boot: durationSchema.default(900_000),
        predecessor: durationSchema.default(3_600_000),
        gate: durationSchema.default(60_000),
        connect: durationSchema.default(15_000),
        transfer: durationSchema.default(3_600_000),
        settle: durationOrZeroSchema.exactOptional(),
        run: durationSchema.exactOptional(),
      })
      .prefault({}),
    snmp: z
      .strictObject({
        enterprise_oid: enterpriseOidSchema.exactOptional(),
        traps: z.array(trapSchema).default([]),
        uptime: z.strictObject({community_env: envNameSchema, port: portSchema.default(161), timeout: durationSchema.default(2000)}).exactOptional(),
      })
      .prefault({}),
    on_failure: z.enum(['halt', 'rollback'], {error: (iss) => `expected "halt" or "rollback", got ${describeValue(iss.input)}`}).default('halt'),
    lab: z.strictObject({version: versionSchema.default('17.06.05'), boot_time: durationSchema.default(3000)}).prefault({}),
    window: windowSchema.exactOptional(),
    chainsync: z
      .strictObject({
        extensions: z.boolean({error: 'expected true or false'}).default(true),
        connect_timeout: durationSchema.default(300_000),
        heartbeat: durationSchema.default(5000),
        reconnect_grace: durationSchema.default(30_000),
        insecure_plain_tcp: z.boolean({error: 'expected true or false'}).default(false),
        tls: z
          .strictObject({
            ca: existingFileSchema(baseDir, 'CA certificate', 'file', tlsMayBeMissing).exactOptional(),
            cert_dir: existingFileSchema(baseDir, 'certificate directory', 'directory', tlsMayBeMissing).exactOptional(),
            pins: z
              .record(z.string(), z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, 'expected a SHA-256 fingerprint as "AB:CD:..." (32 hex pairs)'))
              .superRefine((pins, ctx) => {
                for (const key of Object.keys(pins)) {
                  if (key.length > INPUT_LIMITS.shortText) ctx.addIssue({code: 'custom', message: `expected a device name as the key, at most ${INPUT_LIMITS.shortText} characters, got ${key.length}`, path: [key]})
                }
              })
              .exactOptional(),
            psk_file: existingFileSchema(baseDir, 'PSK file').exactOptional(),
          })
          .exactOptional(),
      })
      .prefault({}),
    devices: z
      .array(deviceSchema)
      .min(1, 'at least one device is required')
      .max(INPUT_LIMITS.devices, {error: (iss) => `at most ${INPUT_LIMITS.devices} devices per stack, got ${Array.isArray(iss.input) ? iss.input.length : '?'}`}),
  })
}

// Compile-time proof that the schema produces exactly the contract of types.ts.
type SchemaOutput = z.output<ReturnType<typeof inventorySchema>>
const _producesInventory = (x: SchemaOutput): Omit<Inventory, 'file'> => x
const _coversInventory = (x: Omit<Inventory, 'file'>): SchemaOutput => x
void _producesInventory
void _coversInventory

/**
 * The rules of an inventory that span fields: one login method, a host key source for every device,
 * unique device names and addresses, one community per trap receiver.
 * Works on the raw parsed YAML and skips whatever is malformed (the schema reports that).
 */
export function checkInventory(raw: Record<string, unknown>, lineOf: LineOf): CheckIssue[] {
  const issues: CheckIssue[] = []
  const {ssh, devices} = raw

  if (isRecord(ssh)) {
    const methods = AUTH_METHODS.filter((m) => m in ssh)
    if (methods.length === 0) {
      issues.push({path: ['ssh'], message: 'no login method: set one of password_env, password_file or private_key'})
    }
    for (const extra of methods.slice(1)) {
      issues.push({path: ['ssh', extra], at: 'key', message: `set only one of password_env, password_file or private_key (${methods[0]} is set too)`})
    }
    if ('passphrase_env' in ssh && !('private_key' in ssh)) {
      issues.push({path: ['ssh', 'passphrase_env'], at: 'key', message: 'passphrase_env only applies together with private_key'})
    }
    if (!('known_hosts' in ssh) && Array.isArray(devices)) {
      devices.forEach((device, i) => {
        if (isRecord(device) && !('host_key' in device)) {
          issues.push({path: ['devices', i], message: `no host key: set devices[${i}].host_key or ssh.known_hosts`})
        }
      })
    }
  }

  if (Array.isArray(devices)) {
    const names = new Map<string, number>()
    const addresses = new Map<string, number>()
    devices.forEach((device, i) => {
      if (!isRecord(device)) return
      const {name, host, port = 22} = device
      if (typeof name === 'string') {
        const first = names.get(name)
        if (first === undefined) names.set(name, i)
        else issues.push({path: ['devices', i, 'name'], message: `duplicate device name "${name}"${firstAt(lineOf(['devices', first, 'name']))}`})
      }
      if (typeof host === 'string' && typeof port === 'number') {
        const address = host.includes(':') ? `[${host.toLowerCase()}]:${port}` : `${host.toLowerCase()}:${port}`
        const first = addresses.get(address)
        if (first === undefined) addresses.set(address, i)
        else issues.push({path: ['devices', i, 'host'], message: `duplicate host:port ${address}${firstAt(lineOf(['devices', first, 'host']))}`})
      }
    })
  }

  if (Array.isArray(devices) && devices.some((d) => isRecord(d) && d['remote'] === true)) {
    devices.forEach((device, i) => {
      if (isRecord(device) && !('node' in device)) {
        issues.push({path: ['devices', i], message: `no ChainSync node address: with remote devices every device needs node: host:port`})
      }
    })
  }
  const chainsync = isRecord(raw['chainsync']) ? raw['chainsync'] : undefined
  const tls = chainsync ? chainsync['tls'] : undefined
  const insecure = chainsync?.['insecure_plain_tcp'] === true
  if (insecure && tls !== undefined) {
    issues.push({path: ['chainsync', 'insecure_plain_tcp'], at: 'key', message: 'set chainsync.tls or insecure_plain_tcp: true, not both'})
  }
  const firstRemote = Array.isArray(devices) ? devices.findIndex((d) => isRecord(d) && d['remote'] === true) : -1
  if (tls === undefined && !insecure && firstRemote >= 0) {
    // Embedded runs get per-run random PSKs; nodes in other processes cannot: their links must be authenticated by configuration.
    issues.push({
      path: ['devices', firstRemote, 'remote'],
      message: 'a chain with remote devices needs authenticated ChainSync links: set chainsync.tls (ca + cert_dir, or psk_file), or chainsync.insecure_plain_tcp: true to accept plain TCP (not recommended)',
    })
  }
  if (isRecord(tls)) {
    const certs = 'ca' in tls || 'cert_dir' in tls
    if (certs && 'psk_file' in tls) issues.push({path: ['chainsync', 'tls', 'psk_file'], at: 'key', message: 'set ca + cert_dir or psk_file, not both'})
    else if (!certs && !('psk_file' in tls)) issues.push({path: ['chainsync', 'tls'], message: 'set ca + cert_dir (certificates) or psk_file (pre-shared keys)'})
    else if (certs && !('ca' in tls && 'cert_dir' in tls)) issues.push({path: ['chainsync', 'tls'], message: 'certificates need both ca and cert_dir'})
    if ('psk_file' in tls && 'pins' in tls) issues.push({path: ['chainsync', 'tls', 'pins'], at: 'key', message: 'pins apply to certificates; with psk_file the pre-shared keys authenticate the peer'})
  }

  const target = isRecord(raw['target']) ? raw['target'] : undefined
  if (target && !('image_file' in target)) {
    for (const field of ['md5', 'sha512'] as const) {
      if (field in target) issues.push({path: ['target', field], at: 'key', message: `${field} applies to the staged image: set target.image_file too (or drop ${field})`})
    }
  }

  const traps = isRecord(raw['snmp']) ? raw['snmp']['traps'] : undefined
  if (Array.isArray(traps)) {
    traps.forEach((trap, i) => {
      if (!isRecord(trap)) return
      const at = (field: string): CheckIssue['path'] => ['snmp', 'traps', i, field]
      if (trap['version'] === 3) {
        for (const field of ['community', 'community_env'] as const) {
          if (field in trap) issues.push({path: at(field), at: 'key', message: `${field} applies to version 2c; version 3 authenticates with user, auth and priv`})
        }
        const missing = (['user', 'auth', 'priv'] as const).filter((f) => !(f in trap))
        if (missing.length > 0) issues.push({path: ['snmp', 'traps', i], message: `version 3 needs ${missing.join(', ')} (USM authPriv: user, auth: {protocol, password_env}, priv: {protocol, password_env})`})
        if (trap['inform'] === true && 'engine_id' in trap) {
          issues.push({path: at('engine_id'), at: 'key', message: 'engine_id applies to v3 traps: an inform discovers the receiver\'s engine ID; drop engine_id'})
        } else if (trap['inform'] !== true && !('engine_id' in trap)) {
          issues.push({path: ['snmp', 'traps', i], message: "a v3 trap needs engine_id (chainup's engine ID, the receiver's createUser -e value), or inform: true"})
        }
      } else {
        for (const field of ['user', 'auth', 'priv', 'engine_id'] as const) {
          if (field in trap) issues.push({path: at(field), at: 'key', message: `${field} applies to version 3 (set version: 3)`})
        }
        if ('community' in trap && 'community_env' in trap) {
          issues.push({path: at('community_env'), at: 'key', message: 'set community or community_env, not both'})
        } else if (!('community' in trap) && !('community_env' in trap)) {
          issues.push({path: ['snmp', 'traps', i], message: 'no community: set community or community_env'})
        }
      }
      if ('retries' in trap && trap['inform'] !== true) issues.push({path: at('retries'), at: 'key', message: 'retries applies to informs (inform: true); traps are not acknowledged'})
    })
  }
  return issues
}

function firstAt(line: number | undefined): string {
  return line === undefined ? '' : ` (first at line ${line})`
}
