/**
 * A transport with network latency, for the property tests over real TCP: the delays are real time on purpose (by
 * default), so that segments really interleave with other I/O. Not for tests of the node's timers (those run on a
 * FakeClock: support/conductor.ts).
 */
import type {Duplex} from 'node:stream'

import {tcpTransport, type ChainSyncSocket, type ChainSyncTransport} from '../../../../src/protocol/transport.js'
import {systemClock, type Clock} from '../../../../src/util/clock.js'
import {wrapTransport} from './chain.js'

/** Replaces `socket.write` so every write is handed to `deliver` (which must call `raw` in order). */
function interceptWrites(socket: ChainSyncSocket, deliver: (chunk: string, raw: (s: string) => void) => void): ChainSyncSocket {
  const raw = socket.write.bind(socket) as (chunk: Buffer) => boolean
  const rawSafe = (s: string) => {
    if (!socket.destroyed) raw(Buffer.from(s, 'latin1'))
  }
  ;(socket as Duplex).write = ((chunk: string | Buffer) => {
    deliver(typeof chunk === 'string' ? chunk : chunk.toString('latin1'), rawSafe)
    return true
  }) as Duplex['write']
  return socket
}

/**
 * TCP whose writes are delayed by a random 0…maxDelayMs each, in order per socket.
 * - `whole`: every write arrives as one piece after its delay.
 * - `rechunk`: bytes are buffered and leave in random-length slices (1 byte … everything buffered), each after a
 *   random delay, so line boundaries and TCP segments no longer coincide (as on a real network).
 */
export function delayingTransport(rand: () => number, opts: {maxDelayMs?: number; mode?: 'whole' | 'rechunk'; clock?: Clock} = {}): ChainSyncTransport {
  const maxDelayMs = opts.maxDelayMs ?? 5
  const mode = opts.mode ?? 'whole'
  const sleep = (ms: number) => (opts.clock ?? systemClock).sleep(ms)
  return wrapTransport(tcpTransport, (socket) => {
    if (mode === 'whole') {
      let chain = Promise.resolve()
      return interceptWrites(socket, (chunk, raw) => {
        const delay = rand() * maxDelayMs
        chain = chain.then(() => sleep(delay)).then(() => raw(chunk))
      })
    }
    let buffered = ''
    let pumping = false
    const pump = async (raw: (s: string) => void) => {
      pumping = true
      while (buffered.length > 0) {
        await sleep(rand() * maxDelayMs)
        const cut = 1 + Math.floor(rand() * buffered.length)
        const slice = buffered.slice(0, cut)
        buffered = buffered.slice(cut)
        raw(slice)
      }
      pumping = false
    }
    return interceptWrites(socket, (chunk, raw) => {
      buffered += chunk
      if (!pumping) void pump(raw)
    })
  })
}
