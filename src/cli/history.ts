/**
 * `chainup history` and `chainup show`: the journal's record of runs (seed 001 §6.3, DEC-002 history registry).
 */
import {fleetResultFromJournal} from '../fleet/fleet.js'
import type {FleetRecord} from '../journal/fleet.js'
import {openJournal, type Journal} from '../journal/journal.js'
import {treeTimeline} from '../journal/tree.js'
import type {HistoryEntry, HistoryPage, TreeNode, VerifyResult} from '../journal/types.js'
import type {RunStatus} from '../model/status.js'
import {InputError} from '../errors.js'
import type {ChainExecutionResult, FleetExecutionResult} from '../model/result.js'
import {formatMs} from '../util/duration.js'

export interface HistoryOptions {
  stateDir: string
  stack?: string
  status?: RunStatus
  limit?: number
  page?: number
}

/**
 * The history with the fleet level (docs/fleets.md): a run of a fleet carries its `fleet_id`; on page 1 without
 * `--stack`, `fleets` lists the fleets newest first (with the status filter and limit). Both are absent when the
 * journal has no fleet.
 */
export type FleetHistoryPage = Omit<HistoryPage, 'runs'> & {runs: Array<HistoryEntry & {fleet_id?: string}>; fleets?: FleetRecord[]}

/** Runs newest first (and fleets). @throws InputError for a bad limit/page */
export async function historyCommand(opts: HistoryOptions): Promise<FleetHistoryPage> {
  const journal = await openJournal(opts.stateDir)
  try {
    const page: FleetHistoryPage = journal.history({
      ...(opts.stack ? {stack: opts.stack} : {}),
      ...(opts.status ? {status: opts.status} : {}),
      ...(opts.limit === undefined ? {} : {limit: opts.limit}),
      ...(opts.page === undefined ? {} : {page: opts.page}),
    })
    page.runs = page.runs.map((r) => {
      const fleet = journal.fleetOf(r.execution_id)
      return fleet === null ? r : {...r, fleet_id: fleet}
    })
    if ((opts.page ?? 1) === 1 && !opts.stack) {
      const fleets = journal.fleets({...(opts.status ? {status: opts.status} : {}), ...(opts.limit === undefined ? {} : {limit: opts.limit})})
      if (fleets.length > 0) page.fleets = fleets
    }
    return page
  } finally {
    journal.close()
  }
}

/** The history as a table (terminal) or as plain lines (cron, pipes); fleets first, when there are any. */
export async function formatHistory(page: FleetHistoryPage, tty: boolean): Promise<string> {
  const fleets = (page.fleets ?? []).map(
    (f) =>
      `fleet ${f.id}  ${f.status}  ${f.started_at.replace('T', ' ').slice(0, 19)}  ${f.duration_ms === null ? '-' : formatMs(f.duration_ms)}  ${f.stacks.map((s) => `${s.stack}:${s.run_status ?? s.state.replace('_', ' ')}`).join(' ')}`,
  )
  const fleetBlock = fleets.length > 0 ? `${fleets.join('\n')}\n` : ''
  const rows = page.runs.map((r) => [
    r.execution_id,
    r.fleet_id === undefined ? r.chain_id : `${r.chain_id} (fleet ${r.fleet_id.slice(0, 8)})`,
    r.status,
    r.started_at.replace('T', ' ').slice(0, 19),
    r.duration_ms === null ? '-' : formatMs(r.duration_ms),
    r.devices.map((d) => `${d.name}:${d.status}`).join(' '),
  ])
  const footer = page.total === 0 ? 'no runs match' : `page ${page.page} of ${page.pages} (${page.total} run${page.total === 1 ? '' : 's'})`
  if (!tty) return fleetBlock + [...rows.map((r) => r.join('  ')), footer].join('\n')
  const {default: Table} = await import('cli-table3')
  const table = new Table({head: ['run', 'stack', 'status', 'started (UTC)', 'duration', 'devices'], style: {head: [], border: []}})
  table.push(...rows)
  return `${fleetBlock}${table.toString()}\n${footer}`
}

export interface ShowResult {
  /** A fleet's result when the id is a fleet's (docs/fleets.md). */
  result: ChainExecutionResult | FleetExecutionResult | undefined
  tree: TreeNode
  verify: VerifyResult | undefined
}

/**
 * One run: its result (if finished), its operation-run tree, and optionally the hash chain check.
 * @throws InputError (exit 2) for an unknown run id
 */
