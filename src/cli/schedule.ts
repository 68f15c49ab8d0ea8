/**
 * `chainup schedule INVENTORY [--systemd]` (docs/operations.md "Scheduling"): what starts `chainup upgrade` at each
 * opening of the inventory's maintenance window, unattended: a crontab line (with `CRON_TZ=` for the window's time
 * zone) or a systemd .timer + .service pair. It only prints; it installs nothing.
 */
import {join} from 'node:path'

import {loadInventory} from '../config/load.js'
import type {Inventory} from '../config/types.js'
import {InputError} from '../errors.js'
import {shellWord} from '../util/shell.js'
import {CalendarError, cronToOnCalendar} from '../window/calendar.js'
import {describeWindow} from '../window/window.js'

export interface ScheduleCommandOptions {
  inventoryPath: string
  /** Also print the systemd units. */
  systemd: boolean
  /** The state directory the scheduled runs use (absolute); passed as `--state-dir`. */
  stateDir: string
  /** How to start chainup, absolute: e.g. `[process.execPath, "/opt/chainup/bin/run.js"]` (cron's PATH is short). */
  chainup: readonly string[]
}

/** What `chainup schedule --json` prints. */
export interface Schedule {
  stack: string
  /** Absolute path of the inventory. */
  inventory: string
  window: {cron: string; duration_ms: number; timezone: string}
  /** The argv the scheduler runs (without the output redirections). */
  argv: string[]
  /** Where the unattended run writes: its `--json` result, its `--log-file`, and (cron) its stderr. */
  files: {result: string; log: string; stderr: string}
  /** The crontab lines (comments, `CRON_TZ=`, the entry). */
  crontab: string
  /** The `OnCalendar=` values, or null when the cron has no systemd form (`systemd_error` says why). */
  on_calendar: string[] | null
  systemd_error: string | null
  /** With `--systemd`: the unit files by name. */
  systemd?: {timer: {name: string; text: string}; service: {name: string; text: string}}
}


/** A word of a systemd `ExecStart=` line: `%` and `$` escaped, quoted when it holds spaces, quotes or backslashes. */
export function systemdQuote(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$')
  return /[\s"'\\]/.test(escaped) ? `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : escaped
}

/**
 * The schedule of the inventory's window.
 * @returns the text to print (crontab, and with `systemd` both units) and the {@link Schedule}
 * @throws InputError (exit 2) for a bad inventory, one without `window:`, or `--systemd` for a cron with no OnCalendar form
 */
export async function scheduleCommand(opts: ScheduleCommandOptions): Promise<{text: string; schedule: Schedule}> {
  const inventory = await loadInventory(opts.inventoryPath)
  const window = inventory.window
  if (!window) {
    throw new InputError(`${inventory.file}: no maintenance window to schedule`, {
      code: 'NO_WINDOW',
      hint: 'add e.g. window: {cron: "0 2 * * 6", duration: PT4H, timezone: Europe/Berlin} (docs/inventory.md#window)',
    })
  }
  const dir = join(opts.stateDir, 'cron')
  const files = {result: join(dir, `${inventory.stack}.json`), log: join(dir, `${inventory.stack}.log`), stderr: join(dir, `${inventory.stack}.stderr`)}
  const argv = [...opts.chainup, 'upgrade', inventory.file, '--json', '--log-file', files.log, '--state-dir', opts.stateDir]
  let onCalendar: string[] | null = null
  let systemdError: string | null = null
  try {
    onCalendar = cronToOnCalendar(window.cron, window.timezone)
  } catch (error) {
    if (!(error instanceof CalendarError)) throw error
    systemdError = `window.cron "${window.cron}" cannot be written as a systemd OnCalendar expression: ${error.message}`
  }
  if (opts.systemd && !onCalendar) throw new InputError(systemdError!, {code: 'NO_ON_CALENDAR', hint: 'use the crontab line (chainup schedule without --systemd)'})

  const crontab = crontabText(inventory, window, argv, dir, files)
  const schedule: Schedule = {
    stack: inventory.stack,
    inventory: inventory.file,
    window: {cron: window.cron, duration_ms: window.duration, timezone: window.timezone},
    argv,
    files,
    crontab,
    on_calendar: onCalendar,
    systemd_error: systemdError,
  }
  let text = crontab
  if (opts.systemd && onCalendar) {
    schedule.systemd = systemdUnits(inventory, window, argv, dir, files, onCalendar)
    text += `\n# ---- ${schedule.systemd.timer.name} ----\n${schedule.systemd.timer.text}\n# ---- ${schedule.systemd.service.name} ----\n${schedule.systemd.service.text}`
  }
  return {text, schedule}
}

type Window = NonNullable<Inventory['window']>

function crontabText(inventory: Inventory, window: Window, argv: string[], dir: string, files: Schedule['files']): string {
  // In a crontab entry an unescaped % ends the command.
  const sh = (word: string) => shellWord(word).replace(/%/g, '\\%')
  const command = `mkdir -p ${sh(dir)} && ${argv.map(sh).join(' ')} > ${sh(files.result)} 2>> ${sh(files.stderr)}`
  return [
    `# chainup: upgrade stack ${inventory.stack} at each opening of its maintenance window ${describeWindow(window)}.`,
    '# A run parked at the end of a window continues at the next opening; started outside the window, chainup exits 5.',
    `# Result: ${files.result} (and runs/<run id>.json in the state directory); progress: ${files.log}; errors: ${files.stderr}.`,
    '# CRON_TZ= needs a cron that honours it (cronie does); where it is ignored the entry runs in the system time zone.',
    `CRON_TZ=${window.timezone}`,
    `${window.cron.trim()} ${command}`,
    '',
  ].join('\n')
}

function systemdUnits(inventory: Inventory, window: Window, argv: string[], dir: string, files: Schedule['files'], onCalendar: string[]): NonNullable<Schedule['systemd']> {
  const base = `chainup-${inventory.stack}`
  const timer = [
    '[Unit]',
    `Description=chainup: upgrade stack ${inventory.stack} in its maintenance window ${describeWindow(window).replace(/%/g, '%%')}`,
    '',
    '[Timer]',
    ...onCalendar.map((c) => `OnCalendar=${c}`),
    '# A start missed while the machine was off happens at boot: inside the window it runs, outside it exits 5.',
    'Persistent=true',
    `Unit=${base}.service`,
    '',
    '[Install]',
    'WantedBy=timers.target',
    '',
  ].join('\n')
  // A stop (SIGTERM) is chainup's cancel: the device in progress finishes first, bounded by timeouts.predecessor.
  const stopSeconds = Math.ceil(inventory.timeouts.predecessor / 1000) + 60
  const service = [
    '[Unit]',
    `Description=chainup: upgrade stack ${inventory.stack} (started by ${base}.timer)`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    `# Create the output directory once: mkdir -p ${dir}`,
    `ExecStart=${argv.map(systemdQuote).join(' ')}`,
    `StandardOutput=file:${files.result.replace(/%/g, '%%')}`,
    `StandardError=append:${files.stderr.replace(/%/g, '%%')}`,
    '# Exit 5 = not started, outside the maintenance window: not a failure of the unit.',
    'SuccessExitStatus=5',
    'KillSignal=SIGTERM',
    `TimeoutStopSec=${stopSeconds}`,
    '',
  ].join('\n')
  return {timer: {name: `${base}.timer`, text: timer}, service: {name: `${base}.service`, text: service}}
}
