import {execFileSync} from 'node:child_process'

import {describe, expect, it} from 'vitest'

import {CalendarError, cronToOnCalendar} from '../../src/window/calendar.js'
import {windowState, type Window} from '../../src/window/window.js'

function systemdAnalyze(): boolean {
  try {
    execFileSync('systemd-analyze', ['--version'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}
const HAS_SYSTEMD_ANALYZE = systemdAnalyze()

describe('cronToOnCalendar', () => {
  it.each([
    ['0 2 * * 6', 'Europe/Berlin', ['Sat *-*-* 02:00:00 Europe/Berlin']],
    ['30 1 * * 1-5', 'UTC', ['Mon,Tue,Wed,Thu,Fri *-*-* 01:30:00 UTC']],
    ['0 22 * * SUN,sat', 'UTC', ['Sun,Sat *-*-* 22:00:00 UTC']],
    ['0 2 * * 7', 'UTC', ['Sun *-*-* 02:00:00 UTC']],
    ['*/15 3 * * *', 'UTC', ['*-*-* 03:00,15,30,45:00 UTC']],
    ['0 0-6/2 * * *', 'UTC', ['*-*-* 00,02,04,06:00:00 UTC']],
    ['5 4 1,15 JAN-MAR *', 'Asia/Tokyo', ['*-01,02,03-01,15 04:05:00 Asia/Tokyo']],
    ['0 2 1 * 6', 'Europe/Berlin', ['*-*-01 02:00:00 Europe/Berlin', 'Sat *-*-* 02:00:00 Europe/Berlin']],
    ['@weekly', 'UTC', ['Sun *-*-* 00:00:00 UTC']],
    ['@daily', 'UTC', ['*-*-* 00:00:00 UTC']],
    ['@hourly', 'UTC', ['*-*-* *:00:00 UTC']],
    ['@yearly', 'UTC', ['*-01-01 00:00:00 UTC']],
    ['0 3 */2 * *', 'UTC', [`*-*-${Array.from({length: 16}, (_, i) => String(1 + 2 * i).padStart(2, '0')).join(',')} 03:00:00 UTC`]],
  ])('%s in %s → %j', (cron, zone, expected) => {
    expect(cronToOnCalendar(cron, zone)).toEqual(expected)
  })

  it('refuses what it cannot read, naming it', () => {
    expect(() => cronToOnCalendar('0 2 * * 6#1', 'UTC')).toThrow(CalendarError)
    expect(() => cronToOnCalendar('0 2 L * *', 'UTC')).toThrow(/cannot read "L" in the day-of-month field/)
    expect(() => cronToOnCalendar('0 2 * *', 'UTC')).toThrow(/expected 5 cron fields, got 4/)
    expect(() => cronToOnCalendar('@reboot', 'UTC')).toThrow(/@reboot has no systemd form/)
    expect(() => cronToOnCalendar('0 5-2 * * *', 'UTC')).toThrow(/range 5-2 runs backwards in the hour field/)
  })

  // systemd itself agrees: its next elapses are croner's next openings (hours clear of DST changes).
  it.skipIf(!HAS_SYSTEMD_ANALYZE)('systemd-analyze calendar fires when the window opens', () => {
    const crons: Array<[string, string]> = [
      ['0 2 * * 6', 'UTC'],
      ['30 5 * * 1-5', 'Europe/Berlin'],
      ['15 4 1,15 * *', 'America/New_York'],
      ['0 6 1 * 6', 'Europe/Berlin'],
      ['*/20 7 * * *', 'Asia/Tokyo'],
    ]
    for (const [cron, timezone] of crons) {
      const lines = cronToOnCalendar(cron, timezone)
      const elapses = new Set<number>()
      for (const line of lines) {
        const out = execFileSync('systemd-analyze', ['calendar', '--iterations=4', line], {env: {...process.env, SYSTEMD_COLORS: '0', LC_ALL: 'C', TZ: 'UTC'}}).toString()
        for (const m of out.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)) elapses.add(Date.parse(`${m[1]!.replace(' ', 'T')}Z`))
      }
      const systemd = [...elapses].sort((a, b) => a - b).slice(0, 4)
      const window: Window = {cron, duration: 60_000, timezone}
      const croner: number[] = []
      let at = new Date()
      for (let i = 0; i < 4; i++) {
        at = windowState(window, at).next_opens_at
        croner.push(at.getTime())
      }
      expect(systemd.map((t) => new Date(t).toISOString()), `${cron} ${timezone}: ${lines.join(' | ')}`).toEqual(croner.map((t) => new Date(t).toISOString()))
    }
  })
})
