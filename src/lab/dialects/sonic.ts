/**
 * SONiC as the lab simulates it (docs/lab.md "Dialects"), modelled on the SONiC documentation: a Debian bash
 * (`admin@sw1:~$ `, no pager, real exit statuses, `;` and `&&` between commands), `show version` ("SONiC Software
 * Version: SONiC.202305.1-b5d7a9f", "Uptime: 10:19:34 up 23 days, 4:17, ..."), `uptime -s` (the boot time,
 * `2026-11-21 10:01:59`), `ls`, `sudo sonic-installer install -y IMAGE` (installs and makes it the default; no
 * reboot), `sudo sonic-installer list`, `sudo sonic-installer set-default SONiC-OS-<version>`, `sudo reboot`, and
 * `bash: X: command not found` (exit 127). Images are `sonic-broadcom-<version>.bin` in the home directory.
 */
import {type CommandIO, type Dialect, type DialectHost, isoSeconds, progress, words} from './types.js'

const IMAGE = /^sonic-broadcom-(\d{6}\.\d+)\.bin$/

export function sonicDialect(): Dialect {
  /** Installed images (versions); the running one is always among them. */
  const installed = new Set<string>()
  const imageName = (v: string) => `sonic-broadcom-${v}.bin`
  const hash = (v: string) => [...v].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7).toString(16).padStart(8, '0').slice(0, 7)
  const dialect: Dialect = {
    platform: 'sonic',
    ident: 'OpenSSH_8.4p1 Debian-5+deb11u1',
    files: (version) => [imageName(version)],
    imageName,
    imageVersion: (file) => IMAGE.exec(file)?.[1],
    prompt: (host) => `${host.username}@${host.name}:~$ `,
    screenLength: 0,
    more: '',
    execute(line, host, io) {
      installed.add(host.version)
      // bash: `a; b` runs both, `a && b` stops at the first failure; the last status is the line's.
      const parts = line.split(/\s*(;|&&)\s*/)
      let status = 0
      const run = (i: number): void => {
        if (i >= parts.length) return io.done(status)
        const op = parts[i - 1]
        if (op === '&&' && status !== 0) return io.done(status)
        const command = parts[i]!
        if (command === ';' || command === '&&') return run(i + 1)
        one(command, host, io, installed, hash, (code) => {
          status = code
          run(i + 1)
        })
      }
      run(0)
    },
  }
  return dialect
}

