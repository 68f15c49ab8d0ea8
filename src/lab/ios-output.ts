/**
 * What the simulated Catalyst 9000 prints (docs/lab.md "Commands", "Install"): `show version`, `show clock`,
 * `show running-config`, `show install summary`, `show boot`, `show switch`, `dir flash:`, the install progress and
 * its refusals, IOS's parse error messages, IOS-XE image naming and the IOS time formats (all UTC).
 *
 * Pure: every function is a function of its arguments (device state and "now" are passed in); no I/O, no timers.
 * Renderers return lines without line endings; {@link toText} joins them the way IOS sends them (`\r\n`).
 *
 * Longer than ~450 lines because most of it is verbatim device output (`show version` alone is ~120 lines of text);
 * splitting the text of one device across files would make it harder to compare with a real switch.
 */
import {createHash} from 'node:crypto'

import type {OutputCommand, ParseFailure} from './ios-grammar.js'

/** IOS line ending. */
export const CRLF = '\r\n'

/** Lines as IOS sends them: each one ends in `\r\n`. */
export function toText(lines: readonly string[]): string {
  return lines.join(CRLF) + CRLF
}

// ------------------------------------------------------------------ device state the output is made of

/** One file on `flash:`. */
export interface FlashFile {
  name: string
  size: number
  mtime: Date
  inode: number
  /** Digests of what was copied to it (image staging); files the simulation made up have {@link fakeDigest}s. */
  md5?: string
  sha512?: string
}

/** The state of a device that its `show` and `dir` output depends on. */
export interface DeviceView {
  /** Hostname. */
  name: string
  /** Model number, e.g. `C9300-48P`. */
  model: string
  /** The (only) local user, named in `show running-config`. */
  username: string
  /** Running version, e.g. `17.06.05`. */
  version: string
  /** Version the next boot comes up on (differs from `version` after a committed install without a reload). */
  nextVersion: string
  /** When the running software booted. */
  bootedAt: Date
  /** When the last simulated reload began; undefined before the first one (the device was powered on). */
  lastReload: Date | undefined
  /** The files on `flash:`, in any order. */
  flash: readonly FlashFile[]
  /** Size of `flash:`, bytes. @default FLASH_TOTAL_BYTES (11353194496) */
  flashTotal?: number
}

/** Size of a Cat9300's `flash:`, bytes. */
export const FLASH_TOTAL_BYTES = 11_353_194_496
/** Bytes used on flash by files the listing does not show (crashinfo, tracelogs, ...). */
export const FLASH_HIDDEN_USED_BYTES = 1_873_412_096
const PKG_KINDS = ['cc_srdriver', 'espbase', 'guestshell', 'lni', 'rpbase', 'rpboot', 'sipbase', 'sipspa', 'srdriver', 'webui', 'wlc']
const IMAGE_RE = /^cat9k_iosxe\.(\d{2}\.\d{2}\.\d{2}[a-z]?)\.SPA\.bin$/i

/** The output of a command that prints something (`filter` not applied). */
export function renderOutput(command: OutputCommand, d: DeviceView, now: Date): string[] {
  switch (command.id) {
    case 'show_version':
      return showVersion(d, now)
    case 'show_clock':
      return [`*${formatIosClock(now)}`]
    case 'show_running':
      return showRunningConfig(d, now)
    case 'show_install_summary':
      return showInstallSummary(d)
    case 'show_boot':
      return showBoot()
    case 'show_switch':
      return showSwitch(d)
    case 'dir':
      return dirFlash(d.flash, d.flashTotal)
  }
}

/**
 * IOS's answer to a line it cannot parse. `promptName` is the hostname: the `^` is placed under column `col` of
 * the command counted from the start of the `name#` prompt.
 */
export function parseErrorLines(promptName: string, e: ParseFailure): string[] {
  switch (e.kind) {
    case 'invalid':
      return [`${' '.repeat(promptName.length + 1 + e.col)}^`, "% Invalid input detected at '^' marker.", '']
    case 'incomplete':
      return ['% Incomplete command.', '']
    case 'ambiguous':
      return [`% Ambiguous command:  "${e.text}"`]
  }
}

// ------------------------------------------------------------------ show commands

