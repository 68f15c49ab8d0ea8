/**
 * The greeting of chainup's extensions (docs/chainsync.md "Extensions"): the first line of a connection is
 * `HELLO:<node-name>` both ways. The dialer names itself and expects its predecessor's name back; the listener
 * expects its successor's name and answers with its own. Without extensions there is no greeting.
 */
import type {Clock} from '../util/clock.js'
import {formatMessage, LineDecoder, parseMessage, type Message} from './codec.js'
import type {ChainSyncSocket} from './transport.js'

/** What a completed greeting hands to the link. */
export interface Greeting {
  /** Complete lines that arrived after the peer's HELLO in the same data (not yet acted on). */
  early: string[]
  /** The greeting's decoder: it goes on, since it may hold the start of the next line. */
  decoder: LineDecoder
}

export interface GreetingOptions {
  /** This node's name (sent as HELLO:<self>). */
  self: string
  /** The peer's expected name. */
  peer: string
  clock: Clock
  /** The peer's HELLO must arrive within this, ms (NODE_LIMITS.helloTimeoutMs). */
  timeoutMs: number
}

/**
 * Dialer side: writes `HELLO:<self>`, then expects `HELLO:<peer>` (the predecessor) within `timeoutMs`.
 * `greeted` runs synchronously in the data event that completed the greeting (no byte can slip past between the
 * greeting and the link), then the promise resolves.
 * @returns rejects with the reason (the socket is destroyed) when the greeting fails
 */
export function greetPredecessor(socket: ChainSyncSocket, g: GreetingOptions, greeted: (greeting: Greeting) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new LineDecoder()
    const fail = (reason: string) => {
      cleanup()
      socket.destroy()
      reject(new Error(reason))
    }
    const timer = g.clock.setTimeout(() => fail(`no HELLO from ${g.peer} within ${g.timeoutMs / 1000}s`), g.timeoutMs)
    const onData = (chunk: Buffer) => {
      const {lines, overflow} = decoder.push(chunk)
      if (overflow) return fail('greeting line too long')
      if (lines.length === 0) return
      let hello: Message
      try {
        hello = parseMessage(lines[0]!)
      } catch (error) {
        return fail((error as Error).message)
      }
      if (hello.command !== 'HELLO' || hello.node !== g.peer) return fail(`expected HELLO:${g.peer}, got "${lines[0]!.slice(0, 80)}"`)
      cleanup()
      greeted({early: lines.slice(1), decoder})
      resolve()
    }
    const onClose = () => fail('connection closed before HELLO (refused by the predecessor?)')
    const cleanup = () => {
      g.clock.clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
    }
    socket.on('data', onData)
    socket.on('close', onClose)
    socket.write(formatMessage({command: 'HELLO', node: g.self}))
  })
}

export interface ListenerGreetingHandlers {
  /** The greeting failed: log `reason` and destroy the socket. */
  refuse(reason: string): void
  /** The peer's HELLO named the expected successor; runs just before the answer is written (replace an old link here). */
  beforeAnswer(): void
  /** `HELLO:<self>` was written: the connection is the successor's link now. Runs in the same data event. */
  greeted(greeting: Greeting): void
}

/**
 * Listener side: expects `HELLO:<peer>` (the successor) within `timeoutMs`, then answers `HELLO:<self>`.
 * Outcomes go to `on` (synchronously, from the socket's events or the timer).
 */
export function greetSuccessor(socket: ChainSyncSocket, g: GreetingOptions, on: ListenerGreetingHandlers): void {
  const decoder = new LineDecoder()
  const timer = g.clock.setTimeout(() => on.refuse(`no HELLO within ${g.timeoutMs / 1000}s`), g.timeoutMs)
  const onData = (chunk: Buffer) => {
    const {lines, overflow} = decoder.push(chunk)
    if (overflow) {
      g.clock.clearTimeout(timer)
      return on.refuse('greeting line too long')
    }
    if (lines.length === 0) return
    g.clock.clearTimeout(timer)
    socket.off('data', onData)
    let hello: Message
    try {
      hello = parseMessage(lines[0]!)
    } catch (error) {
      return on.refuse((error as Error).message)
    }
    if (hello.command !== 'HELLO') return on.refuse(`expected HELLO, got ${hello.command}`)
    if (hello.node !== g.peer) return on.refuse(`HELLO from "${hello.node}", expected successor "${g.peer}"`)
    on.beforeAnswer()
    socket.write(formatMessage({command: 'HELLO', node: g.self}))
    on.greeted({early: lines.slice(1), decoder})
  }
  socket.on('data', onData)
  socket.on('close', () => g.clock.clearTimeout(timer))
}