function one(line: string, host: DialectHost, io: CommandIO, installed: Set<string>, hash: (v: string) => string, done: (code: number) => void): void {
  const w = words(line)
  const text = w.join(' ')
  const out = (lines: string[], code = 0) => {
    io.print(lines)
    done(code)
  }
  if (w.length === 0) return done(0)
  if (text === 'show version') return out(showVersion(host, hash))
  if (text === 'uptime -s') return out([isoSeconds(host.bootedAt)])
  // Image staging (docs/staging.md): free bytes of the home directory's file system, and a staged file's digest.
  if (/^df -B1 --output=avail(?: \S+)?$/.test(text)) return out(['         Avail', '   12884901888'])
  const sum = /^(md5sum|sha512sum) (\S+)$/.exec(text)
  if (sum) {
    const file = sum[2]!.replace(/^(?:\.\/|~\/|\/home\/[\w.-]+\/)/, '')
    const digest = host.digest(file, sum[1] === 'md5sum' ? 'md5' : 'sha512')
    if (digest === undefined) return out([`${sum[1]}: ${sum[2]}: No such file or directory`], 1)
    return out([`${digest}  ${sum[2]}`])
  }
  if (w[0] === 'ls') {
    const wanted = w.slice(1).filter((a) => !a.startsWith('-'))
    const missing = wanted.filter((f) => !host.hasFile(f))
    if (missing.length > 0) return out(missing.map((f) => `ls: cannot access '${f}': No such file or directory`), 2)
    return out(wanted.length > 0 ? wanted : host.files())
  }
  if (text === 'sudo sonic-installer list') {
    return out([`Current: SONiC-OS-${host.version}`, `Next: SONiC-OS-${host.nextVersion}`, 'Available: ', ...[...installed].map((v) => `SONiC-OS-${v}`)])
  }
  const setDefault = /^sudo sonic-installer set-default SONiC-OS-(\S+)$/.exec(text)
  if (setDefault) {
    if (!installed.has(setDefault[1]!)) return out([`Error: Image does not exist`], 1)
    host.setNextVersion(setDefault[1]!)
    return out(['Command: grub-set-default --boot-directory=/host 0', ''])
  }
  const add = /^sudo sonic-installer install -y (\S+)$/.exec(text)
  if (add) {
    const file = add[1]!.replace(/^(\.\/|~\/|\/home\/[^/]+\/)/, '')
    if (!host.hasFile(file)) return out([`Error: Image file '${add[1]}' does not exist or is not a regular file. Aborting...`], 1)
    const target = IMAGE.exec(file)?.[1]
    if (!target) return out([`Error: Image file '${add[1]}' is not a SONiC image. Aborting...`], 1)
    if (host.hasFault('install_busy')) return out(['Error: another sonic-installer process is running. Aborting...'], 1)
    host.installStarted(file)
    const steps = [
      `Installing image SONiC-OS-${target} and setting it as default...`,
      `Command: bash ./${file}`,
      'Verifying image checksum ... OK.',
      'Preparing image archive ... OK.',
      'Installing SONiC in SONiC',
      `Installing SONiC to /host/image-${target}`,
      'Done',
      'Command: grub-set-default --boot-directory=/host 0',
      '',
    ]
    if (host.hasFault('hang_install')) return io.write(`Installing image SONiC-OS-${target} and setting it as default...\r\n`)
    return progress(host, io, steps, host.installDelayMs, () => {
      installed.add(target)
      host.setNextVersion(target)
      done(0)
    })
  }
  if (text === 'sudo reboot') {
    io.print([`User requested rebooting device ...`])
    if (host.hasFault('no_reload')) return done(0)
    return host.reload('reload command')
  }
  return out([`bash: ${w[0]}: command not found`], 127)
}

function showVersion(host: DialectHost, hash: (v: string) => string): string[] {
  const now = host.now()
  const up = now.getTime() - host.bootedAt.getTime()
  const days = Math.floor(up / 86_400_000)
  const hm = `${Math.floor((up % 86_400_000) / 3_600_000)}:${String(Math.floor((up % 3_600_000) / 60_000)).padStart(2, '0')}`
  return [
    '',
    `SONiC Software Version: SONiC.${host.version}-${hash(host.version)}`,
    'SONiC OS Version: 11',
    'Distribution: Debian 11.7',
    'Kernel: 5.10.0-18-2-amd64',
    `Build commit: ${hash(host.version)}`,
    'Build date: Mon Jun  5 08:12:31 UTC 2023',
    'Built by: sonicbld@jenkins-worker-4',
    '',
    'Platform: x86_64-accton_as7326_56x-r0',
    'HwSKU: Accton-AS7326-56X',
    'ASIC: broadcom',
    'ASIC Count: 1',
    'Serial Number: AS7326-1234567',
    'Model Number: FN-AS7326-56X',
    'Hardware Revision: N/A',
    `Uptime: ${isoSeconds(now).slice(11)} up ${days ? `${days} day${days === 1 ? '' : 's'}, ` : ''}${hm},  1 user,  load average: 0.52, 0.58, 0.59`,
    `Date: ${now.toUTCString()}`,
    '',
    'Docker images:',
    'REPOSITORY                 TAG                 IMAGE ID            SIZE',
    `docker-orchagent          ${host.version.padEnd(20)}a5fe9d4b5e6c        328MB`,
  ]
}
