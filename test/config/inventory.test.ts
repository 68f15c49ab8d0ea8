import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {isAbsolute, join, relative, resolve} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadInventory} from '../../src/config/index.js'
import {ExitCode, InputError} from '../../src/errors.js'

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-inventory-'))
  writeFileSync(join(dir, 'pb.yml'), 'name: only has to exist\n')
  writeFileSync(join(dir, 'kh'), '')
  writeFileSync(join(dir, 'key'), '')
  writeFileSync(join(dir, 'pw'), '')
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** Writes `text` to the tmp dir and returns the path relative to the current directory (as a user would type it). */
function write(name: string, text: string): string {
  const abs = join(dir, name)
  writeFileSync(abs, text)
  return relative(process.cwd(), abs)
}

async function loadError(path: string): Promise<InputError> {
  const error: unknown = await loadInventory(path).then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof InputError)) throw new Error(`expected an InputError, got ${String(error)}`)
  return error
}

// A valid inventory; every case below changes a line or two of it.
const VALID = `stack: s1
playbook: ./pb.yml
target: {version: "17.09.05", image: cat9k.bin}
ssh: {username: u, password_env: PW, known_hosts: ./kh}
devices:
  - {name: sw1, host: 10.0.0.1}
  - {name: sw2, host: 10.0.0.2}
`

/** Replaces line `n` (1-based) of VALID; `undefined` deletes it. */
function withLine(n: number, line: string | undefined, base = VALID): string {
  const lines = base.split('\n')
  if (line === undefined) lines.splice(n - 1, 1)
  else lines[n - 1] = line
  return lines.join('\n')
}

const SSH_NO_KH = 'ssh: {username: u, password_env: PW}'

interface Case {
  name: string
  yaml: string
  /** Every problem of the file, without the `FILE:` prefix, in order. A RegExp matches one line. */
  problems: Array<string | RegExp>
}

