/**
 * Arista EOS as the lab simulates it (docs/lab.md "Dialects"), modelled on Arista's documented output: `show
 * version` ("Software image version: 4.30.1F", "Uptime: 3 weeks, 2 days, 4 hours and 17 minutes"), `dir flash:`,
 * `configure` / `boot system flash:EOS-4.30.1F.swi` / `end`, `show boot-config`, `write memory` ("Copy completed
 * successfully."), `reload now` (no question) and `reload` ("Proceed with reload? [confirm]"), `terminal length 0`,
 * and `% Invalid input` for anything else. Images are `EOS-<version>.swi` on flash:.
 */
import {abbreviates, type CommandIO, type Dialect, type DialectHost, uptimeWords, words} from './types.js'

const IMAGE = /^EOS-(\d+\.\d+\.\d+[A-Z]?)\.swi$/

export function eosDialect(): Dialect {
  /** The boot-config's image (`boot system`), once set. */
  let bootImage: string | undefined
  const imageName = (v: string) => `EOS-${v}.swi`
  const dialect: Dialect = {
    platform: 'eos',
    ident: 'OpenSSH_8.4',
    files: (version) => [imageName(version), 'startup-config', 'boot-config', 'zerotouch-config'],
    imageName,
    imageVersion: (file) => IMAGE.exec(file)?.[1],
    prompt: (host, mode) => `${host.name}${mode === 'config' ? '(config)' : ''}#`,
    screenLength: 24,
    more: ' --More-- ',
    execute(line, host, io) {
      const w = words(line)
      const is = (...kw: string[]) => kw.length <= w.length && kw.every((k, i) => abbreviates(w[i]!, k))
      const invalid = () => {
        io.print([`% Invalid input (at token ${Math.max(0, w.findIndex((x) => !/^[a-z-]+$/i.test(x)))}: '${w[0] ?? ''}')`])
        io.done(1)
      }
      if (w.length === 0) return io.done(0)
      if (io.mode === 'config') {
        if (is('end') || is('exit')) {
          io.mode = 'exec'
          return io.done(0)
        }
        if (is('boot', 'system') && w.length === 3) {
          const file = w[2]!.replace(/^flash:\/?/i, '')
          if (!/^flash:/i.test(w[2]!) || !host.hasFile(file)) {
            io.print([`% Error: image file ${w[2]} does not exist`])
            return io.done(1)
          }
          const version = IMAGE.exec(file)?.[1]
          if (!version) {
            io.print([`% Error: ${w[2]} is not a valid EOS image`])
            return io.done(1)
          }
          bootImage = file
          host.installStarted(file)
          host.setNextVersion(version)
          return io.done(0)
        }
        // EOS runs exec commands in configuration mode too.
        if (!is('show') && !is('dir') && !is('write') && !is('copy') && !is('verify')) return invalid()
      }
      if (is('configure') || is('configure', 'terminal')) {
        if (!io.interactive) {
          io.print(['% Configuration mode requires an interactive session'])
          return io.done(1)
        }
        io.mode = 'config'
        return io.done(0)
      }
      if (is('show', 'version')) return print(io, showVersion(host))
      if (is('show', 'boot-config')) return print(io, [`Software image: flash:/${bootImage ?? imageName(host.version)}`, 'Console speed: (not set)', 'Aboot password (encrypted): (not set)', 'Memory test iterations: (not set)'])
      if (is('dir') && (w.length === 1 || /^flash:\/?$/i.test(w[1]!))) return print(io, dir(host))
      // `verify /md5 flash:FILE` (image staging, docs/staging.md): "verify /md5 (flash:FILE) = HEX".
      if (is('verify') && w.length === 3 && /^\/(md5|sha512)$/i.test(w[1]!)) {
        const algorithm = w[1]!.slice(1).toLowerCase() as 'md5' | 'sha512'
        const file = w[2]!.replace(/^flash:\/?/i, '')
        const digest = /^flash:/i.test(w[2]!) ? host.digest(file, algorithm) : undefined
        if (digest === undefined) {
          io.print([`% Error: flash:/${file}: No such file or directory`])
          return io.done(1)
        }
        return print(io, [`verify /${algorithm} (flash:${file}) = ${digest}`])
      }
      if (is('terminal', 'length') && w.length === 3 && /^\d+$/.test(w[2]!)) {
        io.setScreenLength(Number(w[2]))
        if (!io.interactive) io.print([`Pagination disabled.`])
        return io.done(0)
      }
      if (is('write', 'memory') || is('copy', 'running-config', 'startup-config')) return print(io, ['Copy completed successfully.'])
      if (is('reload')) {
        const now = w.length === 2 && abbreviates(w[1]!, 'now')
        if (w.length > 1 && !now) return invalid()
        const go = () => {
          if (host.hasFault('no_reload')) return io.done(0)
          host.reload('reload command')
        }
        if (now) return go()
        return io.ask('Proceed with reload? [confirm]', (answer) => (answer === '' || /^y/i.test(answer) ? go() : io.done(0)))
      }
      if (is('show') && w.length === 1) {
        io.print(['% Incomplete command'])
        return io.done(1)
      }
      return invalid()
    },
  }
  return dialect
}

function print(io: CommandIO, lines: readonly string[]): void {
  io.print(lines)
  io.done(0)
}

function showVersion(host: DialectHost): string[] {
  return [
    'Arista DCS-7050SX3-48YC8-R',
    'Hardware version: 12.01',
    `Serial number: JPE2${String(host.name.length * 1_234_567).padStart(7, '0')}`,
    'Hardware MAC address: 985d.8201.0a00',
    'System MAC address: 985d.8201.0a00',
    '',
    `Software image version: ${host.version}`,
    'Architecture: x86_64',
    `Internal build version: ${host.version}-32315456.${host.version.replace(/\./g, '')}`,
    'Internal build ID: 2e3b1f5b-e8d2-4a55-9a69-1c4a9e52cbd6',
    'Image format version: 3.0',
    'Image optimization: Strata-4GB',
    '',
    `Uptime: ${uptimeWords(host.now().getTime() - host.bootedAt.getTime())}`,
    'Total memory: 8099732 kB',
    'Free memory: 5601384 kB',
  ]
}

function dir(host: DialectHost): string[] {
  const files = host.files()
  return [
    'Directory of flash:/',
    '',
    ...files.map((f, i) => `       -rwx   ${String(f.endsWith('.swi') ? 1_089_345_536 : 1024 + i).padStart(10)}           Oct 29 00:10  ${f}`),
    '',
    '3519578112 bytes total (1331224576 bytes free)',
  ]
}