export function showVersion(d: DeviceView, now: Date): string[] {
  const v = d.version
  const {name, model} = d
  const ports = /-24/.test(model) ? 24 : 48
  const uptime = formatIosUptime(now.getTime() - d.bootedAt.getTime())
  const serial = serialOf(name)
  const returned = d.lastReload
    ? [`System returned to ROM by Reload Command at ${formatIosTime(d.lastReload)}`]
    : ['System returned to ROM by PowerOn']
  return [
    `Cisco IOS XE Software, Version ${v}`,
    `Cisco IOS Software [${trainOf(v)}], Catalyst L3 Switch Software (CAT9K_IOSXE), Version ${shortVersion(v)}, RELEASE SOFTWARE (fc2)`,
    'Technical Support: http://www.cisco.com/techsupport',
    'Copyright (c) 1986-2024 by Cisco Systems, Inc.',
    'Compiled Thu 14-Mar-24 02:13 by mcpre',
    '',
    '',
    'Cisco IOS-XE software, Copyright (c) 2005-2024 by cisco Systems, Inc.',
    'All rights reserved.  Certain components of Cisco IOS-XE software are',
    'licensed under the GNU General Public License ("GPL") Version 2.0.  The',
    'software code licensed under GPL Version 2.0 is free software that comes',
    'with ABSOLUTELY NO WARRANTY.  You can redistribute and/or modify such',
    'GPL code under the terms of GPL Version 2.0.  For more details, see the',
    'documentation or "License Notice" file accompanying the IOS-XE software,',
    'or the applicable URL provided on the flyer accompanying the IOS-XE',
    'software.',
    '',
    '',
    'ROM: IOS-XE ROMMON',
    'BOOTLDR: System Bootstrap, Version 17.6.1r[FC2], RELEASE SOFTWARE (P)',
    '',
    `${name} uptime is ${uptime}`,
    `Uptime for this control processor is ${uptime}`,
    ...returned,
    `System restarted at ${formatIosTime(d.bootedAt)}`,
    'System image file is "flash:packages.conf"',
    `Last reload reason: ${d.lastReload ? 'Reload Command' : 'PowerOn'}`,
    '',
    '',
    '',
    'This product contains cryptographic features and is subject to United',
    'States and local country laws governing import, export, transfer and',
    'use. Delivery of Cisco cryptographic products does not imply',
    'third-party authority to import, export, distribute or use encryption.',
    'Importers, exporters, distributors and users are responsible for',
    'compliance with U.S. and local country laws. By using this product you',
    'agree to comply with applicable laws and regulations. If you are unable',
    'to comply with U.S. and local laws, return this product immediately.',
    '',
    'A summary of U.S. laws governing Cisco cryptographic products may be found at:',
    'http://www.cisco.com/wwl/export/crypto/tool/stqrg.html',
    '',
    'If you require further assistance please contact us by sending email to',
    'export@cisco.com.',
    '',
    '',
    'Technology Package License Information: ',
    '',
    '------------------------------------------------------------------------------',
    'Technology-package                                     Technology-package',
    'Current                        Type                       Next reboot  ',
    '------------------------------------------------------------------------------',
    'network-advantage      \tSmart License                 \t network-advantage   ',
    'dna-advantage          \tSubscription Smart License    \t dna-advantage                 ',
    'AIR License Level: AIR DNA Advantage',
    'Next reload AIR license Level: AIR DNA Advantage',
    '',
    '',
    'Smart Licensing Status: Smart Licensing Using Policy',
    '',
    `cisco ${model} (X86) processor with 1331521K/6147K bytes of memory.`,
    `Processor board ID ${serial}`,
    '2 Virtual Ethernet interfaces',
    `${ports + 4} Gigabit Ethernet interfaces`,
    '8 Ten Gigabit Ethernet interfaces',
    '2 TwentyFive Gigabit Ethernet interfaces',
    '2 Forty Gigabit Ethernet interfaces',
    '2048K bytes of non-volatile configuration memory.',
    '8388608K bytes of physical memory.',
    '1638400K bytes of Crash Files at crashinfo:.',
    '11264000K bytes of Flash at flash:.',
    '0K bytes of WebUI ODM Files at webui:.',
    '',
    `Base Ethernet MAC Address          : ${macOf(name, ':')}`,
    'Motherboard Assembly Number        : 73-18271-03',
    `Motherboard Serial Number          : ${serial.replace(/^FOC/, 'FOC2')}`,
    'Model Revision Number              : A0',
    'Motherboard Revision Number        : A0',
    `Model Number                       : ${model}`,
    `System Serial Number               : ${serial.replace(/^FOC/, 'FCW')}`,
    'CLEI Code Number                   : ',
    '',
    '',
    'Switch Ports Model              SW Version        SW Image              Mode   ',
    '------ ----- -----              ----------        ----------            ----   ',
    `*    1 ${String(ports + 14).padEnd(5)} ${model.padEnd(18)} ${v.padEnd(17)} ${'CAT9K_IOSXE'.padEnd(21)} INSTALL`,
    '',
    '',
    'Configuration register is 0x102',
    '',
  ]
}

