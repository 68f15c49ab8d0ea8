/**
 * The loaded, validated and resolved shapes of chainup's two input files.
 * The zod schemas in `inventory.ts` / `playbook.ts` produce exactly these (durations already in ms,
 * paths already absolute). Code past the loader trusts these types (STYLE.md "validate once, at the edge").
 * Field reference: docs/inventory.md, docs/playbook.md.
 */

/** Fault switches of the simulated Catalyst 9000 (lab only). */
export const LAB_FAULTS = [
  /** Reloads and never listens again. */
  'never_returns',
  /** Reloads and comes back on the version it had before. */
  'old_version',
  /** `install add ... activate commit` never finishes and never reloads. */
  'hang_install',
  /** Boots `slow_boot_factor` (default 10) times slower than `boot_time`. */
  'slow_boot',
  /** `install add ... activate commit` prints success but the device never reloads. */
  'no_reload',
  /** `install add ... activate commit` is refused ("FAILED: … Another install operation is in progress") with exit status 0, and nothing reloads. */
  'install_busy',
  /** The target image is not on flash: (so readiness fails). */
  'missing_image',
  /** The running (previous) image is not on flash: (so a rollback is impossible and readiness with on_failure: rollback fails). */
  'no_rollback_image',
  /** Image staging: every copy to flash: arrives with one byte changed, so its digest on the device is wrong (docs/staging.md). */
  'corrupt_copy',
  /** Image staging: the first copy to flash: drops the SSH connection halfway through (a retry then succeeds). */
  'drop_copy',
] as const
export type LabFault = (typeof LAB_FAULTS)[number]

/** Lab settings for one simulated device (merged over the inventory-wide `lab`). */
export interface LabDeviceSettings {
  /** Software version the simulated device runs when the lab starts, e.g. "17.06.05". */
  version?: string
  /** How long a reload keeps the device down, in ms. */
  boot_time?: number
  /** Fault switches to turn on. */
  faults?: LabFault[]
}

/** Inventory-wide lab settings (only used by `--lab`). */
export interface LabSettings {
  /** Version every simulated device starts on. @default "17.06.05" */
  version: string
  /** Reload down-time in ms. @default 3000 (PT3S) */
  boot_time: number
}

export interface DeviceEntry {
  /** Unique name in the stack, `[A-Za-z0-9][A-Za-z0-9._-]*`; also the ChainSync node name. */
  name: string
  /** Hostname or IP address of the device's SSH service. */
  host: string
  /** SSH port. @default 22 */
  port: number
  /** Expected host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:<base64 without padding>`. */
  host_key?: string
  /** Lab overrides for this device. */
  lab?: LabDeviceSettings
  /** This device's ChainSync node address (`host:port`). Required for every device when any device is `remote`. */
  node?: {host: string; port: number}
  /** The node runs elsewhere (`chainup node --device NAME`); `chainup upgrade` does not run it. @default false */
  remote: boolean
  /** The device's SNMP agent port for `snmp.uptime` (default that section's port, 161). */
  snmp_port?: number
}

/** ChainSync settings (docs/chainsync.md). */
export interface ChainSyncSettings {
  /** Send chainup's extension lines; false = draft-only wire. @default true */
  extensions: boolean
  /** How long a node keeps dialing its predecessor / waiting for its successor, ms. @default 300000 (PT5M) */
  connect_timeout: number
  /** Heartbeat interval, ms; a link silent for 3 intervals is dead. @default 5000 (PT5S) */
  heartbeat: number
  /** A round whose link stays down longer than this fails on both sides, ms. @default 30000 (PT30S) */
  reconnect_grace: number
  /**
   * Plain TCP, nothing authenticated: only for interop with draft-only peers. Every run that uses it warns and
   * journals it (docs/security.md). @default false
   */
  insecure_plain_tcp: boolean
  /**
   * TLS 1.3 with mutual authentication from configuration. Absent: an embedded run (every node in one process) uses
   * TLS 1.3 with fresh random per-run PSKs; a chain with remote devices must set this (or `insecure_plain_tcp`).
   * Paths absolute.
   */
  tls?: {
    /** CA certificate (PEM). */
    ca?: string
    /** Directory holding `<device>.crt` and `<device>.key` for each device (as `chainup certs init` writes them). */
    cert_dir?: string
    /** Optional SHA-256 pins of the neighbours' certificates: device name -> fingerprint ("AB:CD:..."). */
    pins?: Record<string, string>
    /** TLS-PSK instead of certificates: a file with one `name: hexkey` line per device. */
    psk_file?: string
  }
}

