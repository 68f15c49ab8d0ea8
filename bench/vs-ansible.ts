/**
 * `npm run bench:vs-ansible` (issue #12): the same 4-switch upgrade done by Debian's `ansible-playbook` (a plain
 * `serial: 1` playbook in bench/ansible/) and by `chainup upgrade`, interleaved, against the built-in simulator
 * (real SSH servers on 127.0.0.1), each switch installing in 2 s, going down 1 s after the install returns and
 * booting in 3 s: 6 s of device time per device, 24 s per round. Fresh simulators for every run.
 *
 * Definitions (docs/benchmarks.md "chainup vs Ansible"):
 * - wall time: the tool's process from spawn to exit (its start-up included);
 * - device time: 6 s per device (install 2 s + 1 s until it goes down + 3 s boot): what no orchestrator can shorten;
 * - overhead per device = (wall time − 24 s) / 4.
 * Also from chainup's own result (medians over rounds): per step durations, boot detection latency (the wait for
 * reload's end minus the moment the simulator listened again) and the hand-off (one device's last step end → the
 * next device's first task step start).
 *
 * Prints one JSON line per run and a Markdown block for docs/benchmarks.md. Environment: BENCH_ROUNDS (default 5).
 * Skips with a message (exit 0) when ansible-playbook is not installed.
 */
import {spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {cpus, loadavg, tmpdir, totalmem} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import ssh2 from 'ssh2'
import {stringify} from 'yaml'

import {SimSwitch} from '../src/lab/sim-switch.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
/** BENCH_TOOLS=chainup runs only chainup (for profiling); BENCH_VERBOSE=1 prints chainup's timestamped lines. */
const TOOLS = (process.env.BENCH_TOOLS ?? 'chainup,ansible').split(',')
const NAMES = ['sw1', 'sw2', 'sw3', 'sw4']
const INSTALL_MS = 2000
const DOWN_AFTER_MS = 1000
const BOOT_MS = 3000
const DEVICE_MS = INSTALL_MS + DOWN_AFTER_MS + BOOT_MS
const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
const PASSWORD = 'bench-Pa55word'
const IMAGE = 'cat9k_iosxe.17.09.05.SPA.bin'

interface Lab {
  dir: string
  sims: SimSwitch[]
}

async function freePorts(n: number): Promise<number[]> {
  const servers: net.Server[] = []
  for (let i = 0; i < n; i++)
    servers.push(
      await new Promise<net.Server>((res) => {
        const s = net.createServer()
        s.listen(0, '127.0.0.1', () => res(s))
      }),
    )
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port)
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))
  return ports
}

async function startLab(dir: string, key: {public: string}): Promise<Lab> {
  const ports = await freePorts(NAMES.length)
  const sims = NAMES.map(
    (name, i) =>
      new SimSwitch({
        name,
        host: '127.0.0.1',
        port: ports[i]!,
        username: 'netops',
        password: PASSWORD,
        publicKey: key.public,
        version: '17.06.05',
        extraImages: [IMAGE],
        bootTimeMs: BOOT_MS,
        installDelayMs: INSTALL_MS,
        reloadAfterExitMs: DOWN_AFTER_MS,
      }),
  )
  await Promise.all(sims.map((s) => s.start()))
  return {dir, sims}
}

function writeChainupInventory(lab: Lab): string {
  const file = join(lab.dir, 'stack.yml')
  writeFileSync(
    file,
    stringify({
      stack: 'bench-vs-ansible',
      playbook: join(ROOT, 'playbooks/ios-xe-install.yml'),
      target: {version: '17.09.05', image: IMAGE},
      ssh: {username: 'netops', password_env: 'CHAINUP_BENCH_PASSWORD'},
      // Ansible's wait_for has no settle time either: compare like with like (the shipped playbook says PT30S).
      timeouts: {command: 'PT30S', boot: 'PT60S', predecessor: 'PT2M', gate: 'PT10S', connect: 'PT5S', settle: 'PT0S'},
      devices: lab.sims.map((s, i) => ({name: NAMES[i], host: '127.0.0.1', port: s.port, host_key: s.hostKeyFingerprint})),
    }),
  )
  return file
}

