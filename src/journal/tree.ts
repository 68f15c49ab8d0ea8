/**
 * A run's operation-run hierarchy as `chainup show RUN_ID --tree` draws it: run → devices (chain order) → steps
 * (start order), each with its status, timestamps and duration, and the gates recorded against it.
 */
import type {OperationRunStatus} from '../model/status.js'
import {durationMs, gateOut, type OperationRunRow} from './rows.js'
import type {JournalStore} from './store.js'
import type {TreeNode} from './types.js'

/** `Journal.tree`. @throws JournalError `UNKNOWN_RUN` */
export function tree(s: JournalStore, runId: string): TreeNode {
  const root = s.root(runId)
  const node = (r: OperationRunRow): TreeNode => ({
    id: r.id,
    kind: r.kind,
    name: r.name,
    device: r.device,
    status: r.status as OperationRunStatus,
    started_at: r.started_at,
    finished_at: r.finished_at,
    duration_ms: durationMs(r.started_at, r.finished_at),
    gates: [],
    children: [],
  })
  const rootNode = node(root)
  const byId = new Map<string, TreeNode>([[root.id, rootNode]])
  // devices (kind 'device' sorts before 'step'), each in ord order, so parents exist before their children
  for (const c of s.children(runId)) {
    const n = node(c)
    byId.set(c.id, n)
    byId.get(c.parent_id ?? root.id)?.children.push(n)
  }
  for (const g of s.gates(runId)) byId.get(g.device_run_id ?? root.id)?.gates.push(gateOut(g))
  return rootNode
}
