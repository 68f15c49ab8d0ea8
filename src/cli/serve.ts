/**
 * What `chainup serve` does apart from flag parsing (issue #11, docs/api.md): check where it listens (loopback, or
 * TLS, or `--insecure-http`), load the tokens, open the journal, report the runs a previous server left running
 * (interrupted: listed, never resumed behind the operator's back), and serve the API, the NOC page and metrics.
 */
import {existsSync, readFileSync, statSync} from 'node:fs'
import {join, resolve} from 'node:path'
import type {Writable} from 'node:stream'

import {InputError} from '../errors.js'
import {openJournal} from '../journal/journal.js'
import {TokenTable} from '../serve/auth.js'
import {buildApp} from '../serve/app.js'
import {checkListen, isLoopbackHost, parseListen} from '../serve/listen.js'

export interface ServeCommandOptions {
  /** `HOST:PORT`. @default "127.0.0.1:8080" */
  listen?: string
  /** The directory whose inventories may be run, by name. @default ./inventories, else (with `lab`) the package's own inventories/ */
  inventoriesDir?: string
  stateDir: string
  /** `--tokens FILE`: `NAME ROLE SHA256-HEX` lines; without it only loopback is served, every caller is `local` (operator). */
  tokensFile?: string
  tlsCert?: string
  tlsKey?: string
  /** Plain HTTP on a non-loopback address. */
  insecureHttp?: boolean
  /** Start the simulated switches of each run's inventory (`--lab`). */
  lab: boolean
  /** Where the server's own lines and its runs' progress go. */
  stderr: Writable
}

/** A running server. */
export interface ServeHandle {
  /** `http(s)://HOST:PORT` it listens on (the real port when 0 was asked for). */
  url: string
  /** Runs it found running in the journal with no process left (`status=interrupted`). */
  interrupted: string[]
  /** Stops listening, kills its live runs (journaled as cancelled), closes the journal. */
  close(): Promise<void>
}

/**
 * Starts the server.
 * @throws InputError (exit 2) for a bad --listen, plain HTTP on a non-loopback address without --insecure-http, no
 *   --tokens on a non-loopback address, a bad tokens file, unreadable TLS files or a missing inventories directory
 */
export async function serveCommand(opts: ServeCommandOptions): Promise<ServeHandle> {
  const addr = parseListen(opts.listen ?? '127.0.0.1:8080')
  checkListen(addr, {cert: opts.tlsCert, key: opts.tlsKey}, opts.insecureHttp === true)
  if (!opts.tokensFile && !isLoopbackHost(addr.host)) {
    throw new InputError(`--listen ${addr.host}: a server on the network needs --tokens`, {code: 'TOKENS_REQUIRED', hint: 'docs/api.md "Auth": one "NAME ROLE SHA256-HEX" a line'})
  }
  const tokens = opts.tokensFile ? TokenTable.load(opts.tokensFile) : null
  const inventoriesDir = resolve(opts.inventoriesDir ?? (existsSync('inventories') || !opts.lab ? 'inventories' : join(import.meta.dirname, '../../../inventories')))
  try {
    if (!statSync(inventoriesDir).isDirectory()) throw new Error('not a directory')
  } catch (error) {
    throw new InputError(`--inventories ${inventoriesDir}: ${(error as Error).message}`, {code: 'INVENTORIES_DIR', hint: 'name the directory that holds the inventories the server may run'})
  }
  let https: {cert: Buffer; key: Buffer} | undefined
  if (opts.tlsCert && opts.tlsKey) {
    try {
      https = {cert: readFileSync(opts.tlsCert), key: readFileSync(opts.tlsKey)}
    } catch (error) {
      throw new InputError(`--tls-cert/--tls-key: ${(error as Error).message}`, {code: 'TLS_FILES'})
    }
  }
  const journal = await openJournal(opts.stateDir)
  try {
    const {app} = await buildApp({stateDir: opts.stateDir, inventoriesDir, tokens, lab: opts.lab, journal, log: opts.stderr, ...(https ? {https} : {})})
    await app.listen({host: addr.host, port: addr.port})
    const bound = app.server.address()
    const port = bound !== null && typeof bound === 'object' ? bound.port : addr.port
    const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host
    const url = `${https ? 'https' : 'http'}://${host}:${port}`
    // Runs a previous server (or CLI) left running: listed, never resumed automatically.
    const running = journal.history({status: 'running', limit: 1000}).runs
    const interrupted = running.filter((r) => {
      const holder = journal.lockHolder(r.chain_id)
      return !(holder && holder.runId === r.execution_id && holder.liveness !== 'gone')
    }).map((r) => r.execution_id)
    const line = (text: string) => opts.stderr.write(`${new Date().toISOString()} ${text}\n`)
    line(`chainup serve listening on ${url} (state ${opts.stateDir}, inventories ${inventoriesDir}${opts.lab ? ', lab' : ''}${tokens ? '' : ', no tokens: loopback only'})`)
    if (interrupted.length > 0) line(`${interrupted.length} interrupted run${interrupted.length === 1 ? '' : 's'} (not resumed): ${interrupted.join(', ')}; POST /v1/executions/{id}/resume continues one`)
    return {
      url,
      interrupted,
      close: async () => {
        await app.close()
        journal.close()
      },
    }
  } catch (error) {
    journal.close()
    throw error
  }
}