/**
 * SNMPv3 USM authentication protocols, spelled as Net-SNMP's tools spell them (`snmptrap -a`); the inventory may
 * write them in any case. MD5 is refused (docs/decisions.md).
 */
export const SNMP_AUTH_PROTOCOLS = ['SHA', 'SHA-224', 'SHA-256', 'SHA-384', 'SHA-512'] as const
/**
 * SNMPv3 USM privacy protocols: `AES` = `AES-128` (RFC 3826); `AES-256` = `AES-256B` (Blumenthal key extension, what
 * Net-SNMP's `-x AES-256` means); `AES-256-C` = `AES-256R` (Reeder key extension, Cisco's). DES and AES-192 are refused.
 */
export const SNMP_PRIV_PROTOCOLS = ['AES', 'AES-128', 'AES-256', 'AES-256B', 'AES-256-C', 'AES-256R'] as const

/**
 * One SNMP notification receiver (docs/snmp.md). `version: '2c'` takes exactly one of `community` / `community_env`;
 * `version: 3` takes `user`, `auth` and `priv` (USM authPriv) and, for traps, `engine_id`. The loader enforces which
 * fields go with which version.
 */
export interface TrapReceiver {
  host: string
  /** UDP port. @default 162 */
  port: number
  version: '2c' | 3
  /** v2c: community given literally (it is not a secret in v2c, but prefer community_env). */
  community?: string
  /** v2c: name of the environment variable holding the community. */
  community_env?: string
  /** v3: the USM user name (RFC 3414), 1 to 32 characters. */
  user?: string
  /** v3: authentication protocol (canonical spelling, e.g. "SHA-256") and the environment variable holding its password. */
  auth?: {protocol: (typeof SNMP_AUTH_PROTOCOLS)[number]; password_env: string}
  /** v3: privacy protocol (canonical spelling, e.g. "AES") and the environment variable holding its password. */
  priv?: {protocol: (typeof SNMP_PRIV_PROTOCOLS)[number]; password_env: string}
  /** v3 traps: chainup's SNMP engine ID as hex (5 to 32 octets), the receiver's `createUser -e` value. */
  engine_id?: string
  /** Send informs (acknowledged, retried) instead of traps. @default false */
  inform?: boolean
  /** Traps: how long one send may take; informs: how long to wait for each acknowledgement, ms. @default 5000 (PT5S) */
  timeout?: number
  /** Informs: resends of an unacknowledged inform, 0 to 10. @default 2 */
  retries?: number
}

/** A recurring maintenance window (inventory `window:`). */
export interface MaintenanceWindow {
  /** Standard 5-field crontab expression (minute hour day-of-month month day-of-week, or @daily/@weekly/…) of each opening, e.g. "0 2 * * 6". */
  cron: string
  /** How long each window stays open, ms (from an ISO 8601 duration, PT1M to P24D). */
  duration: number
  /** IANA time zone the cron fields are read in, e.g. "Europe/Berlin"; DST changes are followed. */
  timezone: string
}

