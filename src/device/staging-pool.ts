/**
 * What the device workers of one run share for image staging (docs/staging.md): the copy limiter (a semaphore of
 * `staging.concurrency` slots) and the image's digests, read once. Kept apart from `staging.ts` so that the device
 * context (`steps.ts`) can name it without an import cycle.
 */
import {createHash} from 'node:crypto'
import {createReadStream} from 'node:fs'

import type {Inventory} from '../config/types.js'

/** The image's digests, lower-case hex, and its size in bytes. */
export interface ImageDigests {
  md5: string
  sha512: string
  size: number
}

/**
 * Reads a file once, streaming, and computes its MD5 and SHA-512 together.
 * @throws the file's read error (ENOENT, EACCES, ...)
 */
export async function digestFile(file: string): Promise<ImageDigests> {
  const md5 = createHash('md5')
  const sha512 = createHash('sha512')
  let size = 0
  for await (const chunk of createReadStream(file, {highWaterMark: 1024 * 1024}) as AsyncIterable<Buffer>) {
    md5.update(chunk)
    sha512.update(chunk)
    size += chunk.length
  }
  return {md5: md5.digest('hex'), sha512: sha512.digest('hex'), size}
}

/** A counting semaphore: at most `limit` holders at once, first come first served. */
export class Semaphore {
  private held = 0
  private peak = 0
  private readonly queue: Array<() => void> = []

  constructor(readonly limit: number) {}

  /** Holders right now. */
  get active(): number {
    return this.held
  }

  /** The most holders there ever were at once. */
  get maxActive(): number {
    return this.peak
  }

  /**
   * Waits for a free slot.
   * @returns the function that gives the slot back (idempotent)
   * @throws the signal's reason (an Error) when `signal` aborts before a slot was free
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    const grant = (): (() => void) => {
      this.held++
      this.peak = Math.max(this.peak, this.held)
      let released = false
      return () => {
        if (released) return
        released = true
        this.held--
        this.queue.shift()?.()
      }
    }
    if (signal?.aborted) return Promise.reject(new Error(`halted: ${String(signal.reason ?? 'chain halted')}`))
    if (this.held < this.limit) return Promise.resolve(grant())
    return new Promise((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve(grant())
      }
      const onAbort = () => {
        const i = this.queue.indexOf(wake)
        if (i >= 0) this.queue.splice(i, 1)
        reject(new Error(`halted: ${String(signal?.reason ?? 'chain halted')}`))
      }
      this.queue.push(wake)
      signal?.addEventListener('abort', onAbort, {once: true})
    })
  }
}

/**
 * What the workers of one run share for staging: the copy limiter (`staging.concurrency` copies at once across the
 * run) and the image's digests, computed once.
 */
export class StagingPool {
  readonly limiter: Semaphore
  private readonly digestsByFile = new Map<string, Promise<ImageDigests & {computedMs: number}>>()

  constructor(concurrency: number) {
    this.limiter = new Semaphore(concurrency)
  }

  /**
   * The image's digests: computed from `target.image_file` on the first call (streaming), then shared. Digests the
   * inventory gives must match the file.
   * @returns the digests, and `first` for the one caller that should log them
   * @throws Error when the file cannot be read or does not have the inventory's digest
   */
  async digests(target: Inventory['target'], now: () => number = Date.now): Promise<{digests: ImageDigests; first: boolean; computedMs: number}> {
    const file = target.image_file
    if (!file) throw new Error('target.image_file is not set')
    let pending = this.digestsByFile.get(file)
    const first = pending === undefined
    if (!pending) {
      const started = now()
      pending = digestFile(file).then((d) => ({...d, computedMs: now() - started}))
      this.digestsByFile.set(file, pending)
    }
    const {computedMs, ...digests} = await pending
    for (const kind of ['md5', 'sha512'] as const) {
      const given = target[kind]
      if (given !== undefined && given !== digests[kind]) {
        throw new Error(`the image file ${file} has ${kind} ${digests[kind]}, but target.${kind} says ${given}: it is not the image the inventory means (or it is damaged)`)
      }
    }
    return {digests, first, computedMs}
  }
}
