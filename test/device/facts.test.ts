import {describe, expect, it} from 'vitest'

import {parseFacts, parseUptime, rebootedSince} from '../../src/device/facts.js'

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

  it('with neither fact, only a dropped connection followed by a login counts', () => {
    const bare = {command: 'show version', version: 'Version (?<version>\\S+)'}
    const f = parseFacts('Version 1\n', bare)
    expect(rebootedSince(f, f, 1000, true)).toBe(true)
    expect(rebootedSince(f, f, 1000, false)).toBe(false)
  })
})
