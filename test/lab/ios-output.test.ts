import {describe, expect, it} from 'vitest'

import {parseLine} from '../../src/lab/ios-grammar.js'
import {
  type DeviceView,
  type FlashFile,
  dirFlash,
  flashFileSize,
  formatDirDate,
  formatIosClock,
  formatIosTime,
  formatIosUptime,
  formatUnixDate,
  imageName,
  installAlreadyAdded,
  installNoSuchFile,
  installNotAPackage,
  installProgress,
  parseErrorLines,
  parseImageVersion,
  pkgNames,
  renderOutput,
  shortVersion,
  showInstallSummary,
  showRunningConfig,
  showSwitch,
  showVersion,
  toText,
} from '../../src/lab/ios-output.js'

const BOOTED = new Date('2026-11-21T10:01:59.900Z')
const MIN = 60_000
const TARGET = 'cat9k_iosxe.17.09.05.SPA.bin'

function file(name: string, size: number, inode: number, mtime = new Date('2026-10-29T00:10:55Z')): FlashFile {
  return {name, size, mtime, inode}
}

function device(over: Partial<DeviceView> = {}): DeviceView {
  return {
    name: 'sw1',
    model: 'C9300-48P',
    username: 'netops',
    version: '17.06.05',
    nextVersion: '17.06.05',
    bootedAt: BOOTED,
    lastReload: undefined,
    flash: [file('packages.conf', 8137, 475137), file('cat9k_iosxe.17.06.05.SPA.bin', 1_038_309_208, 475138)],
    ...over,
  }
}

/** What the device prints for a command line, through the grammar (as the simulator does). */
function run(line: string, d: DeviceView, now: Date): string[] {
  const p = parseLine(line)
  if (p.kind !== 'ok') throw new Error(`${line}: ${JSON.stringify(p)}`)
  const {command, filter} = p
  if (command.id !== 'show_version' && command.id !== 'show_clock' && command.id !== 'show_running' && command.id !== 'dir'
    && command.id !== 'show_install_summary' && command.id !== 'show_boot' && command.id !== 'show_switch') throw new Error(`${line} prints nothing`)
  const lines = renderOutput(command, d, now)
  return filter ? filter(lines) : lines
}

describe('formatting helpers', () => {
  it('prints uptime like IOS', () => {
    const min = 60_000
    expect(formatIosUptime(((23 * 24 + 4) * 60 + 17) * min)).toBe('3 weeks, 2 days, 4 hours, 17 minutes')
    expect(formatIosUptime(0)).toBe('0 minutes')
    expect(formatIosUptime(59_999)).toBe('0 minutes')
    expect(formatIosUptime(min)).toBe('1 minute')
    expect(formatIosUptime(60 * min)).toBe('1 hour, 0 minutes')
    expect(formatIosUptime((7 * 1440 + 1440 + 61) * min)).toBe('1 week, 1 day, 1 hour, 1 minute')
    expect(formatIosUptime((365 * 1440 + 14 * 1440 + 5) * min)).toBe('1 year, 2 weeks, 5 minutes')
  })

  it('prints IOS timestamps in UTC with seconds', () => {
    expect(formatIosTime(new Date('2026-11-21T10:01:59.900Z'))).toBe('10:01:59 UTC Sat Nov 21 2026')
    expect(formatIosTime(new Date('2027-01-03T00:00:00Z'))).toBe('00:00:00 UTC Sun Jan 3 2027')
  })

  it('reads versions from image names', () => {
    expect(parseImageVersion('cat9k_iosxe.17.09.05.SPA.bin')).toBe('17.09.05')
    expect(parseImageVersion('flash:cat9k_iosxe.17.09.04a.SPA.bin')).toBe('17.09.04a')
    expect(parseImageVersion('packages.conf')).toBeUndefined()
    expect(shortVersion('17.06.05')).toBe('17.6.5')
    expect(shortVersion('17.09.04a')).toBe('17.9.4a')
  })

  it('prints the clock, install-log and dir timestamps', () => {
    const t = new Date('2026-11-21T10:02:03.045Z')
    expect(formatIosClock(t)).toBe('10:02:03.045 UTC Sat Nov 21 2026')
    expect(formatUnixDate(t)).toBe('Sat Nov 21 10:02:03 UTC 2026')
    expect(formatDirDate(new Date('2026-10-02T00:10:55Z'))).toBe('Oct  2 2026 00:10:55 +00:00')
    expect(formatDirDate(new Date('2026-10-29T23:59:59.999Z'))).toBe('Oct 29 2026 23:59:59 +00:00')
  })

  it('names images and packages like IOS-XE and gives files stable, plausible sizes', () => {
    expect(imageName('17.09.05')).toBe(TARGET)
    expect(parseImageVersion(`bootflash:/${imageName('17.12.04')}`)).toBe('17.12.04')
    expect(parseImageVersion('cat9k-rpbase.17.09.05.SPA.pkg')).toBeUndefined()
    expect(pkgNames('17.09.05')).toHaveLength(11)
    expect(pkgNames('17.09.05')).toContain('cat9k-rpbase.17.09.05.SPA.pkg')
    const image = flashFileSize(TARGET)
    expect(image).toBe(flashFileSize(TARGET))
    expect(image).toBeGreaterThanOrEqual(1_000_000_000)
    expect(image).toBeLessThan(1_250_000_000)
    expect(flashFileSize('packages.conf')).toBeGreaterThanOrEqual(7000)
    expect(flashFileSize('packages.conf')).toBeLessThan(8500)
    expect(flashFileSize('cat9k-rpbase.17.09.05.SPA.pkg')).toBeLessThan(401_000_000)
  })

  it('ends every line in CRLF', () => {
    expect(toText(['a', '', 'b'])).toBe('a\r\n\r\nb\r\n')
  })
})

