/**
 * `GET /v1/executions/{id}/events`: a run's journal events as Server-Sent Events (WHATWG HTML "Server-sent events",
 * `text/event-stream`). Each event is one journal row: `id:` its `seq` (monotonic across the journal), `event:` its
 * type (`journal.step_started`, `journal.gate`, `nodeState`, `devicePhase`, `trap`, `log`, …), `data:` the row as
 * JSON `{seq, at, type, device, data}`. Replay and live are one loop: send the rows after the last id, then wait until
 * the run changes (a wake-up from this server's run, or a poll for runs of other processes) and send again. A client
 * that reconnects with `Last-Event-ID` gets exactly the rows it missed. When the run is no longer running and every
 * row was sent, an `end` event (`data: {"status": …}`) closes the stream.
 */
import type {FastifyReply} from 'fastify'

import type {Journal} from '../journal/journal.js'
import type {EventRow} from '../journal/types.js'
import type {RunRegistry} from './runs.js'

export interface StreamOptions {
  journal: Journal
  runId: string
  /** Send rows with a seq above this (Last-Event-ID). */
  after: number
  registry: RunRegistry
  /** Look at the journal at least this often, ms. */
  pollMs: number
  /** Comment line to keep proxies from closing an idle stream, ms. */
  heartbeatMs: number
}

/** One SSE frame for a journal row. */
export function frame(row: Pick<EventRow, 'seq' | 'at' | 'type' | 'device' | 'data'>): string {
  const data = JSON.stringify({seq: row.seq, at: row.at, type: row.type, device: row.device, data: row.data})
  return `id: ${row.seq}\nevent: ${row.type}\ndata: ${data}\n\n`
}

/** Streams until the run ended (after its last row) or the client went away. */
export async function streamEvents(reply: FastifyReply, opts: StreamOptions): Promise<void> {
  const {journal, runId, registry} = opts
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no'})
  res.write(`retry: 2000\n\n`)
  let last = opts.after
  let closed = false
  let wake: (() => void) | undefined
  const onChange = (id: string) => {
    if (id === runId) wake?.()
  }
  registry.on('change', onChange)
  res.on('close', () => {
    closed = true
    wake?.()
  })
  const heartbeat = setInterval(() => res.write(`: keep-alive\n\n`), opts.heartbeatMs)
  try {
    while (!closed) await once()
  } catch {
    // the journal closed under the stream (the server stops): end it
  } finally {
    clearInterval(heartbeat)
    registry.off('change', onChange)
    res.end()
  }

  /** One pass: send what is new, then wait for a change (or end the stream when the run ended). */
  async function once(): Promise<void> {
    const running = journal.tree(runId).status === 'running' || registry.get(runId) !== undefined
    for (const row of journal.events(runId)) {
      if (row.seq <= last) continue
      res.write(frame(row))
      last = row.seq
    }
    if (!running) {
      res.write(`event: end\ndata: ${JSON.stringify({status: journal.tree(runId).status})}\n\n`)
      closed = true
      return
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, opts.pollMs)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    wake = undefined
  }
}