export interface Inventory {
  /** Absolute path of the inventory file. */
  file: string
  /** Chain name, e.g. "access-stack-1". */
  stack: string
  /** Absolute path of the playbook (written relative to the inventory file). */
  playbook: string
  target: {
    /** Version string as `show version` prints it, e.g. "17.09.05". */
    version: string
    /** Image file name on the device's flash:, e.g. "cat9k_iosxe.17.09.05.SPA.bin". */
    image: string
    /** Absolute path of the local image file chainup stages to every device during readiness (docs/staging.md). */
    image_file?: string
    /** The image's MD5 (32 lower-case hex digits); computed from `image_file` when not given. */
    md5?: string
    /** The image's SHA-512 (128 lower-case hex digits); computed from `image_file` when not given. */
    sha512?: string
  }
  /** Image staging (docs/staging.md); only used when `target.image_file` is set. */
  staging: {
    /** Devices copying the image at the same time, across the whole run. @default 4 */
    concurrency: number
    /** Copies tried per device before it is not ready (an interrupted copy is retried from scratch). @default 3 */
    attempts: number
  }
  ssh: {
    username: string
    /** Environment variable holding the password. */
    password_env?: string
    /** Absolute path of a file holding the password (first line). */
    password_file?: string
    /** Absolute path of an OpenSSH private key. */
    private_key?: string
    /** Environment variable holding the private key's passphrase. */
    passphrase_env?: string
    /** Absolute path of an OpenSSH known_hosts file. */
    known_hosts?: string
    /** The most output one device command may print, stdout and stderr together (bytes); more fails that step. @default 16777216 (16 MiB) */
    max_output_bytes: number
    /**
     * `strict`: a device must present the same host key after its reload. `repin-after-reload`: a changed key is
     * accepted only after that device's own reload (once it was seen going away), recorded in the run's events and
     * written to `known_hosts` (docs/devices.md "Host keys after a reload"). @default "strict"
     */
    host_key_policy: 'strict' | 'repin-after-reload'
  }
  /** All in milliseconds, parsed from ISO 8601 durations. */
  timeouts: {
    /** Per device command. @default 120000 (PT2M) */
    command: number
    /** A reloaded device must be back (SSH login + new boot time) within this. @default 900000 (PT15M) */
    boot: number
    /** A successor halts the chain when its immediate predecessor works on its device (its whole task) longer than this. @default 3600000 (PT1H: the shipped install step may take PT30M plus a PT15M boot) */
    predecessor: number
    /** Default gate timeout (a gate that exceeds it vetoes). @default 60000 (PT1M) */
    gate: number
    /** SSH connect/handshake timeout per attempt. @default 15000 (PT15S) */
    connect: number
    /** One image copy (one attempt of staging), ms; never the command timeout. @default 3600000 (PT1H) */
    transfer: number
    /** Overrides the playbook's `settle` (how long a device must keep answering after its boot before it counts as back); PT0S allowed. */
    settle?: number
    /** DEC-002's maximum execution time: past it the run stops like a cancel and ends failed ("timeout"). Unset = no limit. */
    run?: number
  }
  snmp: {
    /** The OID chainup's subtree hangs below (`<enterprise_oid>.1`, mibs/CHAINUP-MIB.txt). @default "1.3.6.1.4.1.32473" (RFC 5612's documentation enterprise) */
    enterprise_oid?: string
    traps: TrapReceiver[]
    /**
     * Read each device's sysUpTime.0 (SNMPv2c GET, RFC 3418) as boot evidence when the playbook's facts give neither
     * a restart time nor an uptime (docs/devices.md "Proof of return"). The community comes from the environment.
     */
    uptime?: {community_env: string; port: number; /** ms @default 2000 */ timeout: number}
  }
  /** What a failure that halts the chain leads to: stop where it is (`halt`, the safe default of draft §9 example 1) or roll back (seed 001 §3.4). @default "halt" */
  on_failure: 'halt' | 'rollback'
  lab: LabSettings
  /**
   * The maintenance window (docs/operations.md): a window opens at each time `cron` matches in `timezone` and stays
   * open for `duration`. Outside it `chainup upgrade` does not start (exit 5); a device whose estimate no longer fits
   * in what is left of it is not started (the built-in `window` gate vetoes, the run parks). Unset = no window.
   */
  window?: MaintenanceWindow
  chainsync: ChainSyncSettings
  /** Chain order: first = Head, last = Tail. At least one device. Names and host:port pairs unique. */
  devices: DeviceEntry[]
}

/** How a command reaches the device: `exec` (an exec channel per command) or `interactive` (a PTY shell, docs/devices.md). */
export type SessionMode = 'exec' | 'interactive'

/** A confirmation prompt a step answers in an interactive session. */
export interface PromptAnswerSpec {
  /** Pattern (placeholders expanded, regex-escaped) matched against the last line the device printed, e.g. '\(y/n\)\?'. */
  prompt: string
  /** Text typed in answer, followed by Enter; '' just presses Enter. */
  send: string
}