export function showRunningConfig(d: DeviceView, now: Date): string[] {
  const [major, minor] = d.version.split('.')
  const booted = d.bootedAt
  return [
    'Building configuration...',
    '',
    'Current configuration : 4821 bytes',
    '!',
    `! Last configuration change at ${formatIosTime(booted)} by ${d.username}`,
    `! NVRAM config last updated at ${formatIosTime(new Date(Math.min(now.getTime(), booted.getTime() + 60_000)))} by ${d.username}`,
    '!',
    `version ${Number(major)}.${Number(minor)}`,
    'service timestamps debug datetime msec',
    'service timestamps log datetime msec',
    'service password-encryption',
    'service call-home',
    'platform punt-keepalive disable-kernel-core',
    '!',
    `hostname ${d.name}`,
    '!',
    'vrf definition Mgmt-vrf',
    ' !',
    ' address-family ipv4',
    ' exit-address-family',
    '!',
    'no aaa new-model',
    'switch 1 provision ' + d.model.toLowerCase(),
    '!',
    'ip domain name lab.example',
    '!',
    'login on-success log',
    '!',
    'license boot level network-advantage addon dna-advantage',
    '!',
    'boot system switch all flash:packages.conf',
    '!',
    `username ${d.username} privilege 15 secret 9 $9$simulatedsimulatedsimulatedsimulated`,
    '!',
    'interface GigabitEthernet0/0',
    ' vrf forwarding Mgmt-vrf',
    ' no ip address',
    ' negotiation auto',
    '!',
    'ip ssh version 2',
    '!',
    'snmp-server community public RO',
    '!',
    'line con 0',
    ' stopbits 1',
    'line vty 0 15',
    ' login local',
    ' transport input ssh',
    '!',
    'end',
    '',
  ]
}

export function showInstallSummary(d: Pick<DeviceView, 'version' | 'nextVersion'>): string[] {
  const rows = [`IMG   C    ${buildOf(d.version)}`]
  if (d.nextVersion !== d.version) rows.push(`IMG   U    ${buildOf(d.nextVersion)}`)
  return [
    '[ Switch 1 ] Installed Package(s) Information:',
    'State (St): I - Inactive, U - Activated & Uncommitted,',
    '            C - Activated & Committed, D - Deactivated & Uncommitted',
    '--------------------------------------------------------------------------------',
    'Type  St   Filename/Version',
    '--------------------------------------------------------------------------------',
    ...rows,
    '',
    '--------------------------------------------------------------------------------',
    'Auto abort timer: inactive',
    '--------------------------------------------------------------------------------',
    '',
  ]
}

export function showBoot(): string[] {
  return [
    '---------------------------',
    'Switch 1',
    '---------------------------',
    'Current Boot Variables:',
    'BOOT variable = flash:packages.conf;',
    '',
    'Boot Variables on next reload:',
    'BOOT variable = flash:packages.conf;',
    'Manual Boot = no',
    'Enable Break = yes',
    'Boot Mode = DEVICE',
    'iPXE Timeout = 0',
  ]
}

