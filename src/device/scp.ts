/**
 * The SCP push: the source side of the SCP protocol (the one `scp FILE host:DEST` speaks) over one exec channel running
 * `scp -t DEST` on the device — what IOS-XE accepts with `ip scp server enable`, and what OpenSSH's `scp -O` talks to.
 *
 * The sink (the device) acknowledges each message with one byte: `\0` OK, `\1 message\n` warning, `\2 message\n`
 * fatal. The source sends `C0644 SIZE NAME\n`, then exactly SIZE bytes, then `\0`; the sink acknowledges each. Protocol
 * outline: docs/staging.md. {@link AckReader} (the codec) survives acknowledgements split over or merged into reads.
 */
import {createReadStream} from 'node:fs'

import {ChainupError} from '../errors.js'

/** The sink refused a message (`\1`/`\2` + its text), or the channel ended before it answered. */
export class ScpError extends ChainupError {
  constructor(
    message: string,
    /** True when the channel or connection went away (a retry may succeed), false when the sink refused. */
    readonly interrupted: boolean,
  ) {
    super(message, {code: interrupted ? 'SCP_INTERRUPTED' : 'SCP_REFUSED'})
  }
}

/** One acknowledgement: OK, or the sink's refusal with its text. */
export type ScpAck = {ok: true} | {ok: false; fatal: boolean; message: string}

/**
 * Splits what a sink sends into acknowledgements: `\0`, or `\1`/`\2` followed by a line. Pure: feed it bytes in any
 * split, take complete acknowledgements out in order.
 */
export class AckReader {
  private pending: Buffer = Buffer.alloc(0)
  private readonly acks: ScpAck[] = []

  /** Adds bytes as they arrived. */
  push(data: Buffer): void {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data])
    while (this.pending.length > 0) {
      const kind = this.pending[0]!
      if (kind === 0) {
        this.acks.push({ok: true})
        this.pending = this.pending.subarray(1)
        continue
      }
      const nl = this.pending.indexOf(0x0a)
      if (nl < 0) {
        // A refusal line still arriving (bounded: a sink's message is one short line).
        if (this.pending.length > 64 * 1024) this.pending = this.pending.subarray(0, 64 * 1024)
        return
      }
      const text = this.pending.subarray(1, nl).toString('utf8')
      // Anything else than 1/2 is a sink that does not speak SCP (a shell's error message, say): fatal, with the line.
      this.acks.push({ok: false, fatal: kind !== 1, message: kind === 1 || kind === 2 ? text : String.fromCharCode(kind) + text})
      this.pending = this.pending.subarray(nl + 1)
    }
  }

  /** The oldest acknowledgement not taken yet. */
  take(): ScpAck | undefined {
    return this.acks.shift()
  }
}

/** What {@link scpPush} needs of an exec channel running `scp -t DEST` (ssh2's ClientChannel satisfies it). */
export interface ScpChannel {
  write(data: Buffer | string): boolean
  end(): unknown
  on(event: 'data', listener: (data: Buffer) => void): unknown
  on(event: 'drain' | 'close', listener: () => void): unknown
  on(event: 'exit', listener: (code: number | null, signal?: string) => void): unknown
  once(event: 'drain' | 'close', listener: () => void): unknown
  removeListener(event: 'drain' | 'close', listener: () => void): unknown
  readonly stderr?: {on(event: 'data', listener: (data: Buffer) => void): unknown}
}

/** Options of {@link scpPush}. */
export interface ScpPushOptions {
  /** The local file to send. */
  file: string
  /** Its size, bytes (sent in the `C` line; exactly this many bytes are sent). */
  size: number
  /** The file name in the `C` line (the sink uses it when DEST is a directory). */
  name: string
  /** Permission bits in the `C` line. @default 0o644 */
  mode?: number
  /** Bytes read from the file per chunk. @default 1 MiB */
  chunkBytes?: number
  /** Called with the bytes sent so far after each chunk. */
  onBytes?: (sent: number) => void
}

/**
 * Sends one file over a channel whose remote end runs `scp -t DEST`, and waits for the sink's final acknowledgement and
 * the channel's close.
 * @throws ScpError: `interrupted` when the channel closed early (retry from scratch), else the sink's refusal
 *   (`\1`/`\2` message, e.g. no space, or a non-zero exit status); the file's read error as it is
 */
export async function scpPush(channel: ScpChannel, opts: ScpPushOptions): Promise<void> {
  const acks = new AckReader()
  let closed = false
  let exitCode: number | null | undefined
  let stderr = ''
  let wake: (() => void) | undefined
  const poke = () => {
    const w = wake
    wake = undefined
    w?.()
  }
  channel.on('data', (d: Buffer) => {
    acks.push(d)
    poke()
  })
  channel.stderr?.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString('utf8')
  })
  channel.on('exit', (code) => {
    exitCode = code
  })
  const closedPromise = new Promise<void>((resolve) =>
    channel.once('close', () => {
      closed = true
      poke()
      resolve()
    }),
  )
  const ended = (when: string) => {
    const detail = stderr.trim() ? `: ${stderr.trim().split('\n')[0]}` : ''
    // A sink that exits with a status said no (e.g. `scp: not found`); no status at all = the connection went away.
    return exitCode === undefined || exitCode === null
      ? new ScpError(`the connection closed ${when}${detail}`, true)
      : new ScpError(`scp -t exited with status ${exitCode} ${when}${detail}`, false)
  }
  const nextAck = async (when: string): Promise<void> => {
    for (;;) {
      const ack = acks.take()
      if (ack) {
        if (ack.ok) return
        throw new ScpError(`the device refused ${when}: ${ack.message.trim() || '(no message)'}`, false)
      }
      if (closed) throw ended(when)
      await new Promise<void>((resolve) => (wake = resolve))
    }
  }
  const drain = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        channel.removeListener('drain', done)
        channel.removeListener('close', done)
        resolve()
      }
      channel.once('drain', done)
      channel.once('close', done)
    })

  await nextAck('the copy (before the file header)')
  channel.write(`C${(opts.mode ?? 0o644).toString(8).padStart(4, '0')} ${opts.size} ${opts.name}\n`)
  await nextAck('the file header')
  let sent = 0
  const stream = createReadStream(opts.file, {highWaterMark: opts.chunkBytes ?? 1024 * 1024})
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (closed) throw ended(`after ${sent} of ${opts.size} bytes`)
      const take = sent + chunk.length > opts.size ? chunk.subarray(0, opts.size - sent) : chunk
      sent += take.length
      const ok = channel.write(take)
      opts.onBytes?.(sent)
      // A sink that refuses mid-copy (disk full) answers at once; do not keep sending into it.
      const early = acks.take()
      if (early && !early.ok) throw new ScpError(`the device refused the data: ${early.message.trim()}`, false)
      if (early) throw new ScpError('the device acknowledged before the data was complete', false)
      if (!ok) await drain()
      if (sent >= opts.size) break
    }
  } finally {
    stream.destroy()
  }
  if (closed) throw ended(`after ${sent} of ${opts.size} bytes`)
  if (sent !== opts.size) throw new ScpError(`the local file is shorter (${sent} bytes) than its size ${opts.size}: it changed during the copy`, false)
  channel.write(Buffer.from([0]))
  await nextAck('the end of the data')
  channel.end()
  await closedPromise
  if (exitCode !== undefined && exitCode !== null && exitCode !== 0) throw ended('after the copy')
}
