/**
 * Shared by the journal tests (and test/cli/history-tree.test.ts): a manual clock, temporary state directories, a raw
 * second connection, the journal compiled for child processes, and runs written through the journal API (`step`,
 * `chainRun`).
 */
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

/**
 * A three-device run as `chainup upgrade` journals it (times from a manual clock starting at `clock`'s start, ms):
 *
 * -   0 createRun (sw1, sw2, sw3)
 * - 100 stack-wide `before` gate "change window"
 * - 100–300 readiness of every device at once (`facts`, 200 ms each); 350 each device's `before` gate "maintenance mode"
 * - sw1's task at once (install 350–650, wait for reload –3650, verify version –3750), `after` gate "ping" at 3900
 *   (sw1's install starts in the same millisecond as its before gate: only the journal's sequence orders them)
 * - sw2 waits for sw1, then the same: install 3900–4200, wait –7200, verify –7300, after gate at 7450
 * - sw3 waits for sw2: install 7450–7750 fails, its `on_error` gate "go on" allows at 7800
 * - 7900 `final` gate "notify"; 8000 the run ends `failed`
 *
 * Each device's own working time is 3800 ms (sw3: 600 ms); by started_at/finished_at sw2 spans 7350 ms and sw3
 * 7700 ms, because their readiness ran at the start and they then waited for their turn.
 */
export function chainRun(j: Journal, clock: ManualClock, runId = 'run-T'): {devices: Record<string, string>} {
  const names = ['sw1', 'sw2', 'sw3']
  const {devices} = j.createRun({id: runId, stack: 'core', devices: names, target: {version: '17.9.5'}})
  clock.tick(100)
  j.recordGate(runId, {type: 'before', name: 'change window', device: null, decision: 'allow', reason: 'inside the window'})
  const facts = names.map((d) => j.startStep(runId, d, {name: 'facts', phase: 'readiness', command: 'show version'}))
  clock.tick(200)
  for (const id of facts) j.finishStep(id, {status: 'completed', output: 'Version 17.9.4', error: null})
  clock.tick(50)
  for (const d of names) j.recordGate(runId, {type: 'before', name: 'maintenance mode', device: d, decision: 'allow', reason: 'set'})
  for (const d of ['sw1', 'sw2']) {
    step(j, clock, runId, d, {name: 'install', command: 'install add file flash:img.bin activate commit', ms: 300})
    step(j, clock, runId, d, {name: 'wait for reload', phase: 'reboot', ms: 3000})
    step(j, clock, runId, d, {name: 'verify version', command: 'show version', ms: 100, detail: {version_after: '17.9.5'}})
    clock.tick(150)
    j.recordGate(runId, {type: 'after', name: 'ping', device: d, decision: 'allow', reason: '0% loss'})
    j.setStatus(devices[d]!, 'upgraded', {version_before: '17.9.4'})
  }
  step(j, clock, runId, 'sw3', {name: 'install', command: 'install add file flash:img.bin activate commit', status: 'failed', error: 'no space left', ms: 300})
  clock.tick(50)
  j.recordGate(runId, {type: 'on_error', name: 'go on', device: 'sw3', decision: 'allow', reason: 'exit 0'})
  j.setStatus(devices.sw3!, 'failed', {version_before: '17.9.4', version_after: '17.9.4', on_error: 'allow'})
  clock.tick(100)
  j.recordGate(runId, {type: 'final', name: 'notify', device: null, decision: 'allow', reason: 'sent'})
  clock.tick(100)
  j.finishRun(runId, 'failed', 'sw3 failed: no space left')
  return {devices}
}
