/**
 * `npm run bench:fleet`: a fleet of 100 lab stacks × 4 simulated Catalyst 9000 (1 s boot) at concurrency 25, in one
 * child process (so peak RSS is the fleet's own), through `runFleet` with the real runs: real SSH to the simulators,
 * ChainSync over TLS 1.3 (per-run PSK), a real SQLite journal. Each stack's simulators start just before the stack
 * runs and stop after it (as `--lab` does). Prints one JSON line and a Markdown block for docs/benchmarks.md.
 *
 * Definitions (docs/benchmarks.md "Fleet"):
 * - device time of a device: what the simulator itself takes and no orchestrator can shorten: the install's run time
 *   before the reload (`installDelayMs`, 300 ms) plus the boot time (`boot_time`, 1 s) = 1.3 s; of a stack, the sum over
 *   its 4 devices (they reload one after another) = 5.2 s.
 * - critical path: the council ran each stack in one of 25 slots; a slot's device time is the sum over the stacks it
 *   ran; the critical path is the largest (4 stacks × 5.2 s = 20.8 s when 100 stacks spread evenly).
 * - orchestration overhead = wall time − critical path: everything chainup adds (SSH sessions and commands, ChainSync
 *   rounds, gates, journal writes, boot polling granularity, starting the simulators).
 */
import {spawnSync} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {cpus, loadavg, tmpdir, totalmem} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {stringify} from 'yaml'

import {loadStack} from '../src/config/load.js'
import {runFleet, type FleetStack} from '../src/fleet/fleet.js'
import {startLab} from '../src/lab/lab.js'
import {RunEvents} from '../src/model/events.js'
import {attachPlainReporter} from '../src/ui/plain.js'
import type {ChainExecutionResult} from '../src/model/result.js'
import {resolveSecrets} from '../src/run/secrets.js'

const STACKS = Number(process.env.BENCH_FLEET_STACKS ?? 100)
const DEVICES = 4
const CONCURRENCY = Number(process.env.BENCH_FLEET_CONCURRENCY ?? 25)
const BOOT_MS = 1000
const INSTALL_MS = 300
const DEVICE_MS = BOOT_MS + INSTALL_MS
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')

/**
 * `n` free ports from 20000 up: below Linux's ephemeral range (32768–60999), so that the ChainSync listeners and the
 * outgoing connections of the run (ephemeral ports) never take a simulator's port before its stack starts.
 */
async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = []
  for (let port = 20000; ports.length < n && port < 32768; port++) {
    const free = await new Promise<boolean>((res) => {
      const s = net.createServer()
      s.once('error', () => res(false))
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)))
    })
    if (free) ports.push(port)
  }
  return ports
}

async function writeInventories(dir: string): Promise<string[]> {
  const ports = await freePorts(STACKS * DEVICES)
  writeFileSync(join(dir, 'known_hosts'), '# lab keys are checked by fingerprint\n')
  return Array.from({length: STACKS}, (_, s) => {
    const file = join(dir, `stack-${String(s + 1).padStart(3, '0')}.yml`)
    writeFileSync(
      file,
      stringify({
        stack: `bench-${String(s + 1).padStart(3, '0')}`,
        playbook: join(ROOT, 'playbooks/ios-xe-install.yml'),
        target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
        ssh: {username: 'netops', password_env: 'CHAINUP_BENCH_PASSWORD', known_hosts: './known_hosts'},
        // boot PT15S: the reload wait polls every 250 ms (its floor); settle PT0S: back means back (a policy wait, not device time)
        timeouts: {command: 'PT30S', boot: 'PT15S', predecessor: 'PT2M', gate: 'PT10S', connect: 'PT10S', settle: 'PT0S'},
        lab: {version: '17.06.05', boot_time: 'PT1S'},
        devices: Array.from({length: DEVICES}, (_, d) => ({name: `sw${d + 1}`, host: '127.0.0.1', port: ports[s * DEVICES + d]})),
      }),
    )
    return file
  })
}

