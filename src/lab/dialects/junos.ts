/**
 * Juniper Junos (EX series) as the lab simulates it (docs/lab.md "Dialects"), modelled on Juniper's documented
 * output: `show version` ("Hostname: sw1", "Model: ex4300-48t", "Junos: 21.4R3-S5.4"), `show system uptime`
 * ("System booted: 2026-11-21 10:01:59 UTC (3w2d 04:17 ago)"), `file list /var/tmp/`, `set cli screen-length 0`
 * ("Screen length set to 0"), `request system software add /var/tmp/IMAGE reboot` (validation, install, "Rebooting
 * ...", then the reload), `request system software rollback reboot` (back to the previous installation), the
 * `---(more)---` pager, and "syntax error, expecting <command>." under a caret for anything else. Images are
 * `jinstall-ex-4300-<version>-signed.tgz` in /var/tmp/. Prompt: `netops@sw1> `.
 */
import {type CommandIO, type Dialect, type DialectHost, isoSeconds, progress, words} from './types.js'

const IMAGE = /^jinstall-ex-4300-(\d+\.\d+R\d+(?:-S\d+(?:\.\d+)?)?(?:\.\d+)?)-signed\.tgz$/

export function junosDialect(): Dialect {
  /** The version before the last install (what `request system software rollback` goes back to). */
  let previous: string | undefined
  const imageName = (v: string) => `jinstall-ex-4300-${v}-signed.tgz`
  const dialect: Dialect = {
    platform: 'junos',
    ident: 'OpenSSH_7.5',
    files: (version) => [imageName(version)],
    imageName,
    imageVersion: (file) => IMAGE.exec(file)?.[1],
    prompt: (host, mode) => `${host.username}@${host.name}${mode === 'config' ? '#' : '>'} `,
    screenLength: 24,
    more: '---(more)---',
    execute(line, host, io) {
      const w = words(line.replace(/\s*\|\s*no-more\s*$/, ''))
      const text = w.join(' ')
      if (w.length === 0) return io.done(0)
      if (text === 'show version') return print(io, [`Hostname: ${host.name}`, 'Model: ex4300-48t', `Junos: ${host.version}`, `JUNOS OS Kernel 64-bit  [20230609.3c2c7d1_builder_stable_11]`, 'JUNOS OS libs [20230609.3c2c7d1_builder_stable_11]', 'JUNOS OS runtime [20230609.3c2c7d1_builder_stable_11]', `JUNOS EX  Software Suite [${host.version}]`, `JUNOS Online Documentation [${host.version}]`])
      if (text === 'show system uptime') return print(io, uptime(host))
      if (/^file list \/var\/tmp\/?$/.test(text)) return print(io, ['/var/tmp/:', ...host.files(), 'gres-tp/', 'vi.recover/'])
      // Image staging (docs/staging.md): free space in 1024-byte blocks, and a staged file's digest.
      if (text === 'show system storage detail') {
        return print(io, [
          'Filesystem              1024-blocks       Used      Avail  Capacity  Mounted on',
          '/dev/gpt/junos              1306384     509884     692020       42%  /.mount',
          '/dev/gpt/var                3258404    1127644    1875084       38%  /.mount/var',
          'tmpfs                        823140        148     823000        0%  /.mount/tmp',
        ])
      }
      const checksum = /^file checksum (md5|sha-512) \/var\/tmp\/(\S+)$/.exec(text)
      if (checksum) {
        const digest = host.digest(checksum[2]!, checksum[1] === 'md5' ? 'md5' : 'sha512')
        if (digest === undefined) return print(io, [`error: could not resolve file: /var/tmp/${checksum[2]}`], 1)
        return print(io, [`${checksum[1] === 'md5' ? 'MD5' : 'SHA512'} (/var/tmp/${checksum[2]}) = ${digest}`])
      }
      if (/^set cli screen-length \d+$/.test(text)) {
        io.setScreenLength(Number(w[3]))
        return print(io, [`Screen length set to ${w[3]}`])
      }
      const add = /^request system software add (\S+)( no-validate)?( reboot)?$/.exec(text)
      if (add) return install(add[1]!, add[3] !== undefined, host, io, (v) => (previous = v))
      if (text === 'request system software rollback reboot' || text === 'request system software rollback') {
        if (previous === undefined) return print(io, ['error: There is no previous installation to roll back to'], 1)
        io.print(['Junos version rolled back to ' + previous + '.'])
        host.setNextVersion(previous)
        previous = undefined
        if (!text.endsWith('reboot')) return io.done(0)
        io.print(['Rebooting ...', 'shutdown: [pid 4242]', 'Shutdown NOW!'])
        return host.reload('rollback')
      }
      if (text === 'request system reboot') {
        return io.ask('Reboot the system ? [yes,no] (no) ', (answer) => {
          if (answer !== 'yes') return io.done(0)
          io.print(['', 'Shutdown NOW!'])
          if (host.hasFault('no_reload')) return io.done(0)
          host.reload('reload command')
        })
      }
      const at = `${host.username}@${host.name}> `.length + (w[0] === 'show' || w[0] === 'request' || w[0] === 'file' ? w[0].length + 1 : 0)
      return print(io, [`${' '.repeat(at)}^`, w[0] === 'show' || w[0] === 'request' || w[0] === 'file' ? `syntax error.` : 'unknown command.'], 1)
    },
  }
  return dialect
}