const CASES: Case[] = [
  {
    name: 'window cron with six fields',
    yaml: `${VALID}window: {cron: "0 0 2 * * 6", duration: PT4H, timezone: Europe/Berlin}\n`,
    problems: ['8:16 window.cron: expected 5 cron fields (minute hour day-of-month month day-of-week), e.g. "0 2 * * 6", got 6'],
  },
  {
    name: 'window cron with an out-of-range minute',
    yaml: `${VALID}window: {cron: "61 2 * * 6", duration: PT4H, timezone: Europe/Berlin}\n`,
    problems: ['8:16 window.cron: not a valid cron expression: Invalid value for minute: 61'],
  },
  {
    name: 'window cron with a croner extension crontab does not know',
    yaml: `${VALID}window: {cron: "0 2 * * SAT#1", duration: PT4H, timezone: Europe/Berlin}\n`,
    problems: [/^8:16 window\.cron: "#" is a croner extension crontab does not understand/],
  },
  {
    name: 'window cron with day fields whose meaning differs between crons',
    yaml: `${VALID}window: {cron: "0 2 */2 * 6", duration: PT4H, timezone: UTC}\n`,
    problems: [/^8:16 window\.cron: day-of-month "\*\/2" and day-of-week "6" are both restricted and one starts with "\*"/],
  },
  {
    name: 'window cron that never matches',
    yaml: `${VALID}window: {cron: "0 2 30 2 *", duration: PT4H, timezone: Europe/Berlin}\n`,
    problems: ['8:16 window.cron: this cron expression never matches a date (e.g. 30 February): the window would never open'],
  },
  {
    name: 'window cron @reboot',
    yaml: `${VALID}window: {cron: "@reboot", duration: PT4H, timezone: UTC}\n`,
    problems: [/^8:16 window\.cron: unknown cron nickname "@reboot"; known: @yearly/],
  },
  {
    name: 'window with an unknown time zone',
    yaml: `${VALID}window: {cron: "0 2 * * 6", duration: PT4H, timezone: Europe/Berlinn}\n`,
    problems: ['8:55 window.timezone: unknown time zone "Europe/Berlinn"; expected an IANA name such as "Europe/Berlin" or "UTC"'],
  },
  {
    name: 'window time zone as an offset',
    yaml: `${VALID}window: {cron: "0 2 * * 6", duration: PT4H, timezone: "+01:00"}\n`,
    problems: [/^8:55 window\.timezone: unknown time zone "\+01:00"/],
  },
  {
    name: 'window time zone in the wrong case',
    yaml: `${VALID}window: {cron: "0 2 * * 6", duration: PT4H, timezone: europe/berlin}\n`,
    problems: ['8:55 window.timezone: write the time zone as "Europe/Berlin" (cron and systemd need its exact spelling)'],
  },
  {
    name: 'window duration not ISO 8601',
    yaml: `${VALID}window: {cron: "0 2 * * 6", duration: 4h, timezone: Europe/Berlin}\n`,
    problems: [/^8:39 window\.duration: expected an ISO 8601 duration such as PT5M/],
  },
  {
    name: 'window duration too short',
    yaml: `${VALID}window: {cron: "0 2 * * 6", duration: PT30S, timezone: Europe/Berlin}\n`,
    problems: ['8:39 window.duration: expected a window of at least PT1M'],
  },
  {
    name: 'window without a cron and with an unknown field',
    yaml: `${VALID}window: {duration: PT4H, timezone: UTC, crn: "0 2 * * 6"}\n`,
    problems: ['8:9 window.cron: missing required field "cron"', '8:41 window.crn: unknown field (did you mean "cron"?)'],
  },
  {
    name: 'bad ChainSync node address',
    yaml: withLine(6, '  - {name: sw1, host: 10.0.0.1, node: "10.0.0.5"}'),
    problems: [/^6:39 devices\[0\]\.node: expected a ChainSync node address as host:port/],
  },
  {
    name: 'remote device without node addresses',
    yaml: withLine(7, '  - {name: sw2, host: 10.0.0.2, remote: true}'),
    problems: [
      '6:5 devices[0]: no ChainSync node address: with remote devices every device needs node: host:port',
      '7:5 devices[1]: no ChainSync node address: with remote devices every device needs node: host:port',
      /^7:\d+ devices\[1\]\.remote: a chain with remote devices needs authenticated ChainSync links: set chainsync\.tls/,
    ],
  },
  {
    name: 'remote devices over plain TCP without the explicit opt-in',
    yaml: withLine(7, '  - {name: sw2, host: 10.0.0.2, remote: true, node: "10.0.0.12:7002"}').replace('  - {name: sw1, host: 10.0.0.1', '  - {name: sw1, host: 10.0.0.1, node: "10.0.0.11:7001"'),
    problems: [/^7:\d+ devices\[1\]\.remote: a chain with remote devices needs authenticated ChainSync links: set chainsync\.tls \(ca \+ cert_dir, or psk_file\), or chainsync\.insecure_plain_tcp: true/],
  },
  {
    name: 'insecure plain TCP together with TLS',
    yaml: `${VALID}chainsync: {insecure_plain_tcp: true, tls: {psk_file: ./pb.yml}}\n`,
    problems: [/^8:\d+ chainsync\.insecure_plain_tcp: set chainsync\.tls or insecure_plain_tcp: true, not both/],
  },
  {
    name: 'TLS with both certificates and PSK',
    yaml: `${VALID}chainsync: {tls: {ca: ./pb.yml, cert_dir: ., psk_file: ./pb.yml}}\n`,
    problems: [/^8:46 chainsync\.tls\.psk_file: set ca \+ cert_dir or psk_file, not both/],
  },
  {
    name: 'bad heartbeat duration',
    yaml: `${VALID}chainsync: {heartbeat: 5s}\n`,
    problems: [/^8:24 chainsync\.heartbeat: expected an ISO 8601 duration/],
  },
  {
    name: 'unknown top-level field',
    yaml: `${VALID}colour: red\n`,
    problems: ['8:1 colour: unknown field; expected one of: stack, playbook, target, staging, ssh, timeouts, snmp, on_failure, lab, window, chainsync, devices'],
  },
  {
    name: 'unknown top-level field close to a known one',
    yaml: withLine(2, 'playbok: ./pb.yml'),
    problems: ['1:1 playbook: missing required field "playbook"', '2:1 playbok: unknown field (did you mean "playbook"?)'],
  },
  {
    name: 'typo in a device field',
    yaml: withLine(6, '  - {name: sw1, hots: 10.0.0.1}'),
    problems: ['6:5 devices[0].host: missing required field "host"', '6:17 devices[0].hots: unknown field (did you mean "host"?)'],
  },
  {
    name: 'bad host',
    yaml: withLine(6, '  - {name: sw1, host: bad_host!}'),
    problems: ['6:23 devices[0].host: expected a hostname or IP address'],
  },
  {
    name: 'IPv4 address out of range',
    yaml: withLine(6, '  - {name: sw1, host: 10.0.0.300}'),
    problems: ['6:23 devices[0].host: expected a hostname or IP address'],
  },
  {
    name: 'port out of range',
    yaml: withLine(6, '  - {name: sw1, host: 10.0.0.1, port: 0}'),
    problems: ['6:39 devices[0].port: expected a port number from 1 to 65535'],
  },
  {
    name: 'port as a string',
    yaml: withLine(6, '  - {name: sw1, host: 10.0.0.1, port: "22"}'),
    problems: ['6:39 devices[0].port: expected a port number from 1 to 65535, got "22"'],
  },
  {
    name: 'duplicate device names',
    yaml: withLine(7, '  - {name: sw1, host: 10.0.0.2}'),
    problems: ['7:12 devices[1].name: duplicate device name "sw1" (first at line 6)'],
  },
  {
    name: 'duplicate host:port (default port 22 and explicit 22)',
    yaml: withLine(7, '  - {name: sw2, host: 10.0.0.1, port: 22}'),
    problems: ['7:23 devices[1].host: duplicate host:port 10.0.0.1:22 (first at line 6)'],
  },
  {
    name: 'bad duration',
    yaml: `${VALID}timeouts: {boot: 15 minutes}\n`,
    problems: ['8:18 timeouts.boot: expected an ISO 8601 duration such as PT5M, got "15 minutes"'],
  },
  {
    name: 'zero duration',
    yaml: `${VALID}timeouts:\n  gate: PT0S\n`,
    problems: ['9:9 timeouts.gate: expected a duration greater than zero, got "PT0S"'],
  },
  {
    name: 'duration in months',
    yaml: `${VALID}lab: {boot_time: P1M}\n`,
    problems: [/^8:18 lab\.boot_time: expected a duration in weeks, days, hours, minutes or seconds/],
  },
  {
    name: 'missing stack',
    yaml: withLine(1, undefined),
    problems: ['1:1 stack: missing required field "stack"'],
  },
  {
    name: 'bad stack name',
    yaml: withLine(1, 'stack: "-stack one"'),
    problems: ['1:8 stack: expected a stack name of letters, digits, ".", "_" or "-", starting with a letter or digit, at most 64 characters'],
  },
  {
    name: 'missing devices',
    yaml: VALID.split('devices:')[0] ?? '',
    problems: ['1:1 devices: missing required field "devices"'],
  },
  {
    name: 'empty device list',
    yaml: `${VALID.split('devices:')[0] ?? ''}devices: []\n`,
    problems: ['5:10 devices: at least one device is required'],
  },
  {
    name: 'devices left empty',
    yaml: `${VALID.split('devices:')[0] ?? ''}devices:\n`,
    problems: ['5:1 devices: expected a list, got an empty value'],
  },
  {
    name: 'bad host_key',
    yaml: withLine(6, '  - {name: sw1, host: 10.0.0.1, host_key: "SHA256:abc"}'),
    problems: ['6:43 devices[0].host_key: expected a SHA256: fingerprint as ssh-keygen -lf prints it'],
  },
  {
    name: 'two login methods',
    yaml: withLine(4, 'ssh: {username: u, password_env: PW, private_key: ./key, known_hosts: ./kh}'),
    problems: ['4:38 ssh.private_key: set only one of password_env, password_file or private_key (password_env is set too)'],
  },
  {
    name: 'an output cap below 64 KiB',
    yaml: withLine(4, 'ssh: {username: u, password_env: PW, known_hosts: ./kh, max_output_bytes: 1000}'),
    problems: ['4:75 ssh.max_output_bytes: expected at least 65536 bytes (64 KiB)'],
  },
  {
    name: 'an unknown host key policy',
    yaml: withLine(4, 'ssh: {username: u, password_env: PW, known_hosts: ./kh, host_key_policy: tofu}'),
    problems: ['4:74 ssh.host_key_policy: expected "strict" or "repin-after-reload", got "tofu"'],
  },
  {
    name: 'no login method',
    yaml: withLine(4, 'ssh: {username: u, known_hosts: ./kh}'),
    problems: ['4:6 ssh: no login method: set one of password_env, password_file or private_key'],
  },
  {
    name: 'a password written in the inventory (its value never shows)',
    yaml: withLine(4, 'ssh: {username: u, password: hunter2, known_hosts: ./kh}'),
    problems: [
      '4:6 ssh: no login method: set one of password_env, password_file or private_key',
      '4:20 ssh.password: unknown field: the password is never written in the inventory; use password_env (names an environment variable) or password_file',
    ],
  },
  {
    name: 'community that YAML reads as a number (its value never shows)',
    yaml: `${VALID}snmp: {traps: [{host: 192.0.2.1, community: 4711}]}\n`,
    problems: ['8:45 snmp.traps[0].community: expected the community as a string (in quotes)'],
  },
  {
    name: 'passphrase_env without private_key',
    yaml: withLine(4, 'ssh: {username: u, password_file: ./pw, passphrase_env: PP, known_hosts: ./kh}'),
    problems: ['4:41 ssh.passphrase_env: passphrase_env only applies together with private_key'],
  },
  {
    name: 'bad environment variable name',
    yaml: withLine(4, 'ssh: {username: u, password_env: 9LIVES, known_hosts: ./kh}'),
    problems: ['4:34 ssh.password_env: expected an environment variable name (letters, digits and "_", not starting with a digit)'],
  },
  {
    name: 'no host key source for a device',
    yaml: withLine(4, SSH_NO_KH, withLine(6, '  - {name: sw1, host: 10.0.0.1, host_key: "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"}')),
    problems: ['7:5 devices[1]: no host key: set devices[1].host_key or ssh.known_hosts'],
  },
  {
    name: 'no host key source at all: one problem per device',
    yaml: withLine(4, SSH_NO_KH),
    problems: ['6:5 devices[0]: no host key: set devices[0].host_key or ssh.known_hosts', '7:5 devices[1]: no host key: set devices[1].host_key or ssh.known_hosts'],
  },
  {
    name: 'image with a slash',
    yaml: withLine(3, 'target: {version: "17.09.05", image: flash:/cat9k.bin}'),
    problems: ['3:38 target.image: expected a plain file name such as "cat9k_iosxe.17.09.05.SPA.bin" (letters, digits, ".", "_", "-", "+"; no "/" or ":": chainup looks for it on flash:)'],
  },
  {
    name: 'shell syntax in the target version',
    yaml: withLine(3, 'target: {version: "17.09.05;reload", image: cat9k.bin}'),
    problems: ['3:19 target.version: expected a version as `show version` prints it, e.g. "17.09.05" (letters, digits, ".", "_", "-", "+", "(", ")")'],
  },
  {
    name: 'version YAML reads as a number',
    yaml: withLine(3, 'target: {version: 17.10, image: cat9k.bin}'),
    problems: ['3:19 target.version: expected a string, got the number 17.1 (write it in quotes: "17.10")'],
  },
  {
    name: 'missing playbook file',
    yaml: withLine(2, 'playbook: ./nope.yml'),
    problems: [/^2:11 playbook: playbook file not found: \.\/nope\.yml \(resolved to \/.*\/nope\.yml\)$/],
  },
  {
    name: 'missing known_hosts file',
    yaml: withLine(4, 'ssh: {username: u, password_env: PW, known_hosts: ./missing_kh}'),
    problems: [/^4:51 ssh\.known_hosts: known_hosts file not found: \.\/missing_kh \(resolved to .*\)$/],
  },
  {
    name: 'YAML syntax error',
    yaml: withLine(6, '  - {name: sw1, host: 10.0.0.1'),
    problems: ['7:3 (yaml): YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }'],
  },
  {
    name: 'duplicate YAML key',
    yaml: `${VALID}stack: s2\n`,
    problems: ['8:1 (yaml): YAML syntax error: Map keys must be unique'],
  },
  {
    name: 'trap with community and community_env',
    yaml: `${VALID}snmp:\n  traps:\n    - {host: 127.0.0.1, community: public, community_env: COMMUNITY}\n`,
    problems: ['10:44 snmp.traps[0].community_env: set community or community_env, not both'],
  },
  {
    name: 'trap without a community',
    yaml: `${VALID}snmp:\n  traps:\n    - {host: 127.0.0.1, port: 10162}\n`,
    problems: ['10:7 snmp.traps[0]: no community: set community or community_env'],
  },
  {
    name: 'v3 trap with a community and no USM user',
    yaml: `${VALID}snmp:\n  traps:\n    - {host: 127.0.0.1, version: 3, community: public}\n`,
    problems: [
      '10:7 snmp.traps[0]: version 3 needs user, auth, priv (USM authPriv: user, auth: {protocol, password_env}, priv: {protocol, password_env})',
      '10:7 snmp.traps[0]: a v3 trap needs engine_id (chainup\'s engine ID, the receiver\'s createUser -e value), or inform: true',
      '10:37 snmp.traps[0].community: community applies to version 2c; version 3 authenticates with user, auth and priv',
    ],
  },
  {
    name: 'v3 receiver with MD5 and DES',
    yaml: `${VALID}snmp:\n  traps:\n    - {host: 127.0.0.1, version: 3, user: noc, engine_id: "0x8000B98380C0FFEE0001", auth: {protocol: md5, password_env: A}, priv: {protocol: DES, password_env: P}}\n`,
    problems: [
      '10:102 snmp.traps[0].auth.protocol: unsupported authentication protocol "md5" (too weak); allowed (any case): SHA, SHA-224, SHA-256, SHA-384, SHA-512',
      '10:142 snmp.traps[0].priv.protocol: unsupported privacy protocol "DES" (broken, and Node needs a legacy OpenSSL provider for it); allowed (any case): AES, AES-128, AES-256, AES-256B, AES-256-C, AES-256R',
    ],
  },
  {
    name: 'v3 receiver with AES-192 and an unknown hash',
    yaml: `${VALID}snmp:\n  traps:\n    - {host: 127.0.0.1, version: 3, user: noc, inform: true, auth: {protocol: sha3, password_env: A}, priv: {protocol: aes-192, password_env: P}}\n`,
    problems: [
      '10:79 snmp.traps[0].auth.protocol: unsupported authentication protocol "sha3"; allowed (any case): SHA, SHA-224, SHA-256, SHA-384, SHA-512',
      '10:120 snmp.traps[0].priv.protocol: unsupported privacy protocol "aes-192" (net-snmp does not implement it); allowed (any case): AES, AES-128, AES-256, AES-256B, AES-256-C, AES-256R',
    ],
  },
  {
    name: 'v3 inform with an engine_id, v3 trap without one',
    yaml: `${VALID}snmp:\n  traps:\n    - {host: 127.0.0.1, version: 3, user: noc, inform: true, engine_id: "8000B98380C0FFEE0001", auth: {protocol: SHA-256, password_env: A}, priv: {protocol: AES, password_env: P}}\n    - {host: 127.0.0.2, version: 3, user: noc, auth: {protocol: SHA-256, password_env: A}, priv: {protocol: AES, password_env: P}}\n`,
    problems: [
      '10:62 snmp.traps[0].engine_id: engine_id applies to v3 traps: an inform discovers the receiver\'s engine ID; drop engine_id',
      '11:7 snmp.traps[1]: a v3 trap needs engine_id (chainup\'s engine ID, the receiver\'s createUser -e value), or inform: true',
    ],
  },
  {
    name: 'v2c receiver with v3 fields, retries on a trap, a bad engine ID and SNMP version 1',
    yaml: `${VALID}snmp:\n  traps:\n    - {host: 127.0.0.1, community: public, user: noc, retries: 3}\n    - {host: 127.0.0.2, version: 3, user: "no spaces allowed", engine_id: "0x12", auth: {protocol: SHA, password_env: A}, priv: {protocol: AES, password_env: P}}\n    - {host: 127.0.0.3, version: 1, community: public}\n`,
    problems: [
      '10:44 snmp.traps[0].user: user applies to version 3 (set version: 3)',
      '10:55 snmp.traps[0].retries: retries applies to informs (inform: true); traps are not acknowledged',
      '11:43 snmp.traps[1].user: expected an SNMPv3 user name of 1 to 32 characters (letters, digits, ".", "_", "@", "+", "-")',
      '11:75 snmp.traps[1].engine_id: expected an SNMP engine ID as 5 to 32 octets of hex (10 to 64 hex digits, optionally after 0x), e.g. "0x8000B98380C0FFEE0001"',
      '12:34 snmp.traps[2].version: expected 2c or 3 (SNMP version), got the number 1',
    ],
  },
  {
    name: 'snmp.enterprise_oid that is not a dotted OID',
    yaml: `${VALID}snmp:\n  enterprise_oid: ".1.3.6.1.4.1.32473"\n  traps: []\n`,
    problems: [
      '9:19 snmp.enterprise_oid: expected a dotted numeric OID such as "1.3.6.1.4.1.32473" (no leading dot)',
    ],
  },
  {
    name: 'unknown fault',
    yaml: withLine(6, '  - {name: sw1, host: 10.0.0.1, lab: {faults: [slow_boot, explode]}}'),
    problems: ['6:59 devices[0].lab.faults[1]: unknown fault "explode"; known: never_returns, old_version, hang_install, slow_boot, no_reload, install_busy, missing_image, no_rollback_image, corrupt_copy, drop_copy'],
  },
  {
    name: 'device that is not a mapping',
    yaml: `${VALID}  - sw3\n`,
    problems: ['8:5 devices[2]: expected a mapping (key: value), got "sw3"'],
  },
  {
    name: 'empty file',
    yaml: '# nothing yet\n',
    problems: ['1:1 (file): the file is empty; an inventory needs at least stack, playbook, target, ssh and devices'],
  },
  {
    name: 'top level is a list',
    yaml: '- sw1\n- sw2\n',
    problems: ['1:1 (root): expected a mapping (key: value lines) at the top level, got a list'],
  },
  {
    name: 'on_failure that is neither halt nor rollback',
    yaml: `${VALID}on_failure: maybe\n`,
    problems: ['8:13 on_failure: expected "halt" or "rollback", got "maybe"'],
  },
  {
    name: 'timeouts.run that is not ISO 8601',
    yaml: `${VALID}timeouts: {run: 5min}\n`,
    problems: ['8:17 timeouts.run: expected an ISO 8601 duration such as PT5M, got "5min"'],
  },
  {
    name: 'TLS pins together with a PSK file',
    yaml: `${VALID}chainsync:\n  tls: {psk_file: ./pw, pins: {sw1: "${Array(32).fill('AB').join(':')}"}}\n`,
    problems: ['9:25 chainsync.tls.pins: pins apply to certificates; with psk_file the pre-shared keys authenticate the peer'],
  },
]

