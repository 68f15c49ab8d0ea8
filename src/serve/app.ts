/**
 * `chainup serve`'s HTTP application (Fastify 5, zod type provider): DEC-002's API over the same runs, journal and
 * plans as the CLI (docs/api.md), the live NOC page (`web/`), Prometheus metrics, and the OpenAPI 3.1 document
 * generated from the route schemas.
 *
 * Status codes (docs/api.md): 200 completed · 202 accepted (RFC 7240 `Prefer: respond-async`) · 400 bad input ·
 * 401 no or unknown token · 403 the token's role may not · 404 unknown run or inventory · 409 `GATE_VETO` (with the
 * result), `CANCELLED`, `OUTSIDE_WINDOW`, `NOT_RUNNING` · 422 `CHAIN_FAILED` (with the result) · 423 `STACK_LOCKED`.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {Writable} from 'node:stream'

import fastifySwagger from '@fastify/swagger'
import Fastify, {type FastifyInstance, type FastifyReply, type FastifyRequest} from 'fastify'
import {hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider} from 'fastify-type-provider-zod'
import {z} from 'zod'

import {historyCommand, runTree, showCommand} from '../cli/history.js'
import {planCommand} from '../cli/plan.js'
import {loadStack} from '../config/load.js'
import {ChainupError, InputError} from '../errors.js'
import type {Journal} from '../journal/journal.js'
import type {ChainExecutionResult, FleetExecutionResult} from '../model/result.js'
import type {RunStatus} from '../model/status.js'
import {StackLockedError} from '../run/upgrade.js'
import {allows, bearerToken, type Caller, type Role, type TokenTable} from './auth.js'
import {listInventories, resolveInventory} from './inventories.js'
import {ServeMetrics} from './metrics.js'
import {RunRegistry, type RequestInfo, type Started} from './runs.js'
import {
  AcceptedSchema,
  ChainExecutionResultSchema,
  CouncilBody,
  ErrorSchema,
  ExecuteBody,
  FleetExecutionResultSchema,
  HistoryPageSchema,
  HistoryQuerySchema,
  IdParams,
  PlanSchema,
  RunningSchema,
  TreeSchema,
} from './schemas.js'
import {streamEvents} from './sse.js'

export interface AppOptions {
  /** The state directory: journal and result files, as `chainup upgrade --state-dir`. */
  stateDir: string
  /** The only directory inventories are run from (by name). */
  inventoriesDir: string
  /** Bearer tokens; null = no auth (only allowed on loopback: every caller is `local`, an operator). */
  tokens: TokenTable | null
  /** Start the simulated switches of each run's inventory (`--lab`). */
  lab: boolean
  /** The server's journal connection (reads, `apiRequest` events). */
  journal: Journal
  /** Where runs write their progress lines. @default a sink */
  log?: Writable
  /** How often an SSE stream looks at the journal when nothing woke it, ms (runs of other processes). @default 1000 */
  ssePollMs?: number
  /** SSE keep-alive comment interval, ms. @default 15000 */
  sseHeartbeatMs?: number
  /** Serve HTTPS with this certificate and key (PEM). */
  https?: {cert: Buffer; key: Buffer}
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller
  }
  interface FastifyContextConfig {
    /** The role a route needs; absent = public (the page, its assets, the OpenAPI document). */
    role?: Role
  }
}

const VERSION = '0.1.0'

/** The directory the page is served from: `web/` at the package root (from src/serve or dist/src/serve). */
export function webDir(): string {
  for (const up of ['../..', '../../..']) {
    const dir = join(import.meta.dirname, up, 'web')
    if (existsSync(join(dir, 'index.html'))) return dir
  }
  throw new Error(`web/index.html not found above ${import.meta.dirname}`)
}