/** One command sent to the device. `{{ ... }}` placeholders are expanded before sending (docs/playbook.md). */
export interface PlaybookStep {
  name: string
  /** The command line sent with SSH exec. */
  command: string
  /** Regular expression (JavaScript syntax, multiline) the output must match; placeholders are regex-escaped. */
  expect?: string
  /** Regular expression that must NOT match the output. */
  reject?: string
  /** This command makes the device reload: the connection drop is expected; chainup then waits for the device to come back. */
  reload?: boolean
  /** Overrides timeouts.command for this step, ms. */
  timeout?: number
  /** Overrides the playbook's `session` for this step: its own exec channel, or the connection's PTY shell. */
  session?: SessionMode
  /** Interactive only: confirmation prompts answered while the command runs (docs/playbook.md "Sessions"). */
  answers?: PromptAnswerSpec[]
  /** The compensating action (seed 001 §3.4): run in this order to undo the step when the run rolls back. */
  compensate?: PlaybookStep[]
}

/** A playbook's `stage` section: how to copy the image to a device and prove it arrived intact (docs/staging.md). */
export interface PlaybookStage {
  /** `scp`: the SCP sink protocol over an exec channel (`scp -t DEST`); `sftp`: the SFTP subsystem. */
  method: 'scp' | 'sftp'
  /** Where the image goes, prefix of the remote path, e.g. "flash:" (IOS-XE) or "/var/tmp/"; the image's name is appended. */
  destination: string
  /** Lists `destination`: the image's presence and the free space are read from its output. */
  free_space: {
    /** @default "dir {{ destination }}" as written, e.g. "dir flash:" */
    command: string
    /** Pattern with the named group `(?<free>\d+)`: free bytes. @default '\((?<free>\d+) bytes free\)' (IOS-XE) */
    pattern: string
    /** Bytes per unit of `free` (1024 where the platform prints 1024-byte blocks, e.g. Junos `show system storage detail`). @default 1 */
    unit?: number
  }
  /** The on-device digest check, after a copy and to skip a copy. */
  verify: {
    /** e.g. "verify /md5 flash:{{ target.image }}". */
    command: string
    /** Pattern the output must match, e.g. '{{ target.md5 }}'. */
    expect: string
    /** Overrides timeouts.command for the verify command, ms (a device hashes 1 GB in minutes). */
    timeout?: number
  }
}

interface GateBase {
  name: string
  /** Gate timeout in ms; a gate that exceeds it vetoes. Defaults to the inventory's timeouts.gate. */
  timeout?: number
}
/** Local command gate: exit 0 = allow, anything else = veto; first line of stdout = reason. Run with /bin/sh -c in the playbook's directory. */
export interface CommandGate extends GateBase {
  kind: 'command'
  run: string
}
/** Device command gate: the command's output must match `expect` (and must not match `reject`). */
export interface DeviceCommandGate extends GateBase {
  kind: 'device_command'
  device_command: string
  expect: string
  reject?: string
}
/**
 * HTTP gate (DEC-002's call to another system, docs/playbook.md "HTTP gates"): chainup sends the gate context as JSON,
 * signed with HMAC-SHA256 when `secret_env` is set, and the answer `{"decision": "allow"|"veto", "reason": "…"}`
 * decides; any other answer, a non-2xx status or a timeout is a veto saying why.
 */
export interface HttpGate extends GateBase {
  kind: 'http'
  http: {
    /** http:// or https:// URL; placeholders are filled in (URL-encoded). */
    url: string
    /** @default "POST" */
    method: 'POST' | 'PUT'
    /** Extra request headers (placeholders filled in). */
    headers: Record<string, string>
    /** Overrides the gate's timeout, ms. */
    timeout?: number
    /** Environment variable holding the HMAC-SHA256 key for `X-Chainup-Signature: sha256=<hex>`. */
    secret_env?: string
  }
}
export type Gate = CommandGate | DeviceCommandGate | HttpGate