function writeAnsibleInventory(lab: Lab, keyFile: string): string {
  const file = join(lab.dir, 'hosts.ini')
  const lines = ['[switches]']
  lab.sims.forEach((s, i) => lines.push(`${NAMES[i]} ansible_host=127.0.0.1 ansible_port=${s.port}`))
  lines.push('', '[switches:vars]', 'ansible_user=netops', `ansible_ssh_private_key_file=${keyFile}`, 'ansible_python_interpreter=/usr/bin/python3', '')
  writeFileSync(file, lines.join('\n'))
  return file
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ms: number; code: number | null; out: string}> {
  const started = performance.now()
  return new Promise((res) => {
    const child = spawn(command, args, {cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (out += d.toString()))
    child.on('exit', (code) => res({ms: performance.now() - started, code, out}))
  })
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

interface ChainupDetail {
  steps: Record<string, number>
  bootDetectMs: number[]
  handoffMs: number[]
}

/** Per-step durations, boot detection latency and hand-offs from chainup's result and the simulators' events. */
function chainupDetail(lab: Lab, stateDir: string): ChainupDetail {
  const runs = readdirSync(join(stateDir, 'runs')).filter((f) => f.endsWith('.json'))
  const result = JSON.parse(readFileSync(join(stateDir, 'runs', runs[0]!), 'utf8')) as {
    steps: Array<{device: string; action: string; phase: string; started_at: string; duration_ms: number}>
    gates: unknown[]
  }
  const steps: Record<string, number[]> = {}
  for (const s of result.steps) (steps[s.action] ??= []).push(s.duration_ms)
  const bootDetectMs: number[] = []
  for (const [i, sim] of lab.sims.entries()) {
    const up = sim.events.find((e) => e.type === 'up')
    const wait = result.steps.find((s) => s.device === NAMES[i] && s.action === 'wait for reload')
    if (up && wait) bootDetectMs.push(Date.parse(wait.started_at) + wait.duration_ms - up.at)
  }
  const handoffMs: number[] = []
  const task = result.steps.filter((s) => s.phase !== 'readiness')
  for (let i = 1; i < NAMES.length; i++) {
    const prev = task.filter((s) => s.device === NAMES[i - 1])
    const next = task.filter((s) => s.device === NAMES[i])
    if (prev.length === 0 || next.length === 0) continue
    const prevEnd = Math.max(...prev.map((s) => Date.parse(s.started_at) + s.duration_ms))
    const nextStart = Math.min(...next.map((s) => Date.parse(s.started_at)))
    handoffMs.push(nextStart - prevEnd)
  }
  return {steps: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, median(v)])), bootDetectMs, handoffMs}
}

