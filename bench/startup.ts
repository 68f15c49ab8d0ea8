/**
 * `npm run bench:startup` (issue #12): chainup's start-up against a bare Node start in the same run, so the ratio
 * holds on any machine: `node -e 0`, `chainup --version`, `chainup validate` of a 100-device inventory, interleaved,
 * BENCH_ROUNDS (default 15) times each; medians of the wall time (spawn to exit) and of the peak RSS (read by the child
 * itself at exit: `process.resourceUsage().maxRSS`). Also the peak RSS of a 4-device `chainup upgrade --lab` of the
 * shipped lab inventory. Prints a Markdown block for docs/benchmarks.md. Needs `npm run build` (the manifest).
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir, totalmem} from 'node:os'
import {join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = resolve(fileURLToPath(import.meta.url), '../../..')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15)

/** Runs `node [--import rss] args` and returns its wall time (ms) and peak RSS (MiB). */
function measure(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): {ms: number; rssMiB: number} {
  const rssFile = join(dir, `rss-${Math.random().toString(36).slice(2)}`)
  const started = performance.now()
  const r = spawnSync(process.execPath, ['--import', join(dir, 'rss.mjs'), ...args], {cwd: ROOT, env: {...process.env, ...env, RSS_FILE: rssFile, CI: 'true', NO_COLOR: '1'}, encoding: 'utf8'})
  const ms = performance.now() - started
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`)
  const rssKiB = Number(readFileSync(rssFile, 'utf8'))
  return {ms, rssMiB: rssKiB / 1024}
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

function inventory100(dir: string): string {
  const lines = [
    'stack: big-stack',
    `playbook: ${join(ROOT, 'playbooks/ios-xe-install.yml')}`,
    'target: {version: "17.09.05", image: cat9k_iosxe.17.09.05.SPA.bin}',
    'ssh: {username: netops, password_env: CHAINUP_PASSWORD}',
    'devices:',
  ]
  for (let i = 1; i <= 100; i++) lines.push(`  - {name: sw${i}, host: 10.0.${Math.floor(i / 250)}.${i % 250}, host_key: "SHA256:${'A'.repeat(43)}"}`)
  const file = join(dir, 'big.yml')
  writeFileSync(file, lines.join('\n') + '\n')
  return file
}

function main(): void {
  if (!existsSync(join(ROOT, 'oclif.manifest.json'))) throw new Error('oclif.manifest.json is missing: run `npm run build` first')
  const dir = mkdtempSync(join(tmpdir(), 'chainup-startup-'))
  writeFileSync(join(dir, 'rss.mjs'), "import {writeFileSync} from 'node:fs'\nprocess.on('exit', () => writeFileSync(process.env.RSS_FILE, String(process.resourceUsage().maxRSS)))\n")
  const big = inventory100(dir)
  const bin = join(ROOT, 'bin/run.js')
  const cases = {
    'node -e 0': ['-e', '0'],
    'chainup --version': [bin, '--version'],
    'chainup validate (100 devices)': [bin, 'validate', big],
  } as const
  const results: Record<string, {ms: number[]; rss: number[]}> = {}
  const load0 = loadavg()[0]!
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, args] of Object.entries(cases)) {
      const m = measure(dir, [...args])
      ;(results[name] ??= {ms: [], rss: []}).ms.push(m.ms)
      results[name]!.rss.push(m.rssMiB)
    }
  }
  const run = measure(dir, [bin, 'upgrade', join(ROOT, 'inventories/lab.yml'), '--lab', '--state-dir', join(dir, 'state')])
  rmSync(dir, {recursive: true, force: true})
  const base = median(results['node -e 0']!.ms)
  const rows = Object.entries(results).map(([name, r]) => `| ${name} | ${median(r.ms).toFixed(0)} | ${(median(r.ms) / base).toFixed(2)}× | ${median(r.rss).toFixed(0)} |`)
  console.log(
    [
      `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${ROUNDS} interleaved rounds, load average ${load0.toFixed(1)} at the start.`,
      '',
      '| command | wall time, median (ms) | vs node -e 0 | peak RSS, median (MiB) |',
      '|---|---|---|---|',
      ...rows,
      '',
      `A 4-device \`chainup upgrade inventories/lab.yml --lab\` (simulators in the same process): ${(run.ms / 1000).toFixed(1)} s, peak RSS ${run.rssMiB.toFixed(0)} MiB.`,
    ].join('\n'),
  )
}

main()
