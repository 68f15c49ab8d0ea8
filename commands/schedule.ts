import {join} from 'node:path'

import {Args, Flags} from '@oclif/core'

import {ChainupCommand, scheduleCommand, stateDirectory, terminalJson, type Schedule} from '../src/index.js'

export default class ScheduleCmd extends ChainupCommand {
  static override summary = "Print the crontab line (or systemd timer + service) that upgrades a stack at each opening of its maintenance window."
  static override description = `Reads the inventory's window: {cron, duration, timezone} and prints what starts chainup upgrade, unattended, when each window opens: a crontab entry preceded by CRON_TZ= (the window's time zone), running upgrade with --json to a file, --log-file and --state-dir. With --systemd also a .timer (OnCalendar= from the cron fields) and a .service. Nothing is installed. A run parked at a window's end continues at the next opening; a start outside the window exits 5 (docs/operations.md).`
  static override examples = [
    '<%= config.bin %> schedule stack.yml',
    '(crontab -l; <%= config.bin %> schedule stack.yml --state-dir /var/lib/chainup) | crontab -',
    '<%= config.bin %> schedule stack.yml --systemd',
    '<%= config.bin %> schedule stack.yml --json',
  ]

  static override args = {
    inventory: Args.string({description: 'inventory file (YAML) with a window:', required: true}),
  }

  static override flags = {
    systemd: Flags.boolean({description: 'also print a systemd .timer and .service unit pair'}),
    json: Flags.boolean({description: 'print the schedule as JSON (crontab text, OnCalendar values, units, files)'}),
    'state-dir': Flags.string({description: 'state directory the scheduled runs use (default $XDG_STATE_HOME/chainup)'}),
  }

  async run(): Promise<Schedule> {
    const {args, flags} = await this.parse(ScheduleCmd)
    const {text, schedule} = await scheduleCommand({
      inventoryPath: args.inventory,
      systemd: flags.systemd,
      stateDir: stateDirectory(flags['state-dir']),
      chainup: [process.execPath, join(this.config.root, 'bin', 'run.js')],
    })
    process.stdout.write(flags.json ? terminalJson(schedule) + '\n' : text)
    return schedule
  }
}
