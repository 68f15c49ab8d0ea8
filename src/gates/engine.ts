/**
 * The gate engine (DEC-002 "Gates"): evaluates one gate and returns a binding allow/veto.
 * Three kinds: a local command (exit 0 = allow), a device command whose output must match a pattern, and an HTTP
 * call to another system (`{"decision": "allow"}` = allow; docs/playbook.md "HTTP gates").
 */
import {spawn} from 'node:child_process'
import {createHmac} from 'node:crypto'
import {dirname} from 'node:path'

import {PLACEHOLDER_ENV, PLACEHOLDERS, type ExpandMode} from '../config/template.js'
import type {Gate} from '../config/types.js'
import type {DeviceSession} from '../model/device-session.js'
import type {GateEvaluation, GateType} from '../model/result.js'
import {systemClock, type Clock} from '../util/clock.js'
import {formatMs} from '../util/duration.js'
import {lineAt, printable} from '../util/text.js'

export interface GateContext {
  runId: string
  stack: string
  type: GateType
  /** Device name, or null for stack-wide gates. */
  device: string | null
  /** Playbook file; local commands run in its directory. */
  playbookFile: string
  /** Timeout when the gate gives none, ms. */
  defaultTimeoutMs: number
  /** For device_command gates. */
  session?: DeviceSession
  /**
   * Expands `{{ }}` placeholders: mode `regex` escapes inserted values, `shell` quotes them for `/bin/sh` (a command
   * gate's `run:` line), `text` inserts them as they are (a device command). Throws for a placeholder without a value.
   */
  expand: (text: string, mode: ExpandMode) => string
  /** Environment variable names that must not reach a gate (secrets). */
  hiddenEnv?: readonly string[]
  /**
   * Extra environment for local command gates (e.g. `CHAINUP_ERROR` for on_error gates). Its values are made
   * printable (control characters escaped) before they reach the gate.
   */
  extraEnv?: Record<string, string>
  signal?: AbortSignal
  /** Times the gate's timeout. @default systemClock */
  clock?: Clock
}

/**
 * Evaluates one gate. Never throws: every problem (timeout, spawn failure, lost session) is a veto with its reason.
 * Local command gates run `/bin/sh -c` with the placeholders of `run:` shell-quoted, and get `CHAINUP_RUN_ID`,
 * `CHAINUP_STACK`, `CHAINUP_DEVICE` (empty for stack gates), `CHAINUP_GATE` (the type), and every other placeholder's
 * value ({@link placeholderEnv}).
 */
export async function evaluateGate(gate: Gate, ctx: GateContext): Promise<GateEvaluation> {
  const timeoutMs = gate.timeout ?? ctx.defaultTimeoutMs
  const base = {type: ctx.type, name: gate.name, device: ctx.device}
  try {
    const verdict =
      gate.kind === 'command'
        ? await runCommandGate(gate.run, ctx, timeoutMs)
        : gate.kind === 'http'
          ? await runHttpGate(gate, ctx, gate.http.timeout ?? timeoutMs)
          : await runDeviceGate(gate, ctx, timeoutMs)
    return {...base, ...verdict}
  } catch (error) {
    return {...base, decision: 'veto', reason: `gate could not be evaluated: ${(error as Error).message}`}
  }
}

/**
 * Every placeholder's value as the variable docs/playbook.md names (`CHAINUP_TARGET_VERSION`, `CHAINUP_PREVIOUS_VERSION`,
 * ...; {@link PLACEHOLDER_ENV}), taken from `expand` itself so that a variable always holds exactly what its
 * placeholder stands for; empty when the value is not known (`{{ previous.* }}` in a stack-wide gate).
 */
export function placeholderEnv(expand: GateContext['expand']): Record<string, string> {
  const env: Record<string, string> = {}
  for (const name of PLACEHOLDERS) {
    let value = ''
    try {
      value = expand(`{{ ${name} }}`, 'text')
    } catch {
      // not known yet: empty, like CHAINUP_DEVICE in a stack-wide gate
    }
    env[PLACEHOLDER_ENV[name]] = value
  }
  return env
}

