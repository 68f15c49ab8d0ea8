/**
 * The API's request and response schemas (zod 4): Fastify validates requests with them and serializes responses
 * through them (fastify-type-provider-zod), and `GET /v1/openapi.json` is generated from them (OpenAPI 3.1). The
 * result shapes mirror src/model/result.ts (DEC-002's ChainExecutionResult, chainup's FleetExecutionResult); the
 * compile-time checks at the end keep the two from drifting apart.
 */
import {z} from 'zod'

import type {HistoryEntry} from '../journal/types.js'
import type {ChainExecutionResult, FleetExecutionResult} from '../model/result.js'

const iso = z.string().describe('ISO 8601 UTC')
const status = z.enum(['completed', 'failed', 'vetoed', 'cancelled']).describe('DEC-002 ChainStatus (plus cancelled, seed 001 §6.1)')
const runStatus = z.enum(['running', 'completed', 'failed', 'vetoed', 'cancelled'])
const deviceStatus = z.enum(['pending', 'running', 'upgraded', 'skipped', 'failed', 'not_started', 'cancelled', 'remote', 'rolling_back', 'rolled_back', 'rollback_failed'])

export const GateEvaluationSchema = z
  .object({
    type: z.enum(['before', 'after', 'on_error', 'final']),
    name: z.string(),
    device: z.string().nullable().describe('null for stack-wide gates'),
    decision: z.enum(['allow', 'veto']),
    reason: z.string(),
  })
  .meta({id: 'GateEvaluation', description: 'DEC-002 GateEvaluation'})

export const StepExecutionSchema = z
  .object({
    order: z.int().describe('1-based, in the order steps started across the run'),
    device: z.string(),
    action: z.string(),
    status: z.enum(['completed', 'failed', 'skipped', 'cancelled']),
    output: z.string().nullable(),
    error: z.string().nullable(),
    phase: z.enum(['readiness', 'upgrade', 'reboot', 'rollback']),
    command: z.string().nullable(),
    started_at: iso,
    duration_ms: z.number().describe('ms'),
  })
  .meta({id: 'StepExecution', description: 'DEC-002 StepExecution (sprite_id is the device)'})

export const ChainExecutionResultSchema = z
  .object({
    execution_id: z.string().describe('the run UUID, also the ChainSync ROUND-ID'),
    chain_id: z.string().describe('the stack name'),
    status,
    started_at: iso,
    completed_at: iso,
    duration_ms: z.number().describe('ms'),
    steps: z.array(StepExecutionSchema),
    gates: z.array(GateEvaluationSchema),
    reason: z.string().nullable().describe('why the run did not complete'),
    devices: z.array(z.object({name: z.string(), status: deviceStatus.exclude(['pending', 'running']), version_before: z.string().nullable(), version_after: z.string().nullable()})),
    traps: z.array(z.object({kind: z.string(), reporter: z.string().nullable().describe('the device, or null for the run as a whole'), reason: z.string(), receivers: z.array(z.object({target: z.string(), ok: z.boolean(), error: z.string().exactOptional()}))})),
  })
  .meta({id: 'ChainExecutionResult', description: "DEC-002 ChainExecutionResult with chainup's additions (docs/result.md)"})

export const FleetExecutionResultSchema = z
  .object({
    execution_id: z.string(),
    status,
    started_at: iso,
    completed_at: iso,
    duration_ms: z.number(),
    reason: z.string().nullable(),
    stacks: z.array(ChainExecutionResultSchema),
    not_started: z.array(z.object({chain_id: z.string(), inventory: z.string(), execution_id: z.string(), reason: z.string()})),
  })
  .meta({id: 'FleetExecutionResult', description: "DEC-002's council of chains (docs/fleets.md)"})

