/** Runs the built CLI (`bin/run.js`) as a user would: its own process, no TTY (plain output), CI=true. */
import {execFile} from 'node:child_process'
import {join} from 'node:path'

import {ROOT} from './lab-stack.js'

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** @param timeoutMs the process is killed past this (a hang, not a slow machine) @default 120000 */
export function chainup(args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {cwd: ROOT, env: {...process.env, CI: 'true', ...env}, timeout: timeoutMs}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr})
    })
  })
}
