/**
 * The pure and in-process parts of image staging (docs/staging.md): the SCP acknowledgement codec (split and merged
 * reads), the SCP push against an in-memory sink (OK, refusals, a channel that closes mid-copy), the copy limiter, the
 * digests read once per run, the free-space reading of `dir flash:`, and the retry backoff.
 */
import {createHash} from 'node:crypto'
import {EventEmitter} from 'node:events'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DEFAULT_FREE_PATTERN} from '../../src/config/playbook.js'
import {AckReader, scpPush, ScpError, type ScpChannel} from '../../src/device/scp.js'
import {digestFile, Semaphore, StagingPool} from '../../src/device/staging-pool.js'
import {formatBytes, parseFreeSpace, retryDelayMs} from '../../src/device/staging.js'
import {dirFlash, type FlashFile} from '../../src/lab/ios-output.js'

let dir: string
let file: string
const DATA = Buffer.from('0123456789'.repeat(1000))

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainup-staging-unit-'))
  file = join(dir, 'image.bin')
  writeFileSync(file, DATA)
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('AckReader (SCP acknowledgements)', () => {
  it('takes OK bytes and refusal lines in order, however the bytes are split or merged', () => {
    const wire = Buffer.concat([Buffer.from([0, 0]), Buffer.from('\x01scp: flash:/x: No space left on device\n'), Buffer.from([0]), Buffer.from('\x02fatal one\n')])
    for (const size of [1, 2, 3, 7, wire.length]) {
      const r = new AckReader()
      for (let i = 0; i < wire.length; i += size) r.push(wire.subarray(i, i + size))
      expect([r.take(), r.take(), r.take(), r.take(), r.take(), r.take()]).toEqual([
        {ok: true},
        {ok: true},
        {ok: false, fatal: false, message: 'scp: flash:/x: No space left on device'},
        {ok: true},
        {ok: false, fatal: true, message: 'fatal one'},
        undefined,
      ])
    }
  })

  it('keeps a refusal line that has not ended yet, and reads a sink that is no SCP sink as fatal', () => {
    const r = new AckReader()
    r.push(Buffer.from('\x01half a'))
    expect(r.take()).toBeUndefined()
    r.push(Buffer.from(' line\nsh: scp: not found\n'))
    expect(r.take()).toEqual({ok: false, fatal: false, message: 'half a line'})
    expect(r.take()).toEqual({ok: false, fatal: true, message: 'sh: scp: not found'})
  })
})

/** An in-memory `scp -t` sink speaking over a fake channel; `behave` decides how it answers. */
class FakeSink extends EventEmitter implements ScpChannel {
  received = Buffer.alloc(0)
  header = ''
  ended = false
  readonly stderr = new EventEmitter()
  private state: 'header' | 'data' | 'end' = 'header'
  private size = 0

  constructor(private readonly behave: {refuseHeader?: string; closeAfter?: number; exitCode?: number} = {}) {
    super()
    setImmediate(() => this.emit('data', Buffer.from([0])))
  }

  write(data: Buffer | string): boolean {
    const buf = typeof data === 'string' ? Buffer.from(data) : data
    if (this.state === 'header') {
      this.header = buf.toString()
      const m = /^C0644 (\d+) (\S+)\n$/.exec(this.header)
      this.size = Number(m?.[1])
      setImmediate(() => {
        if (this.behave.refuseHeader) {
          this.emit('data', Buffer.from(`\x01${this.behave.refuseHeader}\n`))
          this.emit('exit', 1)
          this.emit('close')
        } else this.emit('data', Buffer.from([0]))
      })
      this.state = 'data'
    } else if (this.state === 'data') {
      this.received = Buffer.concat([this.received, buf])
      if (this.behave.closeAfter !== undefined && this.received.length >= this.behave.closeAfter) setImmediate(() => this.emit('close'))
      if (this.received.length >= this.size) this.state = 'end'
    } else {
      expect([...buf]).toEqual([0])
      setImmediate(() => this.emit('data', Buffer.from([0])))
    }
    return true
  }

  end(): void {
    this.ended = true
    setImmediate(() => {
      this.emit('exit', this.behave.exitCode ?? 0)
      this.emit('close')
    })
  }
}

describe('scpPush (SCP source side)', () => {
  it('sends the C line, exactly size bytes and the end byte, waiting for each acknowledgement, and reports bytes', async () => {
    const sink = new FakeSink()
    const seen: number[] = []
    await scpPush(sink, {file, size: DATA.length, name: 'img.bin', chunkBytes: 4096, onBytes: (n) => seen.push(n)})
    expect(sink.header).toBe(`C0644 ${DATA.length} img.bin\n`)
    expect(sink.received.equals(DATA)).toBe(true)
    expect(sink.ended).toBe(true)
    expect(seen).toEqual([4096, 8192, 10000])
  })

  it('a refusal of the header is the sink\'s message, not an interruption', async () => {
    const error = await scpPush(new FakeSink({refuseHeader: 'scp: flash:/img.bin: No space left on device'}), {file, size: DATA.length, name: 'img.bin'}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ScpError)
    expect((error as ScpError).interrupted).toBe(false)
    expect((error as ScpError).message).toBe('the device refused the file header: scp: flash:/img.bin: No space left on device')
  })

  it('a channel that closes mid-copy without an exit status is an interruption (retry from scratch)', async () => {
    const error = await scpPush(new FakeSink({closeAfter: 4096}), {file, size: DATA.length, name: 'img.bin', chunkBytes: 4096}).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ScpError)
    expect((error as ScpError).interrupted).toBe(true)
    expect((error as ScpError).message).toMatch(/^the connection closed (after \d+ of 10000 bytes|the end of the data)/)
  })

  it('a sink that exits non-zero after the copy fails it', async () => {
    const error = await scpPush(new FakeSink({exitCode: 1}), {file, size: DATA.length, name: 'img.bin'}).catch((e: unknown) => e)
    expect((error as ScpError).message).toBe('scp -t exited with status 1 after the copy')
  })
})