function runCommandGate(command: string, ctx: GateContext, timeoutMs: number): Promise<Pick<GateEvaluation, 'decision' | 'reason'>> {
  const env: NodeJS.ProcessEnv = {...process.env}
  for (const name of ctx.hiddenEnv ?? []) delete env[name]
  for (const [name, value] of Object.entries(ctx.extraEnv ?? {})) env[name] = printable(value)
  Object.assign(env, placeholderEnv(ctx.expand))
  env.CHAINUP_RUN_ID = ctx.runId
  env.CHAINUP_STACK = ctx.stack
  env.CHAINUP_DEVICE = ctx.device ?? ''
  env.CHAINUP_GATE = ctx.type
  // Placeholders in run: are shell-quoted: a value (a device's version, say) is text for the command, never shell syntax.
  const line = ctx.expand(command, 'shell')
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', line], {cwd: dirname(ctx.playbookFile), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true})
    let stdout = ''
    let timedOut = false
    const kill = () => {
      try {
        // The whole process group: a gate script's children must not outlive it.
        if (child.pid) process.kill(-child.pid, 'SIGKILL')
      } catch {
        child.kill('SIGKILL')
      }
    }
    const clock = ctx.clock ?? systemClock
    const timer = clock.setTimeout(() => {
      timedOut = true
      kill()
    }, timeoutMs)
    const onAbort = () => kill()
    ctx.signal?.addEventListener('abort', onAbort, {once: true})
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < 65_536) stdout += d.toString('utf8')
    })
    child.stderr.resume()
    child.once('error', (err) => {
      clock.clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code, signal) => {
      clock.clearTimeout(timer)
      ctx.signal?.removeEventListener('abort', onAbort)
      const first = stdout.split('\n').find((l) => l.trim() !== '')?.trim()
      // The reason is shown in the terminal and the journal: the gate may echo what a device printed.
      const firstLine = first === undefined ? undefined : printable(first)
      if (timedOut) return resolve({decision: 'veto', reason: `gate timed out after ${formatMs(timeoutMs)}`})
      if (ctx.signal?.aborted) return resolve({decision: 'veto', reason: 'run halted while the gate ran'})
      if (code === 0) return resolve({decision: 'allow', reason: firstLine ?? 'exit 0'})
      resolve({decision: 'veto', reason: firstLine ?? (signal ? `killed by ${signal}` : `exit ${code}`)})
    })
  })
}

async function runDeviceGate(gate: Extract<Gate, {kind: 'device_command'}>, ctx: GateContext, timeoutMs: number): Promise<Pick<GateEvaluation, 'decision' | 'reason'>> {
  if (!ctx.session) return {decision: 'veto', reason: 'no device session for a device_command gate'}
  const command = ctx.expand(gate.device_command, 'text')
  const result = await ctx.session.exec(command, timeoutMs)
  if (result.dropped) return {decision: 'veto', reason: `connection dropped while running "${command}"`}
  const expect = new RegExp(ctx.expand(gate.expect, 'regex'), 'm')
  if (!expect.test(result.output)) return {decision: 'veto', reason: `"${command}" output does not match /${expect.source}/`}
  if (gate.reject !== undefined) {
    const reject = new RegExp(ctx.expand(gate.reject, 'regex'), 'm')
    const m = reject.exec(result.output)
    if (m) return {decision: 'veto', reason: `"${command}" output matches /${reject.source}/: ${lineAt(result.output, m.index)}`}
  }
  return {decision: 'allow', reason: `"${command}" output matches /${expect.source}/`}
}

/** What an HTTP gate POSTs (docs/playbook.md "HTTP gates"). */
export interface HttpGateRequest {
  run_id: string
  stack: string
  /** null for stack-wide gates. */
  device: string | null
  gate: {type: GateType; name: string}
  target: {version: string; image: string}
  /** Every placeholder's value as the gate sees it (`target.version`, `device.host`, `previous.version` …; "" when not known yet). */
  facts: Record<string, string>
}

/** At most this much of an HTTP gate's answer is read, bytes. */
const HTTP_GATE_MAX_ANSWER = 65_536

/**
 * `X-Chainup-Signature` for a body: `sha256=` and the lowercase hex HMAC-SHA256 of the exact body bytes under the
 * key (as GitHub's `X-Hub-Signature-256`). A receiver recomputes it over the raw body and compares in constant time.
 */
export function gateSignature(body: string, key: string): string {
  return `sha256=${createHmac('sha256', key).update(body, 'utf8').digest('hex')}`
}

