/**
 * chainup's `command_not_found` hook (package.json `oclif.hooks`): a mistyped command such as `chainup upgarde`
 * prints `chainup: "upgarde" is not a chainup command. Did you mean upgrade?` on stderr and exits 2 (bad input, like
 * any other mistyped argument), in a terminal and in cron alike.
 *
 * It replaces @oclif/plugin-not-found's hook (the plugin is not listed in `oclif.plugins`): that one asks "Did you mean
 * …? (Y/n)" on a TTY and on Enter runs the suggestion with the rest of the arguments, and with a space as topic
 * separator it compares the arguments too (`upgarde stack.yml` suggested `autocomplete`). chainup reloads switches:
 * it never runs a command the user did not type, and nothing ever waits for an answer.
 */
import type {Config, Hook} from '@oclif/core'
import {toConfiguredId} from '@oclif/core'

import {closest} from '../config/common.js'
import {ExitCode} from '../errors.js'

const hook: Hook.CommandNotFound = async function (opts) {
  process.stderr.write(notFoundMessage(opts.id, opts.config) + '\n')
  this.exit(ExitCode.badInput)
}
export default hook

/**
 * What a mistyped command prints without a TTY: `chainup: "upgarde" is not a chainup command. Did you mean upgrade?`
 * and where the list is. Suggests the closest visible command (or alias) within a small edit distance, none otherwise.
 */
export function notFoundMessage(id: string, config: Pick<Config, 'bin' | 'commands' | 'commandIDs' | 'topicSeparator'>): string {
  const hidden = new Set(config.commands.filter((c) => c.hidden).map((c) => c.id))
  const ids = [...config.commandIDs, ...config.commands.flatMap((c) => c.aliases)].filter((c) => !hidden.has(c))
  const shown = (commandId: string) => toConfiguredId(commandId, config as Config)
  // With spaces between topic and command, oclif joins the arguments into the id too (`upgarde inv.yml` → `upgarde:inv.yml`):
  // compare each command with as many words as it has.
  const words = id.split(':')
  let typed = words[0] ?? id
  let suggestion: string | undefined
  for (const n of [...new Set(ids.map((c) => c.split(':').length))].sort((a, b) => a - b)) {
    if (n > words.length) break
    const prefix = words.slice(0, n).join(':')
    suggestion = closest(prefix, ids.filter((c) => c.split(':').length === n))
    if (suggestion !== undefined) {
      typed = prefix
      break
    }
  }
  const lines = [`${config.bin}: "${shown(typed)}" is not a ${config.bin} command.${suggestion === undefined ? '' : ` Did you mean ${shown(suggestion)}?`}`]
  lines.push(`Run ${config.bin} help for a list of commands.`)
  return lines.join('\n')
}