describe('loadInventory', () => {
  it('loads the quick-start lab inventory with durations in ms, absolute paths and defaults', async () => {
    const inventory = await loadInventory('inventories/lab.yml')
    expect(inventory).toEqual({
      file: resolve('inventories/lab.yml'),
      stack: 'lab-stack',
      playbook: resolve('playbooks/ios-xe-install.yml'),
      target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
      staging: {concurrency: 4, attempts: 3},
      ssh: {username: 'netops', password_env: 'CHAINUP_LAB_PASSWORD', known_hosts: resolve('inventories/lab_known_hosts'), max_output_bytes: 16_777_216, host_key_policy: 'strict'},
      timeouts: {command: 30_000, boot: 30_000, predecessor: 60_000, gate: 10_000, connect: 15_000, transfer: 3_600_000, settle: 1000},
      snmp: {traps: [{host: '127.0.0.1', port: 10162, version: '2c', community: 'public'}]},
      lab: {version: '17.06.05', boot_time: 3000},
      chainsync: {extensions: true, connect_timeout: 300_000, heartbeat: 5000, reconnect_grace: 30_000, insecure_plain_tcp: false},
      on_failure: 'halt',
      devices: [1, 2, 3, 4].map((i) => ({name: `sw${i}`, host: '127.0.0.1', port: 10020 + i, remote: false})),
    })
  })

  it('does not need the password variable at load time', async () => {
    const saved = process.env['CHAINUP_LAB_PASSWORD']
    delete process.env['CHAINUP_LAB_PASSWORD']
    try {
      await expect(loadInventory('inventories/lab.yml')).resolves.toMatchObject({ssh: {password_env: 'CHAINUP_LAB_PASSWORD'}})
    } finally {
      if (saved !== undefined) process.env['CHAINUP_LAB_PASSWORD'] = saved
    }
  })

  it('loads the example inventory (host keys per device, IPv6, hostnames, community_env)', async () => {
    const inventory = await loadInventory('inventories/examples/access-stack-1.yml')
    expect(inventory.devices.map((d) => `${d.name}@${d.host}:${d.port}`)).toEqual([
      'acc1-sw1@10.20.0.11:22',
      'acc1-sw2@10.20.0.12:22',
      'acc1-sw3@acc1-sw3.mgmt.example.net:2222',
      'acc1-sw4@2001:db8:20::14:22',
    ])
    expect(inventory.timeouts).toEqual({command: 120_000, boot: 900_000, predecessor: 3_600_000, gate: 60_000, connect: 15_000, transfer: 3_600_000})
    expect(inventory.snmp.traps).toEqual([{host: 'noc-traps.example.net', port: 162, version: '2c', community_env: 'CHAINUP_SNMP_COMMUNITY'}])
    expect(inventory.playbook).toBe(resolve('playbooks/ios-xe-install.yml'))
  })

  it('fills every default of a minimal inventory and leaves unset optional fields out', async () => {
    const inventory = await loadInventory(write('minimal.yml', VALID))
    expect(inventory.timeouts).toEqual({command: 120_000, boot: 900_000, predecessor: 3_600_000, gate: 60_000, connect: 15_000, transfer: 3_600_000})
    expect(inventory.lab).toEqual({version: '17.06.05', boot_time: 3000})
    expect(inventory.snmp).toEqual({traps: []})
    expect(inventory.devices[0]).toEqual({name: 'sw1', host: '10.0.0.1', port: 22, remote: false})
    expect(inventory.chainsync).toEqual({extensions: true, connect_timeout: 300_000, heartbeat: 5000, reconnect_grace: 30_000, insecure_plain_tcp: false})
    expect(Object.keys(inventory.ssh)).toEqual(['username', 'password_env', 'known_hosts', 'max_output_bytes', 'host_key_policy'])
    expect(inventory.ssh.host_key_policy).toBe('strict')
    expect(inventory.ssh.max_output_bytes).toBe(16 * 1024 * 1024)
    expect(inventory.ssh.known_hosts).toBe(join(dir, 'kh'))
  })

  it('resolves key, password and known_hosts paths relative to the inventory file', async () => {
    const yaml = withLine(4, 'ssh: {username: u, private_key: key, passphrase_env: PP, known_hosts: ./kh}')
    const inventory = await loadInventory(write('keys.yml', yaml))
    expect(inventory.ssh).toEqual({username: 'u', private_key: join(dir, 'key'), passphrase_env: 'PP', known_hosts: join(dir, 'kh'), max_output_bytes: 16_777_216, host_key_policy: 'strict'})
    expect(isAbsolute(inventory.playbook)).toBe(true)
    expect(inventory.file).toBe(join(dir, 'keys.yml'))
  })

  it('loads a maintenance window: duration in ms, cron and zone as written (names and nicknames allowed)', async () => {
    const inventory = await loadInventory(write('window.yml', `${VALID}window: {cron: "0 2 * * SAT", duration: PT4H, timezone: Europe/Berlin}\n`))
    expect(inventory.window).toEqual({cron: '0 2 * * SAT', duration: 4 * 3_600_000, timezone: 'Europe/Berlin'})
    const nickname = await loadInventory(write('window-weekly.yml', `${VALID}window: {cron: "@weekly", duration: PT1H, timezone: UTC}\n`))
    expect(nickname.window?.cron).toBe('@weekly')
    expect('window' in (await loadInventory(write('no-window.yml', VALID)))).toBe(false)
  })

  it('keeps per-device lab settings, boot_time in ms', async () => {
    const yaml = withLine(6, '  - {name: sw1, host: 10.0.0.1, lab: {version: "16.12.04", boot_time: PT2S, faults: [never_returns]}}')
    const inventory = await loadInventory(write('lab-device.yml', yaml))
    expect(inventory.devices[0]?.lab).toEqual({version: '16.12.04', boot_time: 2000, faults: ['never_returns']})
  })

  it.each(CASES)('reports: $name', async ({name, yaml, problems}) => {
    const file = write(`${name.replace(/\W+/g, '-')}.yml`, yaml)
    const error = await loadError(file)
    expect(error.code).toBe('INVENTORY_INVALID')
    expect(error.exitCode).toBe(ExitCode.badInput)
    expect(error.message).toBe(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`)
    expect(error.problems).toHaveLength(problems.length)
    problems.forEach((expected, i) => {
      const actual = error.problems[i] ?? ''
      expect(actual.startsWith(`${file}:`), actual).toBe(true)
      const rest = actual.slice(file.length + 1)
      if (typeof expected === 'string') expect(rest).toBe(expected)
      else expect(rest).toMatch(expected)
    })
  })

  it('has a table of at least 18 broken inventories', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(18)
  })

  it('reports every problem of a file at once, in file order', async () => {
    const yaml = `stack: s1
playbook: ./pb.yml
target: {version: "17.09.05", image: a/b.bin}
ssh: {username: u, password_env: PW}
timeouts: {command: 2m}
devices:
  - {name: sw1, host: 10.0.0.1, port: 70000}
  - {name: sw1, host: 10.0.0.2, hots: x}
`
    const file = write('many.yml', yaml)
    const error = await loadError(file)
    expect(error.problems).toEqual(
      [
        '3:38 target.image: expected a plain file name such as "cat9k_iosxe.17.09.05.SPA.bin" (letters, digits, ".", "_", "-", "+"; no "/" or ":": chainup looks for it on flash:)',
        '5:21 timeouts.command: expected an ISO 8601 duration such as PT5M, got "2m"',
        '7:5 devices[0]: no host key: set devices[0].host_key or ssh.known_hosts',
        '7:39 devices[0].port: expected a port number from 1 to 65535',
        '8:5 devices[1]: no host key: set devices[1].host_key or ssh.known_hosts',
        '8:12 devices[1].name: duplicate device name "sw1" (first at line 7)',
        '8:33 devices[1].hots: unknown field (did you mean "host"?)',
      ].map((p) => `${file}:${p}`),
    )
    expect(error.message).toBe(`${file}: 7 problems`)
  })

  it('names the file as given: absolute stays absolute', async () => {
    const file = join(dir, 'absolute.yml')
    writeFileSync(file, withLine(1, 'stack: "bad stack"'))
    const error = await loadError(file)
    expect(error.problems[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:1:8 stack: `))
  })

  it('throws FILE_UNREADABLE for a missing file', async () => {
    const error = await loadError('inventories/does-not-exist.yml')
    expect(error.code).toBe('FILE_UNREADABLE')
    expect(error.exitCode).toBe(ExitCode.badInput)
    expect(error.problems).toEqual(['inventories/does-not-exist.yml:1:1 (file): cannot read the file: no such file'])
  })

  it('throws FILE_UNREADABLE for a directory', async () => {
    const error = await loadError('inventories')
    expect(error.code).toBe('FILE_UNREADABLE')
  })
})