describe('show version', () => {
  it('names the running version, its train and short form, and the switch table row', () => {
    const out = showVersion(device(), new Date(BOOTED.getTime() + 30_000))
    expect(out[0]).toBe('Cisco IOS XE Software, Version 17.06.05')
    expect(out[1]).toBe('Cisco IOS Software [Bengaluru], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.6.5, RELEASE SOFTWARE (fc2)')
    expect(out).toContain('System image file is "flash:packages.conf"')
    expect(out).toContain('*    1 62    C9300-48P          17.06.05          CAT9K_IOSXE           INSTALL')
    expect(out).toContain('Model Number                       : C9300-48P')
  })

  it('says when the system restarted (seconds precision) and how long it has been up', () => {
    const out = showVersion(device(), new Date(BOOTED.getTime() + 30_000))
    expect(out).toContain('System restarted at 10:01:59 UTC Sat Nov 21 2026')
    expect(out).toContain('sw1 uptime is 0 minutes')
    expect(out).toContain('Uptime for this control processor is 0 minutes')
    const later = showVersion(device(), new Date(BOOTED.getTime() + ((23 * 24 + 4) * 60 + 17) * MIN))
    expect(later).toContain('sw1 uptime is 3 weeks, 2 days, 4 hours, 17 minutes')
  })

  it('tells a power-on from a reload', () => {
    const poweredOn = showVersion(device(), BOOTED)
    expect(poweredOn).toContain('System returned to ROM by PowerOn')
    expect(poweredOn).toContain('Last reload reason: PowerOn')
    expect(poweredOn.join('\n')).not.toContain('Reload Command')
    const reloaded = showVersion(device({lastReload: new Date('2026-11-21T10:00:01Z')}), BOOTED)
    expect(reloaded).toContain('System returned to ROM by Reload Command at 10:00:01 UTC Sat Nov 21 2026')
    expect(reloaded).toContain('Last reload reason: Reload Command')
    expect(reloaded.join('\n')).not.toContain('PowerOn')
  })

  it('follows the version and the model', () => {
    const out = showVersion(device({version: '17.09.04a', model: 'C9300-24T'}), BOOTED)
    expect(out[0]).toBe('Cisco IOS XE Software, Version 17.09.04a')
    expect(out[1]).toContain('[Cupertino]')
    expect(out[1]).toContain('Version 17.9.4a, RELEASE SOFTWARE')
    expect(out).toContain('28 Gigabit Ethernet interfaces')
    expect(out).toContain('*    1 38    C9300-24T          17.09.04a         CAT9K_IOSXE           INSTALL')
    expect(showVersion(device({version: '17.03.05'}), BOOTED)[1]).toContain('[Amsterdam]')
    expect(showVersion(device({version: '17.12.04'}), BOOTED)[1]).toContain('[Dublin]')
    // trains change at 17.4, 17.7 and 17.10
    const train = (v: string): string | undefined => /\[(\w+)\]/.exec(showVersion(device({version: v}), BOOTED)[1] ?? '')?.[1]
    expect(['17.03.08', '17.04.01', '17.06.06', '17.07.01', '17.09.05', '17.10.01'].map(train)).toEqual(['Amsterdam', 'Bengaluru', 'Bengaluru', 'Cupertino', 'Cupertino', 'Dublin'])
  })

  it('is what `sh ver | i ^System restarted` narrows down to one line', () => {
    expect(run('sh ver | i ^System restarted', device(), BOOTED)).toEqual(['System restarted at 10:01:59 UTC Sat Nov 21 2026'])
    expect(run('sh ver | c ^Cisco IOS[^-]', device(), BOOTED)).toEqual(['Number of lines which match regexp = 2'])
  })
})