const ASSETS: Record<string, string> = {'/': 'index.html', '/app.js': 'app.js', '/style.css': 'style.css'}
const TYPES: Record<string, string> = {html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8'}

/** The application, its run registry and metrics; call `app.close()` to stop (live runs are killed first). */
export async function buildApp(opts: AppOptions): Promise<{app: FastifyInstance; runs: RunRegistry; metrics: ServeMetrics}> {
  const journal = opts.journal
  const metrics = new ServeMetrics(() => countRuns(journal))
  const runs = new RunRegistry({stateDir: opts.stateDir, lab: opts.lab, log: opts.log ?? new Writable({write: (_c, _e, cb) => cb()}), metrics, journal})
  const base = opts.https ? Fastify({logger: false, bodyLimit: 64 * 1024, forceCloseConnections: true, https: {...opts.https, minVersion: 'TLSv1.2'}}) : Fastify({logger: false, bodyLimit: 64 * 1024, forceCloseConnections: true})
  const app = (base as FastifyInstance).withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {title: 'chainup', version: VERSION, description: "DEC-002's chain execution API over chainup's journal (docs/api.md)"},
      components: {securitySchemes: {bearer: {type: 'http', scheme: 'bearer', description: 'a token of the --tokens file (docs/api.md "Auth")'}}},
      security: [{bearer: []}],
    },
    transform: jsonSchemaTransform,
    hideUntagged: false,
  })
  const web = webDir()
  const assets = new Map(Object.entries(ASSETS).map(([path, file]) => [path, {body: readFileSync(join(web, file)), type: TYPES[file.split('.').pop() as string] as string}]))

  app.addHook('onRequest', async (req, reply) => {
    const needed = req.routeOptions.config.role
    if (needed === undefined) return
    if (opts.tokens === null) {
      req.caller = {name: 'local', role: 'operator'}
      return
    }
    const token = bearerToken(req.headers.authorization)
    const caller = token === null ? null : opts.tokens.lookup(token)
    if (caller === null) {
      return reply
        .code(401)
        .header('www-authenticate', `Bearer realm="chainup"${token === null ? '' : ', error="invalid_token"'}`)
        .send({code: 'UNAUTHORIZED', message: token === null ? 'a bearer token is required' : 'unknown token'})
    }
    if (!allows(caller.role, needed)) return reply.code(403).send({code: 'FORBIDDEN', message: `token "${caller.name}" is a ${caller.role}; this needs an ${needed}`})
    req.caller = caller
  })

  app.setErrorHandler((error, _req, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const problems = error.validation.map((v) => `${v.instancePath || '/'}: ${v.message ?? 'invalid'}`)
      return reply.code(400).send({code: 'BAD_REQUEST', message: `invalid request: ${problems.join('; ')}`, problems})
    }
    const e = error as Error & {statusCode?: number}
    if (e.statusCode !== undefined && e.statusCode < 500) return reply.code(e.statusCode).send({code: 'BAD_REQUEST', message: e.message})
    return sendError(reply, error)
  })
  app.setNotFoundHandler((req, reply) => reply.code(404).send({code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}`}))

  // --- the page and the API description (public) ---
  for (const [path, asset] of assets) {
    app.get(path, {schema: {hide: true}}, (_req, reply) => reply.type(asset.type).header('cache-control', 'no-cache').header('content-security-policy', "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:").send(asset.body))
  }
  app.get('/v1/openapi.json', {schema: {hide: true}}, () => app.swagger())

  const errors = {400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema}
  const viewer = {role: 'viewer' as const}
  const operator = {role: 'operator' as const}

  app.get('/metrics', {config: viewer, schema: {summary: 'Prometheus metrics (text format 0.0.4)', tags: ['metrics'], response: {200: z.string(), 401: ErrorSchema, 403: ErrorSchema}}}, async (_req, reply) => {
    const {contentType, body} = await metrics.scrape()
    return reply.type(contentType).serializer((x: unknown) => x as string).send(body)
  })

  app.get('/v1/inventories', {config: viewer, schema: {summary: 'The inventories this server runs, by name', tags: ['inventories'], response: {200: z.object({inventories: z.array(z.string())}), 401: ErrorSchema, 403: ErrorSchema}}}, () => ({
    inventories: listInventories(opts.inventoriesDir),
  }))

  // --- DEC-002: execute a chain, a council ---
  app.post(
    '/v1/chains/execute',
    {
      config: operator,
      schema: {
        summary: 'Upgrade one stack (DEC-002 execute_chain): synchronous, or RFC 7240 respond-async',
        description: '200 completed, 409 GATE_VETO/CANCELLED/OUTSIDE_WINDOW, 422 CHAIN_FAILED (with the result), 400 bad input (FILE:LINE:COL problems), 423 STACK_LOCKED; `Prefer: respond-async` answers 202 with Location once the run is journaled. `dry_run: true` answers the plan (plan --check).',
        tags: ['chains'],
        body: ExecuteBody,
        headers: z.looseObject({prefer: z.string().optional().describe('respond-async (RFC 7240)')}),
        response: {200: z.union([ChainExecutionResultSchema, PlanSchema]), 202: AcceptedSchema, ...errors, 409: ErrorSchema, 422: z.union([ErrorSchema, PlanSchema]), 423: ErrorSchema},
      },
    },
    async (req, reply) => {
      const path = resolveInventory(opts.inventoriesDir, req.body.inventory)
      if (req.body.dry_run) {
        const {plan, exitCode} = await planCommand({inventoryPath: path, check: true, lab: opts.lab, json: true, stateDir: opts.stateDir, stdout: sink(), stderr: opts.log ?? sink()})
        return reply.code(exitCode === 0 ? 200 : 422).send(plan as never)
      }
      await refuseLocked([path])
      return answer(req, reply, runs.startChain(path, requestInfo(req)))
    },
  )

  app.post(
    '/v1/councils/execute',
    {
      config: operator,
      schema: {
        summary: "Upgrade several stacks as DEC-002's council (a fleet, docs/fleets.md): a veto halts it, a failure does not",
        tags: ['councils'],
        body: CouncilBody,
        headers: z.looseObject({prefer: z.string().optional()}),
        response: {200: FleetExecutionResultSchema, 202: AcceptedSchema, ...errors, 409: ErrorSchema, 422: ErrorSchema, 423: ErrorSchema},
      },
    },
    async (req, reply) => {
      const paths = req.body.inventories.map((name) => resolveInventory(opts.inventoriesDir, name))
      if (opts.lab) await refuseLocked(paths)
      return answer(req, reply, runs.startFleet(paths, {...(req.body.concurrency === undefined ? {} : {concurrency: req.body.concurrency}), ...(req.body.max_failed === undefined ? {} : {maxFailed: req.body.max_failed})}, requestInfo(req)))
    },
  )

  // --- history, executions ---
  const historyRoute = async (req: FastifyRequest, query: z.output<typeof HistoryQuerySchema>, stack: string | undefined) => {
    const interrupted = query.status === 'interrupted'
    const status: RunStatus | undefined = query.status === 'interrupted' ? 'running' : query.status
    const base = {stateDir: opts.stateDir, ...(stack === undefined ? {} : {stack}), ...(status === undefined ? {} : {status})}
    let page
    if (interrupted) {
      // Interrupted runs are running runs no process runs: filter all running ones, then page.
      const all = await historyCommand({...base, limit: 1000, page: 1})
      const runsOut = all.runs.filter((r) => isInterrupted(r.execution_id, r.chain_id))
      const total = runsOut.length
      page = {runs: runsOut.slice((query.page - 1) * query.limit, query.page * query.limit), total, page: query.page, pages: Math.ceil(total / query.limit)}
    } else {
      page = await historyCommand({...base, limit: query.limit, page: query.page})
    }
    const path = req.url.split('?')[0] as string
    const link = (p: number) => `${path}?${new URLSearchParams({...(query.status ? {status: query.status} : {}), ...(query.stack && stack === undefined ? {stack: query.stack} : {}), page: String(p), limit: String(query.limit)}).toString()}`
    return {
      runs: page.runs.map((r) => ({...r, interrupted: r.status === 'running' && isInterrupted(r.execution_id, r.chain_id)})),
      total: page.total,
      page: page.page,
      pages: page.pages,
      limit: query.limit,
      links: {
        self: link(query.page),
        first: link(1),
        last: link(Math.max(page.pages, 1)),
        ...(query.page < page.pages ? {next: link(query.page + 1)} : {}),
        ...(query.page > 1 ? {prev: link(Math.min(query.page - 1, Math.max(page.pages, 1)))} : {}),
      },
    }
  }
  const historySchema = {tags: ['history'], querystring: HistoryQuerySchema, response: {200: HistoryPageSchema, ...errors}}
  app.get('/v1/history', {config: viewer, schema: {summary: 'Runs of every stack, newest first (DEC-002 history)', ...historySchema}}, (req) => historyRoute(req, req.query, req.query.stack))
  app.get(
    '/v1/chains/:stack/history',
    {config: viewer, schema: {summary: "One stack's runs, newest first (DEC-002 GET /v1/chains/{id}/history)", ...historySchema, params: z.strictObject({stack: z.string().min(1).max(128)})}},
    (req) => historyRoute(req, req.query, req.params.stack),
  )

  app.get(
    '/v1/executions/:id',
    {config: viewer, schema: {summary: 'A run or fleet: its result once finished, else that it runs', tags: ['executions'], params: IdParams, response: {200: z.union([ChainExecutionResultSchema, FleetExecutionResultSchema, RunningSchema]), ...errors}}},
    async (req) => {
      const shown = await show(req.params.id)
      if (shown.result) return shown.result
      return {execution_id: req.params.id, kind: shown.tree.kind === 'fleet' ? ('fleet' as const) : ('run' as const), status: 'running' as const, live: runs.get(req.params.id) !== undefined, interrupted: shown.tree.kind === 'run' && isInterrupted(req.params.id, shown.tree.name)}
    },
  )
  app.get('/v1/executions/:id/tree', {config: viewer, schema: {summary: 'The operation-run tree (chainup show --tree --json)', tags: ['executions'], params: IdParams, response: {200: TreeSchema, ...errors}}}, async (req) => (await show(req.params.id)).tree as never)

  app.get(
    '/v1/executions/:id/events',
    {
      config: viewer,
      schema: {
        summary: "A run's journal events as Server-Sent Events: replayed from the journal, then live; resumable with Last-Event-ID (= the event's journal seq)",
        tags: ['executions'],
        params: IdParams,
        querystring: z.strictObject({last_event_id: z.coerce.number().int().min(0).optional().describe('as the Last-Event-ID header')}),
        headers: z.looseObject({'last-event-id': z.string().optional()}),
        response: {200: z.string().describe('text/event-stream'), ...errors},
      },
    },
    async (req, reply) => {
      const id = req.params.id
      runTree(journal, id) // 404 for an unknown run before the stream starts
      const header = Number(req.headers['last-event-id'])
      const after = Number.isInteger(header) && header >= 0 ? header : (req.query.last_event_id ?? 0)
      await streamEvents(reply, {journal, runId: id, after, registry: runs, pollMs: opts.ssePollMs ?? 1000, heartbeatMs: opts.sseHeartbeatMs ?? 15_000})
    },
  )

  app.post(
    '/v1/executions/:id/cancel',
    {
      config: operator,
      schema: {
        summary: 'Cancel a run this server runs: the device in progress finishes, then it stops (`now=true`: at once); a stack of a fleet cancels the fleet',
        tags: ['executions'],
        params: IdParams,
        querystring: z.strictObject({now: z.enum(['true', 'false']).optional()}),
        response: {202: z.object({execution_id: z.string(), status: z.literal('cancelling'), links: z.object({self: z.string()})}), ...errors, 409: ErrorSchema},
      },
    },
    async (req, reply) => {
      const {id} = req.params
      const live = runs.get(id)
      if (!live) {
        await show(id) // 404 when unknown
        return reply.code(409).send({code: 'NOT_RUNNING', message: `${id} is not running in this server`, hint: 'GET /v1/history?status=interrupted lists runs that POST …/resume continues'})
      }
      journalRequest(journal, live.kind === 'run' ? id : undefined, requestInfo(req))
      runs.cancel(id, req.query.now === 'true')
      return reply.code(202).send({execution_id: id, status: 'cancelling' as const, links: {self: `/v1/executions/${id}`}})
    },
  )

  app.post(
    '/v1/executions/:id/resume',
    {
      config: operator,
      schema: {
        summary: 'Resume an interrupted, cancelled or parked run (chainup resume), or a fleet; answers as execute does',
        tags: ['executions'],
        params: IdParams,
        headers: z.looseObject({prefer: z.string().optional()}),
        response: {200: z.union([ChainExecutionResultSchema, FleetExecutionResultSchema]), 202: AcceptedSchema, ...errors, 409: ErrorSchema, 422: ErrorSchema, 423: ErrorSchema},
      },
    },
    async (req, reply) => {
      const {id} = req.params
      if (runs.get(id)) return reply.code(409).send({code: 'ALREADY_RUNNING', message: `${id} is running in this server`})
      const shown = await show(id)
      if (shown.tree.kind === 'fleet') return answer(req, reply, runs.resumeFleet(id, requestInfo(req)) as Started<FleetExecutionResult>)
      return answer(req, reply, runs.resumeChain(id, requestInfo(req)))
    },
  )

  app.get(
    '/v1/plan/:inventory',
    {
      config: viewer,
      schema: {
        summary: 'chainup plan INVENTORY [--check] (docs/plan.md); check=true contacts every device read-only and needs an operator',
        tags: ['plan'],
        params: z.strictObject({inventory: z.string().min(1).max(128)}),
        querystring: z.strictObject({check: z.enum(['true', 'false']).optional()}),
        response: {200: PlanSchema, ...errors, 422: PlanSchema},
      },
    },
    async (req, reply) => {
      const check = req.query.check === 'true'
      if (check && !allows(req.caller.role, 'operator')) return reply.code(403).send({code: 'FORBIDDEN', message: `token "${req.caller.name}" is a viewer; check=true contacts devices and needs an operator`})
      const path = resolveInventory(opts.inventoriesDir, req.params.inventory)
      const {plan, exitCode} = await planCommand({inventoryPath: path, check, lab: opts.lab && check, json: true, stateDir: opts.stateDir, stdout: sink(), stderr: opts.log ?? sink()})
      return reply.code(exitCode === 0 ? 200 : 422).send(plan as never)
    },
  )

  app.addHook('preClose', async () => {
    await runs.stopAll()
  })

  /** A run with status running that no process runs: not live here, and its stack's lock is not held by a live process for it. */
  function isInterrupted(runId: string, stack: string): boolean {
    if (runs.get(runId)) return false
    const holder = journal.lockHolder(stack)
    return !(holder && holder.runId === runId && holder.liveness !== 'gone')
  }

  /**
   * 423 before anything starts when a live run holds one of the stacks (the run itself checks again under its lock;
   * this answers before `--lab` would try to bind the simulators' ports a second time).
   * @throws InputError (400) for a bad inventory; StackLockedError (423)
   */
  async function refuseLocked(paths: string[]): Promise<void> {
    for (const path of paths) {
      const {inventory} = await loadStack(path)
      const holder = journal.lockHolder(inventory.stack)
      if (holder && holder.liveness === 'running') throw new StackLockedError(inventory.stack, holder)
    }
  }

  async function show(id: string) {
    return showCommand({stateDir: opts.stateDir, runId: id, verify: false})
  }

  return {app, runs, metrics}
}

function sink(): Writable {
  return new Writable({write: (_c, _e, cb) => cb()})
}

function requestInfo(req: FastifyRequest): RequestInfo {
  return {caller: req.caller, method: req.method, path: req.url.split('?')[0] as string}
}

/** Journals a request that changes a run (cancel) on it. */
function journalRequest(journal: Journal, runId: string | undefined, info: RequestInfo): void {
  if (runId === undefined) return
  try {
    journal.appendEvent(runId, {type: 'apiRequest', data: {caller: info.caller.name, role: info.caller.role, method: info.method, path: info.path}})
  } catch {
    // the run may just have finished; the cancel itself still applies
  }
}

/** RFC 7240 §4.1: does the request prefer an asynchronous answer? */
function prefersAsync(req: FastifyRequest): boolean {
  const prefer = req.headers.prefer
  const values = (Array.isArray(prefer) ? prefer.join(',') : (prefer ?? '')).split(',').map((p) => p.split(';')[0]?.trim().toLowerCase())
  return values.includes('respond-async')
}

/** Answers a started run: 202 with Location (respond-async) once it is journaled, else its result with DEC-002's status code. */
async function answer<T extends ChainExecutionResult | FleetExecutionResult>(req: FastifyRequest, reply: FastifyReply, started: Started<T>): Promise<FastifyReply> {
  try {
    if (prefersAsync(req)) {
      const id = await started.id
      const self = `/v1/executions/${id}`
      return reply
        .code(202)
        .header('location', self)
        .header('preference-applied', 'respond-async')
        .send({execution_id: id, status: 'running' as const, links: {self, events: `${self}/events`, tree: `${self}/tree`, cancel: `${self}/cancel`}})
    }
    const {result} = await started.done
    return sendResult(reply, result)
  } catch (error) {
    return sendError(reply, error)
  }
}

/** DEC-002's status codes for a finished run. */
export function sendResult(reply: FastifyReply, result: ChainExecutionResult | FleetExecutionResult): FastifyReply {
  switch (result.status) {
    case 'completed':
      return reply.code(200).send(result)
    case 'vetoed':
      return reply.code(409).send({code: 'GATE_VETO', message: result.reason ?? 'a gate vetoed', result})
    case 'failed':
      return reply.code(422).send({code: 'CHAIN_FAILED', message: result.reason ?? 'the chain failed', result})
    case 'cancelled':
      return reply.code(409).send({code: 'CANCELLED', message: result.reason ?? 'cancelled', result})
  }
}

const CODE_STATUS: Record<string, number> = {
  STACK_LOCKED: 423,
  OUTSIDE_WINDOW: 409,
  NO_SUCH_RUN: 404,
  NO_SUCH_INVENTORY: 404,
  UNKNOWN_RUN: 404,
}

/** A refused request: a ChainupError's code picks the status (input errors 400), anything else is a 500. */
export function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  if (error instanceof ChainupError) {
    const status = CODE_STATUS[error.code] ?? (error instanceof InputError ? 400 : 500)
    return reply.code(status).send({
      code: error.code,
      message: error.message,
      ...(error.hint ? {hint: error.hint} : {}),
      ...(error instanceof InputError && error.problems.length > 0 ? {problems: [...error.problems]} : {}),
    })
  }
  return reply.code(500).send({code: 'INTERNAL', message: (error as Error).message})
}

/** Runs in the journal by status (`chainup_runs`). */
function countRuns(journal: Journal): Partial<Record<RunStatus, number>> {
  const out: Partial<Record<RunStatus, number>> = {}
  for (const status of ['running', 'completed', 'failed', 'vetoed', 'cancelled'] as const) out[status] = journal.history({status, limit: 1}).total
  return out
}

