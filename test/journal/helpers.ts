import {execFileSync} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import Database from 'better-sqlite3'

import type {Journal} from '../../src/journal/index.js'

/** A manual clock: `now()` returns the current time; `tick(ms)` moves it. */
export interface ManualClock {
  now: () => Date
  tick: (ms: number) => void
  iso: () => string
}

export function manualClock(start = '2026-03-01T10:00:00.000Z'): ManualClock {
  let t = Date.parse(start)
  return {now: () => new Date(t), tick: (ms) => void (t += ms), iso: () => new Date(t).toISOString()}
}

/** A fresh directory under the OS tmp dir, with a not-yet-existing state directory inside; `cleanup()` removes it. */
export function tmpState(prefix = 'chainup-journal-'): {dir: string; stateDir: string; cleanup: () => void} {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return {dir, stateDir: join(dir, 'state', 'chainup'), cleanup: () => rmSync(dir, {recursive: true, force: true})}
}

/** A second, raw connection to the same database file (the "someone edits the file" connection). */
export function raw(file: string): Database.Database {
  const db = new Database(file, {timeout: 5000})
  return db
}

/**
 * Compiles src/journal (and what it imports) to plain JS under node_modules/.cache so that child processes can
 * import it (better-sqlite3 resolves from the repository's node_modules). Returns the path of journal/index.js.
 */
export function compileJournal(): {entry: string; cleanup: () => void} {
  const root = resolve(import.meta.dirname, '../..')
  const out = join(root, 'node_modules', '.cache', `chainup-journal-test-${process.pid}`)
  const tsc = join(root, 'node_modules/typescript/bin/tsc')
  const args = [tsc, '--ignoreConfig', join(root, 'src/journal/index.ts'), '--outDir', out, '--rootDir', join(root, 'src')]
  args.push('--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node')
  try {
    execFileSync(process.execPath, args, {cwd: root, stdio: 'pipe'})
  } catch (error) {
    // tsc still emits on type errors (e.g. someone else's file in progress); only a missing output is fatal
    if (!existsSync(join(out, 'journal', 'index.js'))) throw error
  }
  return {entry: join(out, 'journal', 'index.js'), cleanup: () => rmSync(out, {recursive: true, force: true})}
}

/** Starts a step, moves the clock, finishes it. @returns the step id */
export function step(
  j: Journal,
  clock: ManualClock,
  runId: string,
  device: string,
  s: {name: string; phase?: 'readiness' | 'upgrade' | 'reboot'; command?: string | null; status?: 'completed' | 'failed' | 'skipped' | 'cancelled'; output?: string | null; error?: string | null; ms?: number; detail?: Record<string, string>},
): string {
  const id = j.startStep(runId, device, {name: s.name, phase: s.phase ?? 'upgrade', command: s.command ?? null})
  clock.tick(s.ms ?? 1000)
  j.finishStep(id, {status: s.status ?? 'completed', output: s.output ?? null, error: s.error ?? null, ...(s.detail ? {detail: s.detail} : {})})
  return id
}