describe('other show commands', () => {
  it('show clock is the time it is asked, with milliseconds and a leading *', () => {
    expect(run('show clock', device(), new Date('2026-11-21T10:02:03.123Z'))).toEqual(['*10:02:03.123 UTC Sat Nov 21 2026'])
  })

  it('show running-config names the host, the train and the user', () => {
    const out = showRunningConfig(device({version: '17.09.05'}), new Date(BOOTED.getTime() + 10 * MIN))
    expect(out).toContain('hostname sw1')
    expect(out).toContain('version 17.9')
    expect(out).toContain('switch 1 provision c9300-48p')
    expect(out).toContain('! Last configuration change at 10:01:59 UTC Sat Nov 21 2026 by netops')
    expect(out).toContain('! NVRAM config last updated at 10:02:59 UTC Sat Nov 21 2026 by netops')
    expect(out.at(-2)).toBe('end')
    expect(run('sh run | i hostname', device(), BOOTED)).toEqual(['hostname sw1'])
    // the NVRAM time is never in the future
    expect(showRunningConfig(device(), new Date(BOOTED.getTime() + 5000))).toContain('! NVRAM config last updated at 10:02:04 UTC Sat Nov 21 2026 by netops')
  })

  it('show install summary lists the committed version, and an uncommitted one waiting for a reload', () => {
    const committed = showInstallSummary(device()).filter((l) => l.startsWith('IMG'))
    expect(committed).toHaveLength(1)
    expect(committed[0]).toMatch(/^IMG {3}C {4}17\.06\.05\.0\.\d{4}$/)
    const pending = showInstallSummary(device({nextVersion: '17.09.05'})).filter((l) => l.startsWith('IMG'))
    expect(pending).toHaveLength(2)
    expect(pending[1]).toMatch(/^IMG {3}U {4}17\.09\.05\.0\.\d{4}$/)
  })

  it('show switch shows one active member with a stable MAC derived from the name', () => {
    const out = showSwitch({name: 'sw1'})
    expect(out[0]).toMatch(/^Switch\/Stack Mac Address : 00a3\.d1[0-9a-f]{2}\.[0-9a-f]{4} - Local Mac Address$/)
    expect(out).toEqual(showSwitch({name: 'sw1'}))
    expect(out[0]).not.toBe(showSwitch({name: 'sw2'})[0])
    expect(out.some((l) => /^\*1 +Active/.test(l))).toBe(true)
  })

  it('show boot boots packages.conf', () => {
    expect(run('show boot', device(), BOOTED)).toContain('BOOT variable = flash:packages.conf;')
  })
})