interface Measurement {
  stacks: number
  devices: number
  concurrency: number
  status: string
  completed: number
  wallMs: number
  criticalPathMs: number
  overheadMs: number
  overheadPct: number
  maxRssMb: number
  stackWallMs: {median: number; p95: number}
  rebootPhaseMs: {median: number}
  labStartMs: {median: number}
  /** Medians over the stacks, ms: where a stack run's wall time goes (docs/benchmarks.md "Fleet"). */
  breakdownMs: {readiness: number; upgradeSteps: number; bootWait: number; rest: number}
  failures: string[]
  cpuUserMs: number
  cpuSystemMs: number
  load1Before: number
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s[Math.floor((s.length - 1) / 2)]!
}
const p95 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)]!
}

/**
 * Where a stack run's wall time goes, medians over the stacks: `readiness` from the run's start to its first task step
 * (every device's connection, facts, readiness commands and before gates, in parallel), `upgradeSteps` the task's
 * commands (install, verify …, the simulator's 300 ms install time included), `bootWait` the reboot phase (reload sent
 * until the device answers on the target version; the 1 s boot included), `rest` everything else: a device's SSH
 * connection for its task, its after gates, the ChainSync hops between devices, journal writes, the final gates.
 */
function breakdown(stacks: ChainExecutionResult[]): Measurement['breakdownMs'] {
  const rows = stacks.map((st) => {
    const t0 = Date.parse(st.started_at)
    const task = st.steps.filter((x) => x.phase !== 'readiness')
    const firstTask = task.length > 0 ? Math.min(...task.map((x) => Date.parse(x.started_at))) : t0
    const readiness = firstTask - t0
    const upgradeSteps = task.filter((x) => x.phase === 'upgrade').reduce((n, x) => n + x.duration_ms, 0)
    const bootWait = task.filter((x) => x.phase === 'reboot').reduce((n, x) => n + x.duration_ms, 0)
    return {readiness, upgradeSteps, bootWait, rest: st.duration_ms - readiness - upgradeSteps - bootWait}
  })
  return {
    readiness: median(rows.map((r) => r.readiness)),
    upgradeSteps: median(rows.map((r) => r.upgradeSteps)),
    bootWait: median(rows.map((r) => r.bootWait)),
    rest: median(rows.map((r) => r.rest)),
  }
}

async function child(dir: string): Promise<void> {
  const files = (await import('node:fs')).readdirSync(dir).filter((f) => f.endsWith('.yml')).sort().map((f) => join(dir, f))
  const env = {...process.env, CHAINUP_BENCH_PASSWORD: randomBytes(12).toString('base64url')}
  const stacks: FleetStack[] = []
  for (const f of files) {
    const {inventory, playbook} = await loadStack(f)
    stacks.push({inventory, playbook, secrets: resolveSecrets(inventory, env)})
  }
  const load1Before = loadavg()[0]!
  if (process.env.BENCH_FLEET_VERBOSE) process.stderr.write(`${stacks.length} stacks loaded\n`)
  const slotOf = new Map<number, number>()
  const labMs: number[] = []
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const result = await runFleet({
    stacks,
    // BENCH_FLEET_STATE_DIR (e.g. under /dev/shm, where fsync costs nothing): the experiment that isolates the journal's commits
    stateDir: process.env.BENCH_FLEET_STATE_DIR ? mkdtempSync(join(process.env.BENCH_FLEET_STATE_DIR, 'chainup-bench-state-')) : join(dir, 'state'),
    concurrency: CONCURRENCY,
    beforeStack: async (i) => {
      const l0 = performance.now()
      const lab = await startLab(stacks[i]!.inventory, {env, trapReceivers: false})
      labMs.push(performance.now() - l0)
      return {hostKeys: lab.hostKeys, cleanup: () => lab.stop()}
    },
    onStart: (i, slot) => slotOf.set(i, slot),
    ...(process.env.BENCH_FLEET_VERBOSE
      ? {
          eventsFor: (i: number) => {
            const events = new RunEvents()
            attachPlainReporter(events, process.stderr)
            if (i < 0) throw new Error('unreachable')
            return events
          },
        }
      : {}),
  })
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const perSlot = new Map<number, number>()
  for (const [, slot] of slotOf) perSlot.set(slot, (perSlot.get(slot) ?? 0) + DEVICES * DEVICE_MS)
  const criticalPathMs = Math.max(...perSlot.values())
  const m: Measurement = {
    stacks: STACKS,
    devices: DEVICES,
    concurrency: CONCURRENCY,
    status: result.status,
    completed: result.stacks.filter((s) => s.status === 'completed').length,
    wallMs: Math.round(wallMs),
    criticalPathMs,
    overheadMs: Math.round(wallMs - criticalPathMs),
    overheadPct: Math.round(((wallMs - criticalPathMs) / wallMs) * 1000) / 10,
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    stackWallMs: {median: median(result.stacks.map((s) => s.duration_ms)), p95: p95(result.stacks.map((s) => s.duration_ms))},
    rebootPhaseMs: {median: median(result.stacks.flatMap((s) => s.steps.filter((st) => st.phase === 'reboot').map((st) => st.duration_ms)))},
    labStartMs: {median: Math.round(median(labMs))},
    breakdownMs: breakdown(result.stacks),
    failures: [
      ...result.stacks.filter((st) => st.status !== 'completed').map((st) => `${st.chain_id} ${st.status}: ${st.reason ?? ''}`),
      ...result.not_started.map((st) => `${st.chain_id} not started: ${st.reason}`),
      ...(result.status === 'completed' ? [] : [`fleet: ${result.reason ?? ''}`]),
    ].slice(0, 10),
    cpuUserMs: Math.round(cpu.user / 1000),
    cpuSystemMs: Math.round(cpu.system / 1000),
    load1Before,
  }
  process.stdout.write(JSON.stringify(m) + '\n')
}

