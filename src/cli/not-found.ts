/**
 * chainup's `command_not_found` hook (package.json `oclif.hooks`): a mistyped command such as `chainup upgarde`
 * prints `chainup: "upgarde" is not a chainup command. Did you mean upgrade?` on stderr and exits 2 (bad input, like
 * any other mistyped argument), in a terminal and in cron alike. `chainup help [COMMAND]` (oclif has no help command
 * without @oclif/plugin-help, only the --help flag) shows that help.
 *
 * It replaces @oclif/plugin-not-found's hook (the plugin is not listed in `oclif.plugins`): that one asks "Did you mean
 * …? (Y/n)" on a TTY and on Enter runs the suggestion with the rest of the arguments, and with a space as topic
 * separator it compares the arguments too (`upgarde stack.yml` suggested `autocomplete`). chainup reloads switches:
 * it never runs a command the user did not type, and nothing ever waits for an answer.
 */
import type {Config, Hook} from '@oclif/core'
import {loadHelpClass, toConfiguredId} from '@oclif/core'

import {closest} from '../config/common.js'
import {ExitCode} from '../errors.js'

const hook: Hook.CommandNotFound = async function (opts) {
  // There is no help command (oclif's help is the --help flag): `chainup help [COMMAND]` shows it all the same.
  const words = opts.id.split(':')
  if (words[0] === 'help') {
    const subject = words.slice(1)
    const known = subject.length === 0 || opts.config.findCommand(subject.join(':')) !== undefined || opts.config.findTopic(subject.join(':')) !== undefined
    if (known) {
      const Help = await loadHelpClass(opts.config)
      await new Help(opts.config).showHelp(subject)
      return
    }
  }
  process.stderr.write(notFoundMessage(opts.id, opts.config) + '\n')
  this.exit(ExitCode.badInput)
}
export default hook

/**
 * What a mistyped command prints: `chainup: "upgarde" is not a chainup command. Did you mean upgrade?` and where the
 * list is. Suggests the closest visible command (or alias) within a small edit distance, none otherwise. For `chainup
 * help X` with an unknown X it points at `chainup X' --help` for the closest X'.
 */
export function notFoundMessage(id: string, config: Pick<Config, 'bin' | 'commands' | 'commandIDs' | 'topicSeparator'>): string {
  const hidden = new Set(config.commands.filter((c) => c.hidden).map((c) => c.id))
  const ids = [...config.commandIDs, ...config.commands.flatMap((c) => c.aliases)].filter((c) => !hidden.has(c))
  const shown = (commandId: string) => toConfiguredId(commandId, config as Config)
  const listHint = `Run ${config.bin} --help for a list of commands.`
  const words = id.split(':')
  if (words[0] === 'help') {
    const about = words.length > 1 ? suggest(words.slice(1), ids) : undefined
    const target = about?.suggestion
    return `${config.bin}: no help for "${shown(words.slice(1).join(':'))}". Did you mean ${config.bin}${target === undefined ? '' : ` ${shown(target)}`} --help?`
  }
  const found = suggest(words, ids)
  const typed = found?.typed ?? words[0] ?? id
  return [`${config.bin}: "${shown(typed)}" is not a ${config.bin} command.${found ? ` Did you mean ${shown(found.suggestion)}?` : ''}`, listHint].join('\n')
}

/**
 * The closest command to what was typed. With spaces between topic and command, oclif joins the arguments into the id
 * too (`upgarde inv.yml` → `upgarde:inv.yml`): each command is compared with as many words as it has, shortest first.
 */
function suggest(words: readonly string[], ids: readonly string[]): {typed: string; suggestion: string} | undefined {
  for (const n of [...new Set(ids.map((c) => c.split(':').length))].sort((a, b) => a - b)) {
    if (n > words.length) break
    const typed = words.slice(0, n).join(':')
    const suggestion = ids.includes(typed) ? typed : closest(typed, ids.filter((c) => c.split(':').length === n))
    if (suggestion !== undefined) return {typed, suggestion}
  }
  return undefined
}