describe('dir flash:', () => {
  it('lists every file sorted by name with inode, size and date, then total and free bytes', () => {
    const files = [file(TARGET, 1_100_000_000, 475140, new Date('2026-11-01T08:09:10Z')), ...device().flash]
    expect(dirFlash(files)).toEqual([
      'Directory of flash:/',
      '',
      ' 475138  -rw-      1038309208  Oct 29 2026 00:10:55 +00:00  cat9k_iosxe.17.06.05.SPA.bin',
      ' 475140  -rw-      1100000000  Nov  1 2026 08:09:10 +00:00  cat9k_iosxe.17.09.05.SPA.bin',
      ' 475137  -rw-            8137  Oct 29 2026 00:10:55 +00:00  packages.conf',
      '',
      `11353194496 bytes total (${11_353_194_496 - 1_873_412_096 - 1_038_309_208 - 1_100_000_000 - 8137} bytes free)`,
    ])
  })

  it('never reports negative free space', () => {
    expect(dirFlash([file('huge.bin', 20_000_000_000, 1)]).at(-1)).toBe('11353194496 bytes total (0 bytes free)')
  })

  it('is what `dir` and `dir flash:` print', () => {
    const d = device()
    expect(run('dir', d, BOOTED)).toEqual(dirFlash(d.flash))
    expect(run('dir flash:', d, BOOTED)).toEqual(dirFlash(d.flash))
    expect(run('dir | i \\.bin$', d, BOOTED)).toEqual([' 475138  -rw-      1038309208  Oct 29 2026 00:10:55 +00:00  cat9k_iosxe.17.06.05.SPA.bin'])
  })
})

describe('install messages', () => {
  const start = new Date('2026-11-21T10:02:03Z')

  it('progress: START, add, activate, commit, reload, SUCCESS, in that order', () => {
    const out = installProgress(TARGET, '17.09.05', start, 2)
    expect(out[0]).toBe('install_add_activate_commit: START Sat Nov 21 10:02:03 UTC 2026')
    expect(out[1]).toBe('install_add_activate_commit: Adding PACKAGE')
    expect(out.at(-1)).toBe('SUCCESS: install_add_activate_commit  Sat Nov 21 10:02:05 UTC 2026')
    expect(out).toContain(`[1]: Copying flash:${TARGET} from switch 1 to switch 1`)
    expect(out).toContain('/flash/cat9k-rpbase.17.09.05.SPA.pkg')
    expect(out.find((l) => l.startsWith('Image added.'))).toMatch(/^Image added\. Version: 17\.09\.05\.0\.\d{4}$/)
    const at = (l: string): number => out.indexOf(l)
    const order = ['--- Starting initial file syncing ---', 'Finished Add', 'Finished Activate', 'Finished Commit', '[1]: Reloading the switch', 'Install will reload the system now!'].map(at)
    expect(order.every((i) => i > 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
  })

  it('refusals: no such file, not a package, already added', () => {
    expect(installNoSuchFile(TARGET)).toEqual([`%Error opening flash:/${TARGET} (No such file or directory)`, ''])
    expect(installNotAPackage('packages.conf')).toEqual(['%Error: flash:/packages.conf is not a valid IOS XE package (bad package name or type)', ''])
    const already = installAlreadyAdded(start)
    expect(already[0]).toBe('install_add_activate_commit: START Sat Nov 21 10:02:03 UTC 2026')
    expect(already.at(-2)).toMatch(/^FAILED: install_add_activate_commit : Super package already added\./)
    expect(already.at(-1)).toBe('FAILED: install_add_activate_commit exit(1) Sat Nov 21 10:02:03 UTC 2026')
  })
})

describe('parse errors', () => {
  it('puts the caret under the bad word counted from the start of the name# prompt', () => {
    const p = parseLine('show versoin')
    if (p.kind !== 'error') throw new Error('expected an error')
    expect(toText(parseErrorLines('sw1', p.error))).toBe(`${' '.repeat('sw1#show '.length)}^\r\n% Invalid input detected at '^' marker.\r\n\r\n`)
    expect(parseErrorLines('core-switch-01', {kind: 'invalid', col: 0})[0]).toBe(`${' '.repeat('core-switch-01#'.length)}^`)
  })

  it('says incomplete and ambiguous the IOS way', () => {
    expect(parseErrorLines('sw1', {kind: 'incomplete'})).toEqual(['% Incomplete command.', ''])
    expect(parseErrorLines('sw1', {kind: 'ambiguous', text: 'sh c'})).toEqual(['% Ambiguous command:  "sh c"'])
  })
})
