/**
 * Cisco NX-OS (Nexus 9000) as the lab simulates it (docs/lab.md "Dialects"), modelled on Cisco's documented output:
 * `show version` ("NXOS: version 9.3(10)", "NXOS image file is: bootflash:///nxos.9.3.10.bin", "Kernel uptime is 23
 * day(s), 4 hour(s), 17 minute(s), 3 second(s)", "Last reset at 123456 usecs after Sat Nov 21 10:01:59 2026"), `dir
 * bootflash:`, `terminal length 0`, and `install all nxos bootflash:IMAGE`: the compatibility check, the impact
 * table, then "Do you want to continue with the installation (y/n)?  [n] " — `y` installs and reloads, anything else
 * aborts. In an exec channel nobody answers, so the command waits (use an interactive session). Failures print
 * `Return code 0x…` lines; unknown commands `% Invalid command at '^' marker.`. Images are `nxos.<x.y.z>.bin`
 * (`nxos.9.3.10.bin` runs 9.3(10)).
 */
import {abbreviates, type CommandIO, ctime, type Dialect, type DialectHost, progress, words} from './types.js'

const IMAGE = /^nxos\.(\d+\.\d+\.\d+[a-z]?)\.bin$/

/** `9.3.10` → `9.3(10)`, as NX-OS prints its version. */
export function nxosVersion(dotted: string): string {
  const m = /^(\d+\.\d+)\.(\w+)$/.exec(dotted)
  return m ? `${m[1]}(${m[2]})` : dotted
}

const BAR = '[####################] 100% -- SUCCESS'

export function nxosDialect(): Dialect {
  const imageName = (v: string) => `nxos.${v}.bin`
  const dialect: Dialect = {
    platform: 'nxos',
    ident: 'OpenSSH_8.3',
    files: (version) => [imageName(version), 'bootflash_sup-remote', 'scripts', 'virtual-instance.conf'],
    imageName,
    imageVersion: (file) => IMAGE.exec(file)?.[1],
    prompt: (host, mode) => `${host.name}${mode === 'config' ? '(config)' : ''}# `,
    screenLength: 24,
    more: ' --More-- ',
    execute(line, host, io) {
      const w = words(line)
      const is = (...kw: string[]) => kw.length <= w.length && kw.every((k, i) => abbreviates(w[i]!, k))
      if (w.length === 0) return io.done(0)
      if (is('show', 'version')) return print(io, showVersion(host))
      if (is('dir') && (w.length === 1 || /^bootflash:\/*$/i.test(w[1]!))) return print(io, dir(host))
      // `show file bootflash:FILE md5sum` (image staging, docs/staging.md): the digest alone on a line.
      if (is('show', 'file') && w.length === 4 && /^(md5sum|sha512sum)$/.test(w[3]!)) {
        const file = w[2]!.replace(/^bootflash:\/*/i, '')
        const digest = /^bootflash:/i.test(w[2]!) ? host.digest(file, w[3] === 'md5sum' ? 'md5' : 'sha512') : undefined
        if (digest === undefined) {
          io.print([`No such file or directory`])
          return io.done(1)
        }
        return print(io, [digest])
      }
      if (is('terminal', 'length') && w.length === 3 && /^\d+$/.test(w[2]!)) {
        io.setScreenLength(Number(w[2]))
        return io.done(0)
      }
      if (is('install', 'all') && w.length === 4 && abbreviates(w[2]!, 'nxos')) return install(w[3]!, host, io)
      if (is('reload')) {
        return io.ask('This command will reboot the system. (y/n)?  [n] ', (answer) => {
          if (!/^y/i.test(answer)) return io.done(0)
          if (host.hasFault('no_reload')) return io.done(0)
          host.reload('reload command')
        })
      }
      if (is('show') && w.length === 1) {
        io.print(['% Incomplete command at \'^\' marker.'])
        return io.done(1)
      }
      const at = host.name.length + 2 + (is('show') ? w[0]!.length + 1 : 0)
      io.print([`${' '.repeat(at)}^`, "% Invalid command at '^' marker."])
      return io.done(1)
    },
  }
  return dialect
}

function print(io: CommandIO, lines: readonly string[]): void {
  io.print(lines)
  io.done(0)
}

