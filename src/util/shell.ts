/** POSIX shell quoting for the commands chainup prints for a person or cron to run. */

/**
 * `word` as one POSIX shell word: as it is when it needs no quoting, else in single quotes (`'` as `'\''`).
 * @example shellWord('/var/lib/chainup') === '/var/lib/chainup'; shellWord("my inv/it's.yml") === `'my inv/it'\''s.yml'`
 */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`
}
