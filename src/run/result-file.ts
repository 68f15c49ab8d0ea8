/** The result file: every run's `ChainExecutionResult` saved under the state directory (docs/result.md). */
import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import {dirname, join, relative, resolve, sep} from 'node:path'

import type {ChainExecutionResult, FleetExecutionResult} from '../model/result.js'
import {terminalJson} from '../util/text.js'

/**
 * Writes the result as `<stateDir>/runs/<basename>.json` (default: the execution id), private to the user: the file
 * 0600, and every directory this call creates 0700 (whatever the umask). A directory that already exists, such as a
 * `--state-dir` the user chose and shares with a group, keeps its mode.
 * @returns the file's path
 * @throws the file system's error (ENOSPC, EACCES …)
 */
export function saveResult(stateDir: string, result: ChainExecutionResult | FleetExecutionResult, basename = result.execution_id): string {
  const dir = join(stateDir, 'runs')
  const first = mkdirSync(dir, {recursive: true, mode: 0o700})
  if (first !== undefined) for (const created of createdDirs(resolve(first), resolve(dir))) chmodSync(created, 0o700)
  const file = join(dir, `${basename}.json`)
  writeFileSync(file, terminalJson(result) + '\n', {mode: 0o600})
  return file
}

/** The directories from `first` (the first one `mkdir -p` created) down to `last`. */
function createdDirs(first: string, last: string): string[] {
  const dirs: string[] = []
  for (let d = last; ; d = dirname(d)) {
    dirs.push(d)
    if (d === first || dirname(d) === d || relative(first, d).startsWith('..' + sep)) break
  }
  return dirs
}