async function main(): Promise<void> {
  const ansible = spawnSync('ansible-playbook', ['--version'], {encoding: 'utf8'})
  if (ansible.status !== 0) {
    console.log('bench:vs-ansible skipped: ansible-playbook is not installed (Debian: apt-get install ansible-core)')
    return
  }
  const version = /ansible-playbook \[core ([^\]]+)\]/.exec(ansible.stdout)?.[1] ?? ansible.stdout.split('\n')[0]
  const base = mkdtempSync(join(tmpdir(), 'chainup-vs-ansible-'))
  const pair = ssh2.utils.generateKeyPairSync('ed25519')
  const keyFile = join(base, 'id_ed25519')
  writeFileSync(keyFile, pair.private, {mode: 0o600})
  const key = {public: pair.public}
  const playbook = join(ROOT, 'bench/ansible/upgrade.yml')
  const walls: Record<'chainup' | 'ansible', number[]> = {chainup: [], ansible: []}
  const details: ChainupDetail[] = []
  const load0 = loadavg()[0]!
  for (let round = 1; round <= ROUNDS; round++) {
    const order: Array<'chainup' | 'ansible'> = round % 2 ? ['chainup', 'ansible'] : ['ansible', 'chainup']
    for (const tool of order.filter((t) => TOOLS.includes(t))) {
      const dir = mkdtempSync(join(base, `${tool}-${round}-`))
      const lab = await startLab(dir, key)
      try {
        let r: {ms: number; code: number | null; out: string}
        if (tool === 'chainup') {
          const inv = writeChainupInventory(lab)
          const state = join(dir, 'state')
          r = await run(process.execPath, [join(ROOT, 'bin/run.js'), 'upgrade', inv, '--state-dir', state], {...process.env, CI: 'true', NO_COLOR: '1', CHAINUP_BENCH_PASSWORD: PASSWORD})
          if (r.code === 0) details.push(chainupDetail(lab, state))
          if (process.env.BENCH_VERBOSE) console.log(r.out)
        } else {
          const inv = writeAnsibleInventory(lab, keyFile)
          r = await run('ansible-playbook', ['-i', inv, playbook], {...process.env, ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_NOCOLOR: '1', ANSIBLE_STDOUT_CALLBACK: 'default', ANSIBLE_LOCAL_TEMP: join(dir, 'tmp'), ANSIBLE_SSH_CONTROL_PATH_DIR: join(dir, 'cp')})
        }
        const upgraded = lab.sims.filter((s) => s.version === '17.09.05').length
        console.log(JSON.stringify({round, tool, wall_ms: Math.round(r.ms), exit: r.code, upgraded}))
        if (r.code !== 0 || upgraded !== NAMES.length) {
          console.error(r.out.slice(-3000))
          throw new Error(`${tool} round ${round} did not upgrade every switch (exit ${r.code}, ${upgraded}/${NAMES.length})`)
        }
        walls[tool].push(r.ms)
      } finally {
        await Promise.all(lab.sims.map((s) => s.stop()))
      }
    }
  }
  rmSync(base, {recursive: true, force: true})

  const deviceTotal = DEVICE_MS * NAMES.length
  const overhead = (tool: 'chainup' | 'ansible') => (median(walls[tool]) - deviceTotal) / NAMES.length
  if (!TOOLS.includes('ansible')) walls.ansible.push(NaN)
  const steps: Record<string, number> = {}
  for (const name of Object.keys(details[0]?.steps ?? {})) steps[name] = median(details.map((d) => d.steps[name] ?? NaN))
  const boot = median(details.flatMap((d) => d.bootDetectMs))
  const handoff = median(details.flatMap((d) => d.handoffMs))
  const fmt = (ms: number) => (ms / 1000).toFixed(2)
  const range = (xs: number[]) => `${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}`
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU'
  const lines = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ansible-core ${version}; ${ROUNDS} interleaved rounds, load average ${load0.toFixed(1)} at the start.`,
    '',
    '| tool | wall time, median (s) | range (s) | overhead per device (s) |',
    '|---|---|---|---|',
    `| ansible-playbook (serial: 1, raw + wait_for) | ${fmt(median(walls.ansible))} | ${range(walls.ansible)} | ${fmt(overhead('ansible'))} |`,
    `| chainup upgrade | ${fmt(median(walls.chainup))} | ${range(walls.chainup)} | ${fmt(overhead('chainup'))} |`,
    '',
    `Device time ${fmt(deviceTotal)} s per round (${NAMES.length} × ${fmt(DEVICE_MS)} s). chainup's overhead is ${((overhead('chainup') / overhead('ansible')) * 100).toFixed(0)} % of Ansible's (target ≤ 20 %).`,
    `chainup, medians over its rounds: boot detection ${boot.toFixed(0)} ms after the simulator listened again (target ≤ 250 ms); hand-off ${handoff.toFixed(0)} ms from one device's last task step to the next one's first (target ≤ 50 ms); steps: ${Object.entries(steps).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}.`,
  ]
  console.log('\n' + lines.join('\n'))
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