async function main(): Promise<void> {
  const [mode, arg] = process.argv.slice(2)
  if (mode === 'child') return child(arg!)
  const dir = mkdtempSync(join(tmpdir(), 'chainup-bench-fleet-'))
  try {
    await writeInventories(dir)
    const extra = (process.env.BENCH_FLEET_NODE_ARGS ?? '').split(' ').filter(Boolean)
    const r = spawnSync(process.execPath, [...extra, fileURLToPath(import.meta.url), 'child', dir], {encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit']})
    const line = r.stdout.trim().split('\n').pop() ?? ''
    if (r.status !== 0 || !line.startsWith('{')) throw new Error(`the bench child failed (exit ${r.status}): ${r.stdout}`)
    const m = JSON.parse(line) as Measurement
    process.stdout.write(line + '\n')
    const cpu = cpus()[0]?.model ?? 'unknown CPU'
    process.stdout.write(
      [
        '',
        `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; 1-minute load before the run ${m.load1Before.toFixed(2)}.`,
        '',
        '| stacks × devices | concurrency | status | wall time | critical path (device time) | orchestration overhead | peak RSS | CPU (user + sys) |',
        '|---|---|---|---|---|---|---|---|',
        `| ${m.stacks} × ${m.devices} | ${m.concurrency} | ${m.status} (${m.completed} completed) | ${(m.wallMs / 1000).toFixed(1)} s | ${(m.criticalPathMs / 1000).toFixed(1)} s | ${(m.overheadMs / 1000).toFixed(1)} s (${m.overheadPct} %) | ${m.maxRssMb} MB | ${((m.cpuUserMs + m.cpuSystemMs) / 1000).toFixed(1)} s |`,
        '',
        `Where one stack run's time goes (medians, ms): readiness of all 4 devices ${m.breakdownMs.readiness}, task commands ${m.breakdownMs.upgradeSteps}, boot waits ${m.breakdownMs.bootWait}, the rest (task connections, after gates, ChainSync hops, journal) ${m.breakdownMs.rest}.${m.failures.length > 0 ? ` Failed stacks: ${m.failures.join('; ')}.` : ''}`,
        '',
        `One stack run: median ${(m.stackWallMs.median / 1000).toFixed(1)} s, P95 ${(m.stackWallMs.p95 / 1000).toFixed(1)} s (its device time: ${((DEVICES * DEVICE_MS) / 1000).toFixed(1)} s); median wait for a boot (reboot phase) ${m.rebootPhaseMs.median} ms (boot 1000 ms); starting a stack's simulators: median ${m.labStartMs.median} ms.`,
        '',
      ].join('\n'),
    )
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

await main()
