/**
 * Output checks of a playbook step (docs/playbook.md "Steps"): the playbook's `error_patterns`, the step's `reject`
 * and `expect` patterns, and its exit status. Pure: text in, a problem (or nothing) out.
 */
import type {PlaybookStep} from '../config/types.js'
import {firstLines, lineAt} from '../util/text.js'

export interface CheckPatterns {
  /** The playbook's `error_patterns`, placeholders already expanded (regex mode). */
  errorPatterns: readonly string[]
  /** Expands a step's pattern placeholders (regex mode: inserted values escaped). */
  expand: (pattern: string) => string
}

/**
 * Checks a finished command: error patterns, `reject`, `expect`, then the exit status (0 required; a missing one is a
 * problem).
 * @returns one line describing the first problem, or undefined when the output is acceptable
 */
export function checkOutput(step: PlaybookStep, output: string, exitCode: number | undefined, patterns: CheckPatterns): string | undefined {
  const pattern = checkPatterns(step, output, true, patterns)
  if (pattern) return pattern
  if (exitCode !== undefined && exitCode !== 0) return `exit status ${exitCode}: ${firstLines(output)}`
  if (exitCode === undefined) return 'the command ended without an exit status'
  return undefined
}

/**
 * Checks output against the error patterns and the step's `reject` (and, if `checkExpect`, its `expect`). A reload
 * command's output is checked without `expect`: the device may go down before printing it.
 * @returns one line describing the first problem, or undefined
 */
export function checkPatterns(step: PlaybookStep, output: string, checkExpect: boolean, patterns: CheckPatterns): string | undefined {
  for (const p of patterns.errorPatterns) {
    const m = new RegExp(p, 'm').exec(output)
    if (m) return `device reported an error: ${lineAt(output, m.index)}`
  }
  if (step.reject !== undefined) {
    const m = new RegExp(patterns.expand(step.reject), 'm').exec(output)
    if (m) return `output matches /${step.reject}/: ${lineAt(output, m.index)}`
  }
  if (checkExpect && step.expect !== undefined) {
    const re = new RegExp(patterns.expand(step.expect), 'm')
    if (!re.test(output)) return `output does not match /${re.source}/`
  }
  return undefined
}