describe('Semaphore (the run-wide copy limit)', () => {
  it('lets at most `limit` holders in, first come first served, and counts the peak', async () => {
    const s = new Semaphore(2)
    const order: string[] = []
    const r1 = await s.acquire()
    const r2 = await s.acquire()
    const third = s.acquire().then((r) => (order.push('third'), r))
    const fourth = s.acquire().then((r) => (order.push('fourth'), r))
    await new Promise((r) => setImmediate(r))
    expect(order).toEqual([])
    expect(s.active).toBe(2)
    r1()
    r1()
    const r3 = await third
    expect(order).toEqual(['third'])
    r2()
    const r4 = await fourth
    expect(order).toEqual(['third', 'fourth'])
    r3()
    r4()
    expect(s.active).toBe(0)
    expect(s.maxActive).toBe(2)
  })

  it('a waiter whose signal aborts leaves the queue with the reason', async () => {
    const s = new Semaphore(1)
    const held = await s.acquire()
    const ac = new AbortController()
    const waiting = s.acquire(ac.signal)
    ac.abort('sw3: not ready')
    await expect(waiting).rejects.toThrow('halted: sw3: not ready')
    held()
    expect(s.active).toBe(0)
    await expect(s.acquire(ac.signal)).rejects.toThrow('halted: sw3: not ready')
  })
})

describe('digests (read once per run)', () => {
  const md5 = createHash('md5').update(DATA).digest('hex')
  const sha512 = createHash('sha512').update(DATA).digest('hex')

  it('digestFile streams the file once for MD5 and SHA-512', async () => {
    expect(await digestFile(file)).toEqual({md5, sha512, size: DATA.length})
  })

  it('StagingPool computes them on the first call only and tells that caller to log them', async () => {
    const pool = new StagingPool(4)
    const target = {version: '17.09.05', image: 'img.bin', image_file: file}
    const [a, b, c] = await Promise.all([pool.digests(target), pool.digests(target), pool.digests(target)])
    expect([a.first, b.first, c.first]).toEqual([true, false, false])
    expect(a.digests).toEqual({md5, sha512, size: DATA.length})
    expect(c.digests).toEqual(a.digests)
  })

  it('a digest the inventory gives must be the file\'s', async () => {
    const pool = new StagingPool(4)
    await expect(pool.digests({version: '17.09.05', image: 'img.bin', image_file: file, md5})).resolves.toMatchObject({digests: {md5}})
    await expect(pool.digests({version: '17.09.05', image: 'img.bin', image_file: file, md5: 'f'.repeat(32)})).rejects.toThrow(
      `the image file ${file} has md5 ${md5}, but target.md5 says ${'f'.repeat(32)}: it is not the image the inventory means (or it is damaged)`,
    )
  })
})

describe('free space from `dir flash:`', () => {
  const files: FlashFile[] = [
    {name: 'packages.conf', size: 7000, mtime: new Date('2026-10-29T00:10:55Z'), inode: 1},
    {name: 'cat9k_iosxe.17.09.05.SPA.bin', size: 1_038_309_208, mtime: new Date('2026-10-29T00:10:55Z'), inode: 2},
  ]
  const pattern = DEFAULT_FREE_PATTERN

  it('reads the free bytes of the IOS-XE summary line and whether the image is listed', () => {
    const output = dirFlash(files).join('\n')
    expect(output).toMatch(/^11353194496 bytes total \(8441466192 bytes free\)$/m)
    expect(parseFreeSpace(output, pattern, 'cat9k_iosxe.17.09.05.SPA.bin')).toEqual({free: 8_441_466_192, present: true})
    expect(parseFreeSpace(output, pattern, 'cat9k_iosxe.17.09.0.SPA.bin')).toEqual({free: 8_441_466_192, present: false})
    // Junos prints 1024-byte blocks (stage.free_space.unit: 1024).
    const storage = 'Filesystem              1024-blocks       Used      Avail  Capacity  Mounted on\n/dev/gpt/var                3258404    1127644    1875084       38%  /.mount/var\n'
    expect(parseFreeSpace(storage, '^\\S+/var\\s+\\d+\\s+\\d+\\s+(?<free>\\d+)\\s', 'x.tgz', 1024)).toEqual({free: 1_875_084 * 1024, present: false})
    expect(parseFreeSpace(output, pattern, '17.09.05.SPA.bin')).toEqual({free: 8_441_466_192, present: false})
  })

  it('gives nothing when the output has no summary line', () => {
    expect(parseFreeSpace('% Invalid input detected', pattern, 'x.bin')).toBeUndefined()
  })
})

describe('retries and formatting', () => {
  it('backs off 1 s, 2 s, 4 s, … up to 30 s between attempts', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(retryDelayMs)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000])
  })

  it('formats sizes in binary units', () => {
    expect([17, 3277, 512 * 1024 * 1024, 1_038_309_208].map(formatBytes)).toEqual(['17 bytes', '3.2 KiB', '512.0 MiB', '990.2 MiB'])
  })
})
