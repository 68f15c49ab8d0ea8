import {describe, expect, it} from 'vitest'

import {parseFacts, parseUptime, rebootedSince, VERSION_SHAPE} from '../../src/device/facts.js'

const facts = {
  command: 'show version',
  version: 'Cisco IOS XE Software, Version (?<version>\\S+)',
  uptime: 'uptime is (?<uptime>[^\\n]+)',
  restarted_at: 'System restarted at (?<restarted_at>[^\\n]+)',
}

const showVersion = (version: string, uptime: string, restarted: string) =>
  `Cisco IOS XE Software, Version ${version}\nCisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE)\n\nsw1 uptime is ${uptime}\nSystem restarted at ${restarted}\n`

describe('device facts', () => {
  it.each([
    ['0 minutes', 0],
    ['1 minute', 60],
    ['3 weeks, 2 days, 4 hours, 17 minutes', 3 * 604_800 + 2 * 86_400 + 4 * 3600 + 17 * 60],
    ['1 year, 1 week', 31_536_000 + 604_800],
  ])('parses the IOS uptime "%s"', (text, seconds) => {
    expect(parseUptime(text)).toBe(seconds)
  })

  it('reads version, uptime and restart time with the playbook patterns', () => {
    expect(parseFacts(showVersion('17.06.05', '2 hours, 1 minute', '10:01:59 UTC Sat Nov 21 2026'), facts)).toEqual({
      version: '17.06.05',
      uptimeSeconds: 7260,
      restartedAt: '10:01:59 UTC Sat Nov 21 2026',
    })
  })

  it('refuses output without a version', () => {
    expect(() => parseFacts("% Invalid input detected at '^' marker.", facts)).toThrow(/cannot read the version/)
  })

  it('a changed "System restarted at" proves a reboot; the same one does not, whatever the uptime says', () => {
    const before = parseFacts(showVersion('17.06.05', '3 weeks', '10:01:59 UTC Sat Nov 21 2026'), facts)
    const same = parseFacts(showVersion('17.06.05', '0 minutes', '10:01:59 UTC Sat Nov 21 2026'), facts)
    const after = parseFacts(showVersion('17.09.05', '3 weeks', '10:12:03 UTC Sat Nov 21 2026'), facts)
    expect(rebootedSince(before, same, 600_000, true)).toBe(false)
    expect(rebootedSince(before, after, 600_000, false)).toBe(true)
  })

  it('without a restart time, an uptime shorter than the time since the reload (+60 s) proves it', () => {
    const noRestart = {...facts, restarted_at: undefined}
    const before = parseFacts('Cisco IOS XE Software, Version 1\nuptime is 3 weeks\n', noRestart)
    const back = parseFacts('Cisco IOS XE Software, Version 2\nuptime is 9 minutes\n', noRestart)
    const stillUp = parseFacts('Cisco IOS XE Software, Version 1\nuptime is 3 weeks, 10 minutes\n', noRestart)
    expect(rebootedSince(before, back, 10 * 60_000, false)).toBe(true)
    expect(rebootedSince(before, stillUp, 10 * 60_000, false)).toBe(false)
  })

  it('without a restart time, a switch that booted under a minute ago and stayed up is not rebooted (issue #10: v0.1 said it was)', () => {
    const noRestart = {...facts, restarted_at: undefined}
    const before = parseFacts('Cisco IOS XE Software, Version 1\nuptime is 0 minutes\n', noRestart)
    const same = parseFacts('Cisco IOS XE Software, Version 1\nuptime is 0 minutes\n', noRestart)
    // v0.1's rule (uptime <= elapsed + 60 s) held here after 399 ms.
    expect(rebootedSince(before, same, 399, false)).toBe(false)
    // Seen going away, the same "0 minutes" is a new boot within the platform's precision.
    expect(rebootedSince(before, same, 399, true)).toBe(true)
    // An uptime strictly smaller than before is a changed boot even when no drop was seen.
    const older = parseFacts('Cisco IOS XE Software, Version 1\nuptime is 5 minutes\n', noRestart)
    const newer = parseFacts('Cisco IOS XE Software, Version 2\nuptime is 1 minute\n', noRestart)
    expect(rebootedSince(older, newer, 90_000, false)).toBe(true)
    // A coarser platform precision widens (b) only.
    expect(rebootedSince(older, newer, 0, false, 60_000)).toBe(true)
    expect(rebootedSince(older, newer, 0, false, 1000)).toBe(false)
  })

  it('with neither fact, only a dropped connection followed by a login counts', () => {
    const bare = {command: 'show version', version: 'Version (?<version>\\S+)'}
    const f = parseFacts('Version 1\n', bare)
    expect(rebootedSince(f, f, 1000, true)).toBe(true)
    expect(rebootedSince(f, f, 1000, false)).toBe(false)
  })

  describe('validation of what a device reports (issue #8 §2)', () => {
    it.each(['17.06.05', '17.09.04a', '16.12.04', '15.2(7)E3', '12.2(55)SE12', '9.3(10)', '21.4R3-S5.4', '4.28.3M', '8.10.0.5_87432', '1.2.3+build.7', 'X'])(
      'accepts the version %s',
      (version) => {
        expect(parseFacts(showVersion(version, '2 hours, 1 minute', '10:01:59 UTC Sat Nov 21 2026'), facts, 'sw2').version).toBe(version)
      },
    )

    it.each([
      ['17.06.05;touch${IFS}pwned', '"17.06.05;touch${IFS}pwned"'],
      ['$(id)', '"$(id)"'],
      ["17.06.05'", `"17.06.05'"`],
      ['`id`', '"`id`"'],
      ['-rf', '"-rf"'],
      ['17.06.05|sh', '"17.06.05|sh"'],
      ['../../etc', '"../../etc"'],
      ['17.06.05\x1b]0;owned\x07\x1b[2J\x9b31m', '"17.06.05\\x1b]0;owned\\x07\\x1b[2J\\x9b31m"'],
      ['1'.repeat(65), `"${'1'.repeat(65)}"`],
    ])('refuses the version %j with an error naming the device and showing the value escaped', (version, shown) => {
      const run = () => parseFacts(showVersion(version, '2 hours', '10:01:59 UTC Sat Nov 21 2026'), facts, 'sw2')
      expect(run).toThrow(`sw2: show version reports version ${shown} which does not look like a version`)
      let message = ''
      try {
        run()
      } catch (e) {
        message = (e as Error).message
      }
      expect(message).not.toMatch(/[\x00-\x1f\x7f-\x9f]/)
    })

    it('the version shape is documented as: a letter or digit, then up to 63 of letters, digits and . _ - + ( )', () => {
      expect(VERSION_SHAPE.source).toBe('^[A-Za-z0-9][A-Za-z0-9._+()-]{0,63}$')
    })

    it('refuses uptime and restart texts that carry control characters or are longer than 128 characters', () => {
      const hostileUptime = showVersion('17.06.05', '3 weeks\x1b[8m`touch pwned`\x07', '10:01:59 UTC Sat Nov 21 2026')
      expect(() => parseFacts(hostileUptime, facts, 'sw2')).toThrow('sw2: show version reports uptime "3 weeks\\x1b[8m`touch pwned`\\x07" which is not printable text of at most 128 characters')
      const hostileRestart = showVersion('17.06.05', '3 weeks', '10:01:59 UTC\r\x1b[2K Sat Nov 21 2026')
      expect(() => parseFacts(hostileRestart, facts, 'sw2')).toThrow(/^sw2: show version reports restart time "10:01:59 UTC\\r\\x1b\[2K Sat Nov 21 2026" which is not printable/)
      const long = showVersion('17.06.05', `${'1 minute, '.repeat(13)}1 minute`, '10:01:59 UTC Sat Nov 21 2026')
      expect(() => parseFacts(long, facts, 'sw2')).toThrow(/sw2: show version reports uptime "1 minute, .*\.\.\." which is not printable text of at most 128 characters/)
    })

    it('takes IOS output with CRLF line ends as before (the CR is trimmed, not refused)', () => {
      const crlf = showVersion('17.06.05', '2 hours, 1 minute', '10:01:59 UTC Sat Nov 21 2026').replace(/\n/g, '\r\n')
      expect(parseFacts(crlf, facts, 'sw2')).toEqual({version: '17.06.05', uptimeSeconds: 7260, restartedAt: '10:01:59 UTC Sat Nov 21 2026'})
    })
  })
})
