/**
 * A run's operation-run hierarchy as `chainup show RUN_ID --tree` draws it: run → devices (chain order) → steps
 * (start order), each with its status, timestamps and own duration, the gates recorded against it with when they
 * were decided, and every node's and gate's place in the journal's event sequence, from which
 * {@link treeTimeline} gives the order in which a node's steps (or devices) and gates happened.
 */
import type {OperationRunStatus} from '../model/status.js'
import {JournalEventType} from './projection.js'
import {durationMs, gateOut, type OperationRunRow} from './rows.js'
import type {JournalStore} from './store.js'
import type {TreeGate, TreeItem, TreeNode} from './types.js'

/**
 * `Journal.tree`. The run's and each step's `duration_ms` is `finished_at − started_at`; a device's is its own
 * working time (see `TreeNode.duration_ms`). Seqs come from the run's `journal.run_created`, `journal.step_started`
 * and `journal.gate` events (gate rows and gate events are one to one, in the same order).
 * @throws JournalError `UNKNOWN_RUN`
 */
export function tree(s: JournalStore, runId: string): TreeNode {
  const root = s.root(runId)
  const seqs = (type: string) => s.q(`SELECT operation_run_id AS id, seq FROM events WHERE run_id = ? AND type = ? ORDER BY seq`).all(runId, type) as Array<{id: string; seq: number}>
  const stepSeq = new Map(seqs(JournalEventType.stepStarted).map((e) => [e.id, e.seq]))
  const gateSeqs = seqs(JournalEventType.gate).map((e) => e.seq)
  const node = (r: OperationRunRow, seq: number | null): TreeNode => ({
    id: r.id,
    kind: r.kind,
    name: r.name,
    device: r.device,
    status: r.status as OperationRunStatus,
    started_at: r.started_at,
    finished_at: r.finished_at,
    duration_ms: durationMs(r.started_at, r.finished_at),
    seq,
    gates: [],
    children: [],
  })
  const rootNode = node(root, seqs(JournalEventType.runCreated)[0]?.seq ?? null)
  const byId = new Map<string, TreeNode>([[root.id, rootNode]])
  // devices (kind 'device' sorts before 'step'), each in ord order, so parents exist before their children
  for (const c of s.children(runId)) {
    const n = node(c, c.kind === 'step' ? (stepSeq.get(c.id) ?? null) : null)
    byId.set(c.id, n)
    const parent = byId.get(c.parent_id ?? root.id)
    parent?.children.push(n)
    if (parent?.kind === 'device' && parent.seq === null) parent.seq = n.seq
  }
  s.gates(runId).forEach((g, i) => {
    const gate: TreeGate = {...gateOut(g), at: g.at, seq: gateSeqs[i] ?? Number.MAX_SAFE_INTEGER}
    byId.get(g.device_run_id ?? root.id)?.gates.push(gate)
  })
  for (const device of rootNode.children) {
    if (device.duration_ms !== null) device.duration_ms = workedMs(device)
  }
  return rootNode
}

/**
 * A device's working time in ms: its steps' durations plus each gate's evaluation time (from the end of the step or
 * gate just before it on the device to its decision), in seq order. Gaps between them (its wait for its turn or for
 * the backward wave of a rollback) do not count; a step still running counts nothing.
 */
function workedMs(device: TreeNode): number {
  const items = [
    ...device.children.map((st) => ({seq: st.seq ?? 0, start: st.started_at, end: st.finished_at})),
    ...device.gates.map((g) => ({seq: g.seq, start: null, end: g.at})),
  ].sort((a, b) => a.seq - b.seq)
  let total = 0
  let previousEnd: string | null = null
  for (const item of items) {
    const ms = durationMs(item.start ?? previousEnd, item.end)
    if (ms !== null && ms > 0) total += ms
    previousEnd = item.end
  }
  return total
}

/**
 * A node's children and gates in the order they happened: each gate right after the last child (in list order)
 * that started before it (by seq), gates in evaluation order. Under a device: its steps with its `before`, `after`
 * and `on_error` gates where they were decided. Under the run: its devices in chain order, a stack-wide `before`
 * gate ahead of them, a `final` gate after them. Pure; the node is not changed.
 */
export function treeTimeline(node: TreeNode): TreeItem[] {
  const slot = node.gates.map((g) => {
    let after = 0
    node.children.forEach((c, i) => {
      if (c.seq !== null && c.seq < g.seq) after = i + 1
    })
    return after
  })
  const items: TreeItem[] = []
  for (let i = 0; i <= node.children.length; i++) {
    node.gates.forEach((gate, k) => {
      if (slot[k] === i) items.push({kind: 'gate', gate})
    })
    const child = node.children[i]
    if (child) items.push({kind: 'node', node: child})
  }
  return items
}
