/** The result file: every run's `ChainExecutionResult` saved under the state directory (docs/result.md). */
import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {ChainExecutionResult} from '../model/result.js'

/**
 * Writes the result as `<stateDir>/runs/<basename>.json` (default: the execution id), private to the user (0600 in a
 * 0700 directory).
 * @returns the file's path
 * @throws the file system's error (ENOSPC, EACCES …)
 */
export function saveResult(stateDir: string, result: ChainExecutionResult, basename = result.execution_id): string {
  const dir = join(stateDir, 'runs')
  mkdirSync(dir, {recursive: true, mode: 0o700})
  chmodSync(stateDir, 0o700)
  const file = join(dir, `${basename}.json`)
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n', {mode: 0o600})
  return file
}