export async function showCommand(opts: {stateDir: string; runId: string; verify: boolean}): Promise<ShowResult> {
  const journal = await openJournal(opts.stateDir)
  try {
    const fleet = journal.fleet(opts.runId)
    if (fleet) return showFleet(journal, fleet, opts.verify)
    const tree = runTree(journal, opts.runId)
    const result = tree.status === 'running' ? undefined : journal.buildResult(opts.runId)
    return {result, tree, verify: opts.verify ? journal.verify(opts.runId) : undefined}
  } finally {
    journal.close()
  }
}

/** A fleet: its result, its tree (fleet → stack runs → devices → steps), and the hash chain check of its stack runs. */
function showFleet(journal: Journal, fleet: FleetRecord, verify: boolean): ShowResult {
  const started = fleet.stacks.filter((s) => s.run_status !== null)
  const children = fleet.stacks.map((s): TreeNode =>
    s.run_status === null
      ? {id: s.run_id, kind: 'run', name: `${s.stack} (${s.state === 'pending' ? 'not started yet' : `not started: ${s.reason ?? ''}`})`, device: null, status: 'not_started', started_at: null, finished_at: null, duration_ms: null, seq: null, gates: [], children: []}
      : journal.tree(s.run_id),
  )
  const tree: TreeNode = {id: fleet.id, kind: 'fleet', name: 'fleet', device: null, status: fleet.status, started_at: fleet.started_at, finished_at: fleet.finished_at, duration_ms: fleet.duration_ms, seq: null, gates: [], children}
  let checked: VerifyResult | undefined
  if (verify) {
    checked = {ok: true, events: 0, head: ''}
    for (const s of started) {
      const v = journal.verify(s.run_id)
      if (!v.ok) {
        checked = v
        break
      }
      checked = {ok: true, events: checked.ok ? checked.events + v.events : v.events, head: v.head}
    }
  }
  return {result: fleet.status === 'running' ? undefined : fleetResultFromJournal(journal, fleet), tree, verify: checked}
}

/**
 * A run's operation-run tree.
 * @throws InputError (exit 2, code NO_SUCH_RUN) when the journal has no such run
 */
export function runTree(journal: Journal, runId: string): TreeNode {
  try {
    const tree = journal.tree(runId)
    if (tree.kind === 'run') return tree
  } catch (error) {
    if ((error as {code?: string}).code !== 'UNKNOWN_RUN') throw error
  }
  throw new InputError(`no run ${runId} in ${journal.file}`, {code: 'NO_SUCH_RUN', hint: 'chainup history lists the runs (use the same --state-dir)'})
}

/**
 * Draws the operation-run hierarchy (run → device → step) with statuses, each node's own duration (`formatMs`; none
 * while it runs) and the gate decisions, one line each. Under a node its children and gates come in the order they
 * happened ({@link treeTimeline}): a device's gates after the steps they judged, the run's `before` gates ahead of
 * the devices and its `final` gates after them.
 */
export function formatTree(node: TreeNode): string {
  const lines: string[] = []
  const label = (n: TreeNode) => `${n.kind === 'run' ? `run ${n.id} ${n.name}` : n.kind === 'fleet' ? `fleet ${n.id}` : n.name} ${n.status}${n.duration_ms === null ? '' : ` ${formatMs(n.duration_ms)}`}`
  const walk = (n: TreeNode, prefix: string, last: boolean, root: boolean) => {
    lines.push(root ? label(n) : `${prefix}${last ? '└─ ' : '├─ '}${label(n)}`)
    const inner = root ? '' : prefix + (last ? '   ' : '│  ')
    const items = treeTimeline(n)
    items.forEach((item, i) => {
      const isLast = i === items.length - 1
      if (item.kind === 'gate') lines.push(`${inner}${isLast ? '└─ ' : '├─ '}gate ${item.gate.type} "${item.gate.name}": ${item.gate.decision} - ${item.gate.reason}`)
      else walk(item.node, inner, isLast, false)
    })
  }
  walk(node, '', true, true)
  return lines.join('\n')
}

/** One line for `--verify`. */
export function formatVerify(v: VerifyResult): string {
  return v.ok
    ? `journal verified: ${v.events} events, hash chain intact, head ${v.head}`
    : `journal TAMPERED: first bad row in ${v.table}${v.firstBadSeq === null ? '' : ` (event seq ${v.firstBadSeq})`}: ${v.reason}`
}