export interface Playbook {
  /** Absolute path of the playbook file. */
  file: string
  name: string
  description?: string
  /** The platform, e.g. "ios-xe", "eos", "junos", "nxos", "sonic"; `--lab` simulates it (docs/lab.md "Dialects"). */
  platform?: string
  /** How commands reach the device unless a step says otherwise. @default "exec" (absent) */
  session?: SessionMode
  /** Interactive sessions: pattern the last line matches when the CLI waits for a command. @default DEFAULT_PROMPT (device/interactive.ts) */
  prompt?: string
  /** Interactive sessions: the command sent first to turn the pager off, e.g. "terminal length 0"; none when absent. */
  pager?: string
  /** How to read the device's facts; patterns use named groups `version`, `uptime`, `restarted_at`. */
  facts: {
    command: string
    version: string
    uptime?: string
    restarted_at?: string
    /** The granularity of the uptime the device prints, ms (IOS: whole minutes). @default 60000 (PT1M) */
    uptime_precision: number
  }
  /**
   * After a reload, how long the device must keep answering (with the same boot) before it counts as back and its
   * `after` gates run, ms; 0 = no wait. The inventory's `timeouts.settle` overrides it. @default 30000 (PT30S)
   */
  settle: number
  /** Any match in any command's output fails the step (e.g. IOS's `% Invalid input`). @default ["^%\\s*(Invalid|Incomplete|Ambiguous|Error)"] */
  error_patterns: string[]
  /** Skip the upgrade task of a device whose facts already show target.version. @default true */
  skip_if_on_target: boolean
  /** Read-only checks that make a device locally ready (draft §6.1). */
  readiness: PlaybookStep[]
  /** With `on_failure: rollback`: read-only checks that a rollback would be possible, part of readiness (seed 001 §3.4). */
  rollback_readiness: PlaybookStep[]
  /** The device's task, run when its node enters START (draft §6.3). */
  upgrade: PlaybookStep[]
  /** How the inventory's `target.image_file` is copied to a device during readiness (docs/staging.md). */
  stage?: PlaybookStage
  gates: {
    /** scope stack: once, before any device is touched (only `command` gates). scope device: per device, part of readiness. */
    before: Array<Gate & {scope: 'stack' | 'device'}>
    /** Per device, after its task. */
    after: Gate[]
    /** Per device, when its task fails: allow = continue with the next device, veto = halt. */
    on_error: Gate[]
    /** Once, after all devices are done (only `command` gates). */
    final: Gate[]
  }
}

/**
 * Hard limits of the input files (docs/inventory.md#limits, docs/playbook.md#limits). Anything beyond them is refused
 * like any other bad input (`FILE:LINE:COL PATH: MESSAGE`, exit code 2): they keep every load far below a second and
 * bounded in memory whatever the file holds.
 */
export const INPUT_LIMITS = {
  /** Size of an inventory or playbook file, bytes (1 MiB). */
  fileBytes: 1_048_576,
  /** YAML tokens of one file (scalars, indicators such as `-` `:` `,` `[`, comments, line breaks, runs of spaces). */
  yamlTokens: 100_000,
  /** Lists and mappings inside each other. */
  nestingDepth: 32,
  /** YAML anchors (`&name`) per file; likewise aliases (`*name`). */
  anchors: 1000,
  aliases: 1000,
  /** Values (scalars, lists, mappings) the aliases of one file may stand for, counted as if each were written out. */
  aliasExpansion: 10_000,
  /** Devices in one inventory (ChainSync is benchmarked up to 1000 nodes, docs/benchmarks.md). */
  devices: 1000,
  /** Any string: commands, patterns, paths, descriptions (characters). */
  text: 4096,
  /** User names, environment variable names, SNMP communities, step and gate names, the playbook's name. */
  shortText: 256,
  /** `target.version`, `lab.version`; stack and device names have the same bound in their pattern. */
  version: 64,
  /** `target.image`: a file name. */
  image: 255,
  /** ISO 8601 duration text. */
  durationText: 64,
  /** Largest duration, ms: 24 days (P24D). Node's timers fire at once for anything above 2^31 - 1 ms (24.8 days). */
  durationMs: 24 * 86_400_000,
  /**
   * Pattern compilations per load beyond one per pattern: a pattern that puts `{{ device.name }}` or
   * `{{ device.host }}` inside `[...]`, `{...}` or a group name is checked with every device's values.
   */
  devicePatternChecks: 50_000,
  /** Problem lines listed per file; one more line says how many were left out. */
  problems: 1000,
} as const