export const ErrorSchema = z
  .object({
    code: z.string().describe('GATE_VETO, CHAIN_FAILED, CANCELLED, INPUT_INVALID (or the loader code), STACK_LOCKED, OUTSIDE_WINDOW, UNAUTHORIZED, FORBIDDEN, NOT_FOUND …'),
    message: z.string(),
    hint: z.string().optional(),
    problems: z.array(z.string()).optional().describe('FILE:LINE:COL PATH: MESSAGE, as chainup validate prints them'),
    result: z.union([ChainExecutionResultSchema, FleetExecutionResultSchema]).optional().describe('the result of the run that ended so'),
  })
  .meta({id: 'Error'})

export const AcceptedSchema = z
  .object({
    execution_id: z.string(),
    status: z.literal('running'),
    links: z.object({self: z.string(), events: z.string(), tree: z.string(), cancel: z.string()}),
  })
  .meta({id: 'Accepted', description: 'RFC 7240 respond-async: the run goes on; Location names it'})

export const ExecuteBody = z.strictObject({
  inventory: z.string().min(1).max(128).describe('an inventory name under --inventories (with or without .yml)'),
  dry_run: z.boolean().optional().describe('plan --check instead: read-only, nothing upgraded (docs/plan.md)'),
})

export const CouncilBody = z.strictObject({
  inventories: z.array(z.string().min(1).max(128)).min(1).max(100).describe('inventory names, in start order'),
  concurrency: z.int().min(1).max(100).optional().describe('stacks at once (default 1)'),
  max_failed: z.int().min(1).optional().describe('failed stacks that stop the council (default: no limit)'),
})

export const HistoryQuerySchema = z.strictObject({
  status: z.enum(['running', 'completed', 'failed', 'vetoed', 'cancelled', 'interrupted']).optional().describe('interrupted: running in the journal, but no process runs it any more'),
  page: z.coerce.number().int().min(1).default(1),
  limit: z.coerce.number().int().min(1).max(1000).default(20),
  stack: z.string().max(128).optional(),
})

export const HistoryEntrySchema = z
  .object({
    execution_id: z.string(),
    chain_id: z.string(),
    status: runStatus,
    started_at: iso,
    completed_at: iso.nullable(),
    duration_ms: z.number().nullable(),
    devices: z.array(z.object({name: z.string(), status: deviceStatus})),
    interrupted: z.boolean().describe('running in the journal, but no process runs it: POST …/resume continues it'),
    fleet_id: z.string().optional(),
  })
  .meta({id: 'HistoryEntry'})

export const HistoryPageSchema = z
  .object({
    runs: z.array(HistoryEntrySchema),
    total: z.int(),
    page: z.int(),
    pages: z.int(),
    limit: z.int(),
    links: z.object({self: z.string(), first: z.string(), last: z.string(), next: z.string().optional(), prev: z.string().optional()}),
  })
  .meta({id: 'HistoryPage', description: 'DEC-002 history: newest first, filtered by status, paginated'})

export const RunningSchema = z
  .object({
    execution_id: z.string(),
    kind: z.enum(['run', 'fleet']),
    status: z.literal('running'),
    live: z.boolean().describe('this server runs it now'),
    interrupted: z.boolean().describe('no process runs it: POST …/resume continues it'),
  })
  .meta({id: 'Running'})

export const TreeSchema = z.looseObject({id: z.string(), kind: z.string(), name: z.string(), status: z.string(), children: z.array(z.unknown())}).meta({id: 'TreeNode', description: 'the operation-run tree (chainup show --tree --json)'})

export const PlanSchema = z.looseObject({}).meta({id: 'Plan', description: 'chainup plan --json (docs/plan.md)'})

export const IdParams = z.strictObject({id: z.string().min(1).max(64)})

// Compile-time: the schemas produce the model's shapes.
const _chain = (x: z.output<typeof ChainExecutionResultSchema>): ChainExecutionResult => x
const _chainBack = (x: ChainExecutionResult): z.input<typeof ChainExecutionResultSchema> => x
const _fleet = (x: FleetExecutionResult): z.input<typeof FleetExecutionResultSchema> => x
const _history = (x: HistoryEntry): Omit<z.input<typeof HistoryEntrySchema>, 'interrupted'> => x
void _chain
void _chainBack
void _fleet
void _history