export function showSwitch(d: Pick<DeviceView, 'name'>): string[] {
  const mac = macOf(d.name, '.')
  return [
    `Switch/Stack Mac Address : ${mac} - Local Mac Address`,
    'Mac persistency wait time: Indefinite',
    '                                             H/W   Current',
    'Switch#   Role    Mac Address     Priority Version  State ',
    '-------------------------------------------------------------------------------------',
    `*1       Active   ${mac}     15     V02     Ready                `,
    '',
  ]
}

/** `dir flash:`: the files sorted by name, then total and free bytes. */
export function dirFlash(flash: readonly FlashFile[], total = FLASH_TOTAL_BYTES): string[] {
  const files = [...flash].sort((a, b) => a.name.localeCompare(b.name))
  return [
    'Directory of flash:/',
    '',
    ...files.map((f) => `${String(f.inode).padStart(7)}  -rw-  ${String(f.size).padStart(14)}  ${formatDirDate(f.mtime)}  ${f.name}`),
    '',
    `${total} bytes total (${flashFree(flash, total)} bytes free)`,
  ]
}

/** Free bytes on `flash:` with these files on it (of `total` bytes). */
export function flashFree(flash: readonly FlashFile[], total = FLASH_TOTAL_BYTES): number {
  const used = flash.reduce((sum, f) => sum + f.size, 0)
  return Math.max(0, total - FLASH_HIDDEN_USED_BYTES - used)
}

/** A stable made-up digest for a file the simulation invented (not copied to it): hash of its name. */
export function fakeDigest(name: string, algorithm: 'md5' | 'sha512'): string {
  return createHash(algorithm).update(`sim-flash:${name}`).digest('hex')
}

/**
 * `verify /md5 flash:FILE` as IOS-XE prints it: a line of dots while it reads, `Done!`, then
 * `verify /md5 (flash:FILE) = HEX`. `file` is the name without the file system.
 */
export function verifyOutput(algorithm: 'md5' | 'sha512', file: string, digest: string): string[] {
  return ['.'.repeat(40) + 'Done!', `verify /${algorithm} (flash:${file}) = ${digest}`, '']
}

/** `verify /md5 flash:FILE` when FILE is not on flash:. */
export function verifyNoSuchFile(file: string): string[] {
  return [`%Error verifying flash:${file} (No such file or directory)`, '']
}

// ------------------------------------------------------------------ hostile output (fault `hostile_output`)

/**
 * What the `hostile_output` fault appends to a device's output (docs/lab.md "Faults"): shell syntax that creates files
 * named `pwned…` in the working directory if it ever reaches a shell unquoted, and terminal control: an OSC window
 * title ended by BEL, clear-screen, an 8-bit CSI (U+009B), and a bare CR followed by erase-line that would overwrite
 * what a terminal shows. `version` has no whitespace, so a `Version (?<version>\S+)` pattern captures all of it.
 */
export const HOSTILE = {
  version: ';touch${IFS}pwned;$(touch${IFS}pwned2)\x1b]0;owned\x07\x1b[2J\x9b31m',
  uptime: '\x1b[8m`touch pwned3`\x07',
  error: ' $(touch pwned4)\x1b[31m\x07\r\x1b[2Kall good;touch${IFS}pwned5',
} as const

/** `show version` of a hostile device: {@link HOSTILE} `version` after the version, `uptime` after the uptime. */
export function hostileShowVersion(lines: readonly string[]): string[] {
  return lines.map((l) => {
    if (l.startsWith('Cisco IOS XE Software, Version ')) return l + HOSTILE.version
    if (/ uptime is /.test(l)) return l + HOSTILE.uptime
    return l
  })
}

/** Error output of a hostile device: {@link HOSTILE} `error` after every `%…` and `FAILED:` line. */
export function hostileErrors(lines: readonly string[]): string[] {
  return lines.map((l) => (/^(%|FAILED:)/.test(l) ? l + HOSTILE.error : l))
}

// ------------------------------------------------------------------ install

/** `install add file flash:IMAGE ...` when IMAGE is not on flash: (`image` without the file system). */
export function installNoSuchFile(image: string): string[] {
  return [`%Error opening flash:/${image} (No such file or directory)`, '']
}

/** `install add file flash:FILE ...` when FILE is on flash: but is not a bundle image. */
export function installNotAPackage(image: string): string[] {
  return [`%Error: flash:/${image} is not a valid IOS XE package (bad package name or type)`, '']
}