/**
 * POSTs (or PUTs) the gate context as JSON and reads `{decision, reason}`. A 2xx answer with `decision` "allow" or
 * "veto" decides (its `reason`, made printable, else "allowed by URL"/"vetoed by URL"); anything else vetoes with a
 * reason saying what came back: a non-2xx status, a body that is not that JSON, a timeout, a refused connection.
 */
async function runHttpGate(gate: Extract<Gate, {kind: 'http'}>, ctx: GateContext, timeoutMs: number): Promise<Pick<GateEvaluation, 'decision' | 'reason'>> {
  const facts = Object.fromEntries(
    PLACEHOLDERS.map((name) => {
      try {
        return [name, ctx.expand(`{{ ${name} }}`, 'text')]
      } catch {
        return [name, '']
      }
    }),
  )
  const payload: HttpGateRequest = {
    run_id: ctx.runId,
    stack: ctx.stack,
    device: ctx.device,
    gate: {type: ctx.type, name: gate.name},
    target: {version: facts['target.version'] ?? '', image: facts['target.image'] ?? ''},
    facts,
  }
  const body = JSON.stringify(payload)
  const url = expandUrl(gate.http.url, ctx)
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(gate.http.headers)) headers[name] = ctx.expand(value, 'text')
  headers['content-type'] = 'application/json'
  headers['user-agent'] = 'chainup'
  if (gate.http.secret_env !== undefined) {
    const key = process.env[gate.http.secret_env]
    if (!key) return {decision: 'veto', reason: `secret_env ${gate.http.secret_env} is not set: the request cannot be signed`}
    headers['x-chainup-signature'] = gateSignature(body, key)
  }
  const where = printable(new URL(url).origin + new URL(url).pathname)
  const clock = ctx.clock ?? systemClock
  const abort = new AbortController()
  let timedOut = false
  const timer = clock.setTimeout(() => {
    timedOut = true
    abort.abort()
  }, timeoutMs)
  const onAbort = () => abort.abort()
  ctx.signal?.addEventListener('abort', onAbort, {once: true})
  try {
    const res = await fetch(url, {method: gate.http.method, headers, body, signal: abort.signal, redirect: 'error'})
    const text = (await res.text()).slice(0, HTTP_GATE_MAX_ANSWER)
    if (res.status < 200 || res.status > 299) return {decision: 'veto', reason: `${where} answered HTTP ${res.status}${text.trim() ? `: ${printable(text.trim().split('\n')[0]?.slice(0, 200) ?? '')}` : ''}`}
    let answer: unknown
    try {
      answer = JSON.parse(text)
    } catch {
      return {decision: 'veto', reason: `${where} answered HTTP ${res.status} with a body that is not JSON: expected {"decision": "allow"|"veto", "reason": "..."}`}
    }
    const decision = answer !== null && typeof answer === 'object' ? (answer as {decision?: unknown}).decision : undefined
    const reason = answer !== null && typeof answer === 'object' ? (answer as {reason?: unknown}).reason : undefined
    if (decision !== 'allow' && decision !== 'veto') return {decision: 'veto', reason: `${where} answered without "decision": "allow" or "veto" (got ${printable(JSON.stringify(decision ?? null).slice(0, 60))})`}
    const why = typeof reason === 'string' && reason.trim() !== '' ? printable(reason.trim().slice(0, 500)) : `${decision === 'allow' ? 'allowed' : 'vetoed'} by ${where}`
    return {decision, reason: why}
  } catch (error) {
    if (timedOut) return {decision: 'veto', reason: `${where} did not answer within ${formatMs(timeoutMs)}`}
    if (ctx.signal?.aborted) return {decision: 'veto', reason: 'run halted while the gate ran'}
    const cause = (error as {cause?: {code?: string; message?: string}}).cause
    return {decision: 'veto', reason: `${where} could not be reached: ${printable(cause?.code ?? cause?.message ?? (error as Error).message)}`}
  } finally {
    clock.clearTimeout(timer)
    ctx.signal?.removeEventListener('abort', onAbort)
  }
}

/** The gate's URL with placeholders filled in, each value URL-encoded. @throws for a URL that does not parse */
function expandUrl(template: string, ctx: GateContext): string {
  const url = template.replace(/\{\{([^{}]*)\}\}/g, (whole) => encodeURIComponent(ctx.expand(whole, 'text')))
  return new URL(url).toString()
}