describe('image staging fields (issue #10, docs/staging.md)', () => {
  const MD5 = '0123456789ABCDEF0123456789abcdef'
  const problemsOf = async (name: string, yaml: string) => {
    const file = write(name, yaml)
    const error = await loadError(file)
    return error.problems.map((p) => p.slice(file.length + 1))
  }

  it('loads target.image_file (absolute), the digests in lower case, staging and timeouts.transfer', async () => {
    writeFileSync(join(dir, 'image.bin'), 'image bytes')
    const yaml = withLine(3, `target: {version: "17.09.05", image: cat9k.bin, image_file: ./image.bin, md5: "${MD5}", sha512: "${'AB'.repeat(64)}"}`) + 'staging: {concurrency: 2, attempts: 5}\ntimeouts: {transfer: PT2H}\n'
    const inventory = await loadInventory(write('staging.yml', yaml))
    expect(inventory.target).toEqual({version: '17.09.05', image: 'cat9k.bin', image_file: join(dir, 'image.bin'), md5: MD5.toLowerCase(), sha512: 'ab'.repeat(64)})
    expect(inventory.staging).toEqual({concurrency: 2, attempts: 5})
    expect(inventory.timeouts.transfer).toBe(7_200_000)
  })

  it('defaults: no image_file, staging 4 devices at once and 3 attempts, transfer PT1H', async () => {
    const inventory = await loadInventory(write('staging-defaults.yml', VALID))
    expect(inventory.target).toEqual({version: '17.09.05', image: 'cat9k.bin'})
    expect(inventory.staging).toEqual({concurrency: 4, attempts: 3})
    expect(inventory.timeouts.transfer).toBe(3_600_000)
  })

  it('refuses an image_file that does not exist, with the resolved path', async () => {
    expect(await problemsOf('staging-missing.yml', withLine(3, 'target: {version: "17.09.05", image: cat9k.bin, image_file: ./nope.bin}'))).toEqual([
      `3:61 target.image_file: image file not found: ./nope.bin (resolved to ${join(dir, 'nope.bin')})`,
    ])
  })

  it('refuses digests that are not hex of the right length, and digests without image_file', async () => {
    writeFileSync(join(dir, 'image.bin'), 'image bytes')
    expect(await problemsOf('staging-bad-md5.yml', withLine(3, 'target: {version: "17.09.05", image: cat9k.bin, image_file: ./image.bin, md5: "xyz", sha512: 12}'))).toEqual([
      "3:79 target.md5: expected the image's MD5 as 32 hex digits",
      "3:94 target.sha512: expected the image's SHA-512 as 128 hex digits (in quotes), got the number 12",
    ])
    expect(await problemsOf('staging-md5-alone.yml', withLine(3, `target: {version: "17.09.05", image: cat9k.bin, md5: "${MD5}"}`))).toEqual([
      '3:49 target.md5: md5 applies to the staged image: set target.image_file too (or drop md5)',
    ])
  })

  it('refuses a staging concurrency or attempt count out of range, unknown staging fields and a bad transfer timeout', async () => {
    expect(await problemsOf('staging-range.yml', `${VALID}staging: {concurrency: 0, attempts: 11, parallel: 2}\ntimeouts: {transfer: 1h}\n`)).toEqual([
      '8:24 staging.concurrency: expected at least 1',
      '8:37 staging.attempts: expected at most 10',
      '8:41 staging.parallel: unknown field; expected one of: concurrency, attempts',
      '9:22 timeouts.transfer: expected an ISO 8601 duration such as PT5M, got "1h"',
    ])
  })
})