/** `install add file ...` of the version that runs (or is already committed). */
export function installAlreadyAdded(now: Date): string[] {
  return [
    `install_add_activate_commit: START ${formatUnixDate(now)}`,
    'install_add_activate_commit: Adding PACKAGE',
    'install_add_activate_commit: Checking whether new add is allowed ....',
    "FAILED: install_add_activate_commit : Super package already added. Add operation not allowed. 'install remove inactive' can be used to discard unused package",
    `FAILED: install_add_activate_commit exit(1) ${formatUnixDate(now)}`,
  ]
}

/**
 * `install add file ... activate commit` while another install runs, as a Catalyst 9000 on 17.x prints it; the exec
 * still ends with exit status 0 (seen on a lab switch behind OpenSSH, issue #10 "Proof of return").
 */
export function installBusy(now: Date): string[] {
  return [
    `install_add_activate_commit: START ${formatUnixDate(now)}`,
    'FAILED: install_add_activate_commit : Another install operation is in progress',
    `FAILED: install_add_activate_commit exit(1) ${formatUnixDate(now)}`,
  ]
}

/**
 * The progress lines of a successful `install add file flash:IMAGE activate commit` of version `target`,
 * started at `now` and ending `seconds` later (the `SUCCESS` line's time).
 */
export function installProgress(image: string, target: string, now: Date, seconds: number): string[] {
  const end = new Date(now.getTime() + seconds * 1000)
  const phase = (name: string, verb: string): string[] => [
    `--- Starting ${name} ---`,
    `Performing ${name} on all members`,
    `  [1] ${name} package(s) on switch 1`,
    `  [1] Finished ${name} on switch 1`,
    `Checking status of ${name} on [1]`,
    `${name}: Passed on [1]`,
    `Finished ${verb}`,
    '',
  ]
  return [
    `install_add_activate_commit: START ${formatUnixDate(now)}`,
    'install_add_activate_commit: Adding PACKAGE',
    'install_add_activate_commit: Checking whether new add is allowed ....',
    '',
    '--- Starting initial file syncing ---',
    `[1]: Copying flash:${image} from switch 1 to switch 1`,
    `[1]: Finished copying to switch 1`,
    `Info: Finished copying flash:${image} to the selected switch(es)`,
    'Finished initial file syncing',
    '',
    ...phase('Add', 'Add'),
    `Image added. Version: ${buildOf(target)}`,
    'install_add_activate_commit: Activating PACKAGE',
    'Following packages shall be activated:',
    ...pkgNames(target).map((p) => `/flash/${p}`),
    '',
    'This operation may require a reload of the system. Do you want to proceed? [y/n]y',
    ...phase('Activate', 'Activate'),
    ...phase('Commit', 'Commit'),
    'Send model notification for install_add_activate_commit before reload',
    '[1]: Reloading the switch',
    'Install will reload the system now!',
    `SUCCESS: install_add_activate_commit  ${formatUnixDate(end)}`,
  ]
}

// ------------------------------------------------------------------ IOS-XE names and numbers

function hashNumber(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0)
}

/** The IOS-XE bundle image name of a version: `17.09.05` → `cat9k_iosxe.17.09.05.SPA.bin`. */
export function imageName(version: string): string {
  return `cat9k_iosxe.${version}.SPA.bin`
}

/** The `.pkg` files an install of `version` unpacks onto flash:. */
export function pkgNames(version: string): string[] {
  return PKG_KINDS.map((k) => `cat9k-${k}.${version}.SPA.pkg`)
}

/**
 * The version in a Catalyst 9000 bundle image name, or undefined when the name is not one.
 * `cat9k_iosxe.17.09.05.SPA.bin` → `17.09.05`; `cat9k_iosxe.17.09.04a.SPA.bin` → `17.09.04a`.
 */
export function parseImageVersion(image: string): string | undefined {
  return IMAGE_RE.exec(image.replace(/^(flash|bootflash):\/?/i, ''))?.[1]
}