function print(io: CommandIO, lines: readonly string[], code = 0): void {
  io.print(lines)
  io.done(code)
}

function ago(ms: number): string {
  const min = Math.floor(ms / 60_000)
  const w = Math.floor(min / 10_080)
  const d = Math.floor((min % 10_080) / 1440)
  const hm = `${String(Math.floor((min % 1440) / 60)).padStart(2, '0')}:${String(min % 60).padStart(2, '0')}`
  return `${w ? `${w}w` : ''}${w || d ? `${d}d ` : ''}${hm} ago`
}

function uptime(host: DialectHost): string[] {
  const now = host.now()
  const booted = host.bootedAt
  const up = now.getTime() - booted.getTime()
  return [
    `Current time: ${isoSeconds(now)} UTC`,
    'Time Source:  LOCAL CLOCK ',
    `System booted: ${isoSeconds(booted)} UTC (${ago(up)})`,
    `Protocols started: ${isoSeconds(new Date(booted.getTime() + 80_000))} UTC (${ago(Math.max(0, up - 80_000))})`,
    `Last configured: ${isoSeconds(booted)} UTC (${ago(up)}) by root`,
    `${now.getUTCHours() % 12 || 12}:${String(now.getUTCMinutes()).padStart(2, '0')}${now.getUTCHours() < 12 ? 'AM' : 'PM'}  up ${Math.floor(up / 86_400_000)} days,  ${Math.floor((up % 86_400_000) / 3_600_000)}:${String(Math.floor((up % 3_600_000) / 60_000)).padStart(2, '0')}, 1 user, load averages: 0.10, 0.12, 0.09`,
  ]
}

function install(path: string, reboot: boolean, host: DialectHost, io: CommandIO, remember: (previous: string) => void): void {
  const file = path.replace(/^\/var\/tmp\//, '')
  if (!path.startsWith('/var/tmp/') || !host.hasFile(file)) return print(io, [`error: File does not exist: ${path}`, 'error: Could not find package ' + path], 1)
  const target = IMAGE.exec(file)?.[1]
  if (!target) return print(io, [`ERROR: ${path}: not a valid Junos package`], 1)
  if (host.hasFault('install_busy')) return print(io, ['error: another package installation is in progress'], 1)
  host.installStarted(file)
  const lines = [
    `NOTICE: Validating configuration against ${file}.`,
    "NOTICE: Use the 'no-validate' option to skip this if desired.",
    'Checking compatibility with configuration',
    'Initializing...',
    'Verified manifest signed by PackageProductionECP256_2023 method ECDSA256+SHA256',
    `Using ${path}`,
    'Validating against /config/juniper.conf.gz',
    'mgd: commit complete',
    'Validation succeeded',
    `Installing package '${path}' ...`,
    `Verified jinstall-ex-4300-${target}.tgz signed by PackageProductionECP256_2023 method ECDSA256+SHA256`,
    'Adding jinstall...',
    'Saving package file in /var/sw/pkg/ ...',
    'Saving state for rollback ...',
  ]
  if (host.hasFault('hang_install')) return io.write(`NOTICE: Validating configuration against ${file}.\r\n`)
  progress(host, io, lines, host.installDelayMs, () => {
    remember(host.version)
    host.setNextVersion(target)
    if (!reboot) {
      io.print(['WARNING: A reboot is required to install the software', "WARNING:     Use the 'request system reboot' command immediately"])
      return io.done(0)
    }
    io.print(['Rebooting ...', 'shutdown: [pid 4242]', 'Shutdown NOW!', '', `*** FINAL System shutdown message from root@${host.name} ***`, '', 'System going down IMMEDIATELY'])
    if (host.hasFault('no_reload')) return io.done(0)
    host.reload(`install ${file}`)
  })
}