function install(path: string, host: DialectHost, io: CommandIO): void {
  const file = path.replace(/^bootflash:\/*/i, '')
  const target = IMAGE.exec(file)?.[1]
  const fail = (lines: string[]) => {
    io.print(lines)
    io.done(1)
  }
  io.print(['Installer will perform compatibility check first. Please wait.', 'Installer is forced disruptive', ''])
  if (!/^bootflash:/i.test(path) || !host.hasFile(file)) return fail([`Verifying image bootflash:/${file} for boot variable "nxos".`, '[####################] 100% -- FAIL', '', `Pre-upgrade check failed. Return code 0x4045001F (image file does not exist).`])
  if (!target) return fail([`Verifying image type.`, '[####################] 100% -- FAIL', '', 'Pre-upgrade check failed. Return code 0x40930011 (Image verification failed).'])
  if (host.hasFault('install_busy')) return fail(['Another install procedure may be in progress. (0x401E0007)'])
  const running = nxosVersion(host.version)
  const next = nxosVersion(target)
  io.print([
    `Verifying image bootflash:/${file} for boot variable "nxos".`,
    BAR,
    '',
    'Verifying image type.',
    BAR,
    '',
    `Preparing "nxos" version info using image bootflash:/${file}.`,
    BAR,
    '',
    'Performing module support checks.',
    BAR,
    '',
    'Notifying services about system upgrade.',
    BAR,
    '',
    '',
    '',
    'Compatibility check is done:',
    'Module  bootable          Impact  Install-type  Reason',
    '------  --------  --------------  ------------  ------',
    '     1       yes      disruptive         reset  default upgrade is not hitless',
    '',
    '',
    '',
    'Images will be upgraded according to following table:',
    'Module       Image                  Running-Version(pri:alt)           New-Version  Upg-Required',
    '------  ----------  ----------------------------------------  --------------------  ------------',
    `     1        nxos  ${running.padStart(40)}  ${next.padStart(20)}  ${target === host.version ? '          no' : '         yes'}`,
    '',
    '',
    'Switch will be reloaded for disruptive upgrade.',
  ])
  io.ask('Do you want to continue with the installation (y/n)?  [n] ', (answer) => {
    if (!/^y/i.test(answer)) {
      io.print(['Install is aborted'])
      return io.done(1)
    }
    host.installStarted(file)
    io.write('\r\nInstall is in progress, please wait.\r\n\r\n')
    if (host.hasFault('hang_install')) return io.write('Performing runtime checks.\r\n')
    const steps = ['Performing runtime checks.', BAR, '', 'Setting boot variables.', BAR, '', 'Performing configuration copy.', BAR, '', 'Module 1: Refreshing compact flash and upgrading bios/loader/bootrom.', 'Warning: please do not remove or power off the module at this time.', BAR, '', '', 'Finishing the upgrade, switch will reboot in 10 seconds.']
    progress(host, io, steps, host.installDelayMs, () => {
      host.setNextVersion(target)
      if (host.hasFault('no_reload')) return io.done(0)
      host.reload(`install ${file}`)
    })
  })
}

function showVersion(host: DialectHost): string[] {
  const up = Math.floor((host.now().getTime() - host.bootedAt.getTime()) / 1000)
  const d = Math.floor(up / 86_400)
  const h = Math.floor((up % 86_400) / 3600)
  const m = Math.floor((up % 3600) / 60)
  const s = up % 60
  return [
    'Cisco Nexus Operating System (NX-OS) Software',
    'TAC support: http://www.cisco.com/tac',
    'Copyright (C) 2002-2022, Cisco and/or its affiliates.',
    'All rights reserved.',
    '',
    'Software',
    '  BIOS: version 05.45',
    `  NXOS: version ${nxosVersion(host.version)}`,
    '  BIOS compile time:  06/28/2021',
    `  NXOS image file is: bootflash:///nxos.${host.version}.bin`,
    '  NXOS compile time:  8/18/2022 13:00:00 [08/18/2022 22:32:51]',
    '',
    'Hardware',
    '  cisco Nexus9000 C93180YC-FX Chassis',
    '  Intel(R) Xeon(R) CPU  D-1528 @ 1.90GHz with 24569356 kB of memory.',
    '  Processor Board ID FDO21520ABC',
    '',
    `  Device name: ${host.name}`,
    '  bootflash:   53298520 kB',
    `Kernel uptime is ${d} day(s), ${h} hour(s), ${m} minute(s), ${s} second(s)`,
    '',
    `Last reset at 235077 usecs after ${ctime(host.bootedAt)}`,
    `  Reason: ${host.reloads > 0 ? 'Reset due to upgrade' : 'Unknown'}`,
    `  System version: ${nxosVersion(host.version)}`,
    '  Service: ',
  ]
}

function dir(host: DialectHost): string[] {
  return [
    ...host.files().map((f) => `  ${String(f.endsWith('.bin') ? 1_946_126_336 : 4096).padStart(10)}    Oct 29 00:10:55 2026  ${f}`),
    '',
    'Usage for bootflash://sup-local',
    ' 4529586176 bytes used',
    '48784637952 bytes free',
    '53314224128 bytes total',
  ]
}
