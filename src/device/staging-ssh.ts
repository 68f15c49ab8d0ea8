/**
 * The SSH connection an image copy runs on: its own ssh2 connection (host key verified like every other session, see
 * `ssh-session.ts`), kept apart from the command session so a long copy never holds a command's timeout or output cap.
 * Two ways to copy: {@link TransferSession.scp} (SCP sink protocol over exec, `scp.ts`) and {@link TransferSession.sftp}
 * (ssh2's `fastPut`). A connection that drops mid-copy rejects the copy with {@link TransferInterruptedError}.
 */
import {ChainupError} from '../errors.js'
import {formatMs} from '../util/duration.js'
import {scpPush, ScpError} from './scp.js'
import {type ConnectOptions, openVerifiedClient} from './ssh-session.js'

/** The connection went away during a copy (a retry from scratch may succeed). */
export class TransferInterruptedError extends ChainupError {
  constructor(message: string, cause?: unknown) {
    super(message, {code: 'TRANSFER_INTERRUPTED', cause})
  }
}

/** A copy that did not finish within `timeouts.transfer`; its connection is closed. */
export class TransferTimeoutError extends ChainupError {
  constructor(timeoutMs: number) {
    super(`the copy did not finish within ${formatMs(timeoutMs)} (timeouts.transfer)`, {code: 'TRANSFER_TIMEOUT'})
  }
}

/** One copy. */
export interface TransferRequest {
  /** Local file. */
  file: string
  /** Its size, bytes. */
  size: number
  /** Remote path as the device names it, e.g. `flash:cat9k_iosxe.17.09.05.SPA.bin` or `/var/tmp/image.bin`. */
  remotePath: string
  /** The file's name (the SCP header carries it). */
  name: string
  /** Called with the bytes sent so far. */
  onBytes?: (sent: number) => void
}

/** Tuning of the copy paths (docs/benchmarks.md "Image staging"). */
export interface TransferTuning {
  /** SCP: bytes read from the file per chunk. @default 1 MiB */
  scpChunkBytes?: number
  /** SFTP: requests in flight. @default 64 */
  sftpConcurrency?: number
  /** SFTP: bytes per write request. @default 32768 */
  sftpChunkSize?: number
}

/** An SSH connection for copies; see {@link connectTransfer}. */
export interface TransferSession {
  /** SCP push (`scp -t REMOTE`). @throws TransferInterruptedError when the connection drops, ScpError when the device refuses */
  scp(request: TransferRequest): Promise<void>
  /** SFTP `fastPut`. @throws TransferInterruptedError when the connection drops, Error with the server's status otherwise */
  sftp(request: TransferRequest): Promise<void>
  /** Closes the connection (aborting a copy in flight); idempotent. */
  close(): void
}

/** Options of {@link connectTransfer}: those of a command session, plus the ciphers to offer (the benchmark pins one). */
export interface TransferConnectOptions extends ConnectOptions {
  /** ssh2's cipher list, e.g. `['aes128-gcm@openssh.com']`. @default ssh2's own preference */
  ciphers?: string[]
  tuning?: TransferTuning
}

/** Opens a {@link TransferSession}: {@link connectTransfer} in production; tests may pass their own. */
export type TransferDialer = (opts: TransferConnectOptions) => Promise<TransferSession>

type Ssh2Client = import('ssh2').Client

/**
 * Opens an SSH connection for image copies; the host key is verified before authenticating.
 * @throws ConnectError (kind `host_key`, `auth`, `unreachable`, `timeout`)
 */
export async function connectTransfer(opts: TransferConnectOptions): Promise<TransferSession> {
  return new Ssh2Transfer(opts.device, await openVerifiedClient(opts, opts.ciphers), opts.tuning ?? {})
}

class Ssh2Transfer implements TransferSession {
  private closed = false
  private readonly dropWaiters = new Set<(error: Error) => void>()

  constructor(
    private readonly device: string,
    private readonly client: Ssh2Client,
    private readonly tuning: TransferTuning,
  ) {
    client.on('error', (error: Error) => this.dropped(`the connection failed (${error.message})`))
    client.on('end', () => this.dropped('the connection closed'))
    client.on('close', () => this.dropped('the connection closed'))
  }

  private dropped(why: string): void {
    this.closed = true
    for (const w of this.dropWaiters) w(new TransferInterruptedError(`${this.device}: ${why} during the copy`))
    this.dropWaiters.clear()
  }

  /** Runs `work`, rejecting at once when the connection drops meanwhile. */
  private guarded<T>(work: (fail: (e: Error) => void) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new TransferInterruptedError(`${this.device}: the connection is closed`))
    return new Promise<T>((resolve, reject) => {
      let done = false
      const onDrop = (error: Error) => {
        if (done) return
        done = true
        reject(error)
      }
      this.dropWaiters.add(onDrop)
      work(onDrop).then(
        (v) => {
          if (done) return
          done = true
          this.dropWaiters.delete(onDrop)
          resolve(v)
        },
        (error: unknown) => {
          if (done) return
          done = true
          this.dropWaiters.delete(onDrop)
          reject(error instanceof ScpError && error.interrupted ? new TransferInterruptedError(`${this.device}: ${error.message}`, error) : error)
        },
      )
    })
  }

  scp(request: TransferRequest): Promise<void> {
    return this.guarded(
      (fail) =>
        new Promise<void>((resolve, reject) => {
          this.client.exec(`scp -t ${request.remotePath}`, (err, channel) => {
            if (err) return this.closed ? fail(new TransferInterruptedError(`${this.device}: ${err.message}`)) : reject(err)
            scpPush(channel, {
              file: request.file,
              size: request.size,
              name: request.name,
              ...(this.tuning.scpChunkBytes ? {chunkBytes: this.tuning.scpChunkBytes} : {}),
              ...(request.onBytes ? {onBytes: request.onBytes} : {}),
            }).then(resolve, reject)
          })
        }),
    )
  }

  sftp(request: TransferRequest): Promise<void> {
    return this.guarded(
      (fail) =>
        new Promise<void>((resolve, reject) => {
          this.client.sftp((err, sftp) => {
            if (err) return this.closed ? fail(new TransferInterruptedError(`${this.device}: ${err.message}`)) : reject(new Error(`the device refused SFTP: ${err.message}`))
            sftp.on('error', () => undefined)
            sftp.fastPut(
              request.file,
              request.remotePath,
              {
                concurrency: this.tuning.sftpConcurrency ?? 64,
                chunkSize: this.tuning.sftpChunkSize ?? 32768,
                step: (sent: number) => request.onBytes?.(sent),
              },
              (error?: Error | null) => {
                sftp.end()
                if (error) return reject(this.closed ? new TransferInterruptedError(`${this.device}: ${error.message}`, error) : new Error(`SFTP upload to ${request.remotePath} failed: ${error.message}`))
                resolve()
              },
            )
          })
        }),
    )
  }

  close(): void {
    if (!this.closed) this.client.end()
    this.closed = true
  }
}