/** A plausible, stable size for a file on flash: (about 1 GB for an image, a few MB for a package, ...). */
export function flashFileSize(name: string): number {
  const h = hashNumber(name)
  if (IMAGE_RE.test(name)) return 1_000_000_000 + (h % 250_000_000)
  if (name.endsWith('.pkg')) return 1_000_000 + (h % 400_000_000)
  if (name === 'packages.conf') return 7000 + (h % 1500)
  return 1000 + (h % 5_000_000)
}

/** `17.06.05` → `17.6.5`, `17.09.04a` → `17.9.4a` (the form of the `Cisco IOS Software` line). */
export function shortVersion(version: string): string {
  return version
    .split('.')
    .map((part) => part.replace(/^0+(?=\d)/, ''))
    .join('.')
}

function trainOf(version: string): string {
  const minor = Number(version.split('.')[1] ?? 0)
  if (minor <= 3) return 'Amsterdam'
  if (minor <= 6) return 'Bengaluru'
  if (minor <= 9) return 'Cupertino'
  if (minor <= 12) return 'Dublin'
  return 'IOSXE'
}

function buildOf(version: string): string {
  return `${version}.0.${(hashNumber(version) % 9000) + 1000}`
}

function serialOf(name: string): string {
  return `FOC${String(hashNumber(`serial:${name}`) % 100_000_000).padStart(8, '0')}`
}

function macOf(name: string, style: ':' | '.'): string {
  const b = createHash('sha256').update(`mac:${name}`).digest()
  const bytes = [0x00, 0xa3, 0xd1, b[0] ?? 0, b[1] ?? 0, b[2] ?? 0].map((x) => x.toString(16).padStart(2, '0'))
  if (style === ':') return bytes.join(':')
  return `${bytes[0]}${bytes[1]}.${bytes[2]}${bytes[3]}.${bytes[4]}${bytes[5]}`
}

// ------------------------------------------------------------------ time formats (all UTC)

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const p2 = (n: number): string => String(n).padStart(2, '0')
const hms = (d: Date): string => `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`
const dayName = (d: Date): string => DAYS[d.getUTCDay()] ?? ''
const monthName = (d: Date): string => MONTHS[d.getUTCMonth()] ?? ''

/** IOS timestamp with seconds, as in `System restarted at`: `10:01:59 UTC Sat Nov 21 2026`. */
export function formatIosTime(d: Date): string {
  return `${hms(d)} UTC ${dayName(d)} ${monthName(d)} ${d.getUTCDate()} ${d.getUTCFullYear()}`
}

/** `show clock` time (without the leading `*`): `10:02:03.123 UTC Sat Nov 21 2026`. */
export function formatIosClock(d: Date): string {
  return `${hms(d)}.${String(d.getUTCMilliseconds()).padStart(3, '0')} UTC ${dayName(d)} ${monthName(d)} ${d.getUTCDate()} ${d.getUTCFullYear()}`
}

/** `date`-style timestamp of install logs: `Sat Nov 21 10:02:03 UTC 2026`. */
export function formatUnixDate(d: Date): string {
  return `${dayName(d)} ${monthName(d)} ${d.getUTCDate()} ${hms(d)} UTC ${d.getUTCFullYear()}`
}

/** `dir` timestamp: `Nov 21 2026 10:02:03 +00:00`. */
export function formatDirDate(d: Date): string {
  return `${monthName(d)} ${String(d.getUTCDate()).padStart(2)} ${d.getUTCFullYear()} ${hms(d)} +00:00`
}

/**
 * Uptime the way IOS prints it: years, weeks, days and hours when non-zero, minutes always,
 * singular/plural: `3 weeks, 2 days, 4 hours, 17 minutes`, `1 hour, 0 minutes`, `0 minutes`.
 * @param ms elapsed time in milliseconds (negative counts as 0)
 */
export function formatIosUptime(ms: number): string {
  let minutes = Math.max(0, Math.floor(ms / 60_000))
  const parts: string[] = []
  for (const [unit, size] of [
    ['year', 365 * 1440],
    ['week', 7 * 1440],
    ['day', 1440],
    ['hour', 60],
  ] as const) {
    const n = Math.floor(minutes / size)
    minutes -= n * size
    if (n > 0) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`)
  }
  parts.push(`${minutes} minute${minutes === 1 ? '' : 's'}`)
  return parts.join(', ')
}
