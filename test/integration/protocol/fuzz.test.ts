/**
 * Fuzzing a live ChainSync node over real sockets (docs/chainsync.md "Bad input never changes a node's state").
 *
 * 12,000+ random and mutated lines: random bytes (non-ASCII, control characters), random Unicode, overlong lines
 * (> 1 KiB), valid lines with mutated commands / ROUND-IDs / separators, and well-formed lines that are illegal in
 * the node's state. They are sent
 *   1. pre-greeting, as a stranger dialing the node's listener (one line per connection);
 *   2. post-greeting, as the genuine successor after a proper HELLO (one line per connection, because every
 *      refusal closes the connection), either after the node's HELLO reply or pipelined in the HELLO's segment;
 *   3. post-greeting from the predecessor side (the node dials a scripted predecessor), and a few as its greeting.
 *
 * Excluded, because they are legitimately legal and would change state on purpose: pre-greeting the exact
 * greeting `HELLO:<successor>`; post-greeting from the successor `START` / `START:<round>` and `ABORT:<round>[:…]`
 * (the node is the Head in READY); from the predecessor `READY` / `READY:<round>` and `ABORT:<round>[:…]` (the
 * node is the Tail in SYNC, locally ready) — each with an optional trailing CR. The test counts what it excluded.
 *
 * Every connection must end with exactly one logged refusal carrying a reason; the fuzzed round's snapshot must be
 * unchanged; afterwards the genuine neighbour connects and the round completes.
 * Reproduce a run with FUZZ_SEED=<seed> (printed on failure).
 */
import net from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import {MAX_LINE_BYTES} from '../../../src/protocol/codec.js'
import {ChainSyncNode, type NodeLogEntry} from '../../../src/protocol/node.js'
import {until} from '../../helpers/fake-clock.js'
import {checkTrace, driveRound, prng, rawServer} from './support/chain.js'

const SEED = Number(process.env.FUZZ_SEED ?? 0xc4a1)
const NO_LIMIT = {burst: 1e9, perSecond: 1e9}

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

// --- line generators ---------------------------------------------------------------------------------------

/** Generates fuzz lines (as bytes, never containing LF) for a node whose live round is `round`. */
function fuzzer(seed: number, round: string, names: {self: string; successor: string}) {
  const rand = prng(seed)
  const int = (n: number) => Math.floor(rand() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
  const other = randomUUIDFrom(rand)
  const noLf = (b: number) => (b === 0x0a ? 0x0b : b)
  const bytes = (n: number) => Buffer.from(Array.from({length: n}, () => noLf(int(256))))
  const commands = ['READY', 'START', 'COMPLETE', 'EXECUTING', 'ABORT', 'HELLO', 'HEARTBEAT', 'ROUND']
  // Well-formed lines: most are illegal from a neighbour in the node's state (or name another round), a few are legal.
  const valid = [
    `READY:${round}`, `START:${round}`, `COMPLETE:${round}`, `EXECUTING:${round}`, `ABORT:${round}:operator`, `ABORT:${round}`,
    `ROUND:${round}`, `ROUND:${other}`, 'HEARTBEAT', 'READY', 'START', 'COMPLETE', `HELLO:${names.successor}`, `HELLO:${names.self}`,
    `READY:${other}`, `START:${other}`, `COMPLETE:${other}`, `EXECUTING:${other}`, `ABORT:${other}:x`,
  ]
  const roundIds = [other, round.toUpperCase(), `${round}x`, 'a'.repeat(64), 'a'.repeat(65), '', 'r_1', 'r.1', 'é', '-', round.slice(0, 8), `${round}:${round}`, ' ' + round, round + ' ', '\u0000']
  const separators = [';', '::', ' :', ': ', '=', '', '|', '\t', ',', ':\r', '\u00a0']
  const wrongCommands = ['READ', 'READYY', 'ready', 'Start', 'STARTED', 'COMPLETED', 'ABORTED', 'PING', 'GET / HTTP/1.1', 'HELO', 'HEARTBEATS', 'ROUNDS', 'EXEC', '']
  const controls = [0x00, 0x01, 0x07, 0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x1b, 0x7f, 0x80, 0xff]

  const flipCase = (c: string | undefined) => (c === undefined ? '' : c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase())
  const afterColon = (s: string, f: (colon: number) => string) => f(s.indexOf(':'))
  /** 1–3 random edits: bytes replaced, inserted, deleted, duplicated, case flipped, separators, truncation, padding, ROUND-ID or command swapped. */
  const mutate = (line: string): string => {
    let s = line
    for (let k = 1 + int(3); k > 0; k--) {
      const at = int(s.length + 1)
      const edits = [
        () => s.slice(0, at) + String.fromCharCode(noLf(int(256))) + s.slice(at + 1),
        () => s.slice(0, at) + String.fromCharCode(noLf(int(256))) + s.slice(at),
        () => s.slice(0, at) + s.slice(at + 1),
        () => s + s.slice(at, at + 1 + int(8)),
        () => s.slice(0, at) + flipCase(s[at]) + s.slice(at + 1),
        () => s.replace(':', pick(separators)),
        () => s.slice(0, at),
        () => pick(['', ' ', '\r', '\u0000', '\t']) + s + pick(['', ' ', '\r', '\r\r', '\u0000', ':']),
        () => afterColon(s, (c) => (c === -1 ? `${s}:${pick(roundIds)}` : s.slice(0, c + 1) + pick(roundIds))),
        () => afterColon(s, (c) => pick(wrongCommands) + (c === -1 ? '' : s.slice(c))),
      ]
      s = pick(edits)()
    }
    return s
  }
  const latin1 = (s: string) => Buffer.from(s.replace(/\n/g, '\u000b'), 'latin1')

  /** One fuzz line and its category. */
  return (): {category: string; line: Buffer} => {
    const r = rand()
    if (r < 0.2) return {category: 'random bytes', line: bytes(int(300))}
    if (r < 0.3) {
      const s = Array.from({length: 1 + int(40)}, () => String.fromCodePoint(int(2) ? 0x20 + int(0x2000) : int(0x10ffff - 0xe000) + 0xe000)).join('')
      return {category: 'random unicode', line: Buffer.from(s.replace(/\n/g, ' '), 'utf8')}
    }
    if (r < 0.35) {
      const len = MAX_LINE_BYTES + 1 + int(5000)
      const kind = int(3)
      const s = kind === 0 ? 'A'.repeat(len) : kind === 1 ? `ABORT:${round}:${'x'.repeat(len)}` : `${pick(valid)}${' '.repeat(len)}`
      return {category: 'overlong', line: latin1(s)}
    }
    if (r < 0.45) {
      const s = pick(valid)
      const at = int(s.length + 1)
      return {category: 'control characters', line: Buffer.concat([latin1(s.slice(0, at)), Buffer.from([pick(controls)]), latin1(s.slice(at))])}
    }
    if (r < 0.85) return {category: 'mutated valid line', line: latin1(mutate(pick(valid)))}
    if (r < 0.95) return {category: 'valid line (illegal here?)', line: latin1(pick(valid))}
    return {category: 'command salad', line: latin1(Array.from({length: 1 + int(4)}, () => pick(commands)).join(pick([':', '', ' '])) + (int(2) ? `:${round}` : ''))}
  }
}

function randomUUIDFrom(rand: () => number): string {
  const h = () => Math.floor(rand() * 16).toString(16)
  return `${Array.from({length: 8}, h).join('')}-${Array.from({length: 4}, h).join('')}-4${Array.from({length: 3}, h).join('')}-a${Array.from({length: 3}, h).join('')}-${Array.from({length: 12}, h).join('')}`
}

/** The line as the node parses it: one trailing CR removed, bytes as latin1 (one char per byte). */
const asParsed = (line: Buffer) => {
  const s = line.toString('latin1')
  return s.endsWith('\r') ? s.slice(0, -1) : s
}
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

// --- raw clients (event-driven; no polling, so thousands of connections stay fast) --------------------------

/** Dials, optionally greets (waiting for `waitReply` first unless pipelined), sends `payload`; resolves when the node closes. */
function oneShot(port: number, opts: {hello?: string; waitReply?: string; payload: Buffer; timeoutMs?: number}): Promise<'closed' | 'open'> {
  return new Promise((resolve) => {
    const s = net.connect({host: '127.0.0.1', port})
    let buf = ''
    let sent = false
    const send = () => {
      if (sent) return
      sent = true
      s.write(opts.payload)
    }
    const timer = setTimeout(() => {
      s.destroy()
      resolve('open')
    }, opts.timeoutMs ?? 3000)
    s.on('connect', () => {
      if (opts.hello === undefined) return send()
      s.write(opts.hello)
      if (opts.waitReply === undefined) send()
    })
    s.on('data', (d: Buffer) => {
      if (sent || opts.waitReply === undefined) return
      buf += d.toString('latin1')
      if (buf.includes(opts.waitReply)) send()
    })
    s.on('error', () => undefined)
    s.on('close', () => {
      clearTimeout(timer)
      resolve('closed')
    })
  })
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({length: concurrency}, async () => {
      while (next < items.length) await fn(items[next++]!)
    }),
  )
}

const SENTINEL = Buffer.from('FUZZ-SENTINEL\n') // always refused (unknown command): closes the link if the fuzz line did not

describe('fuzz: a live node survives 12,000+ random and mutated lines unchanged', () => {
  it(`as a stranger (pre-greeting) and as the genuine successor (post-greeting), seed ${SEED}`, async () => {
    const logs: NodeLogEntry[] = []
    const head = new ChainSyncNode({
      name: 'sw1', listen: {host: '127.0.0.1', port: 0}, successor: {name: 'sw2'}, predecessorTimeoutMs: 30_000,
      reconnectGraceMs: 120_000, connectRateLimit: NO_LIMIT, inboundLimits: {refusalLogBurst: Infinity}, log: (e) => logs.push(e),
    })
    cleanup.push(() => head.close())
    await head.listen()
    const round = randomUUIDFrom(prng(SEED ^ 0x5eed)) // deterministic per seed, so a failing line can be replayed
    head.join(round)
    head.locallyReady(round) // READY: sent READY, waits for START from the successor
    const before = head.round(round)
    const sentBefore = head.draftMessagesSent(round)
    const stateEvents: string[] = []
    head.on('state', (e) => stateEvents.push(JSON.stringify(e)))
    head.on('startTask', (e) => stateEvents.push(`startTask ${e.roundId}`))
    head.on('halted', (e) => stateEvents.push(`halted ${e.reason}`))
    let violations = 0
    head.on('violation', ({reason}) => {
      violations++
      expect(reason.length).toBeGreaterThan(0)
    })
    const next = fuzzer(SEED, round, {self: 'sw1', successor: 'sw2'})
    const categories = new Map<string, number>()
    const excluded: string[] = []

    // 1. Pre-greeting: the first line of a connection from a stranger.
    const pre: Buffer[] = []
    while (pre.length < 6000) {
      const {category, line} = next()
      if (asParsed(line) === 'HELLO:sw2') {
        excluded.push(`pre: ${asParsed(line)}`)
        continue
      }
      categories.set(category, (categories.get(category) ?? 0) + 1)
      pre.push(line)
    }
    const preOpen: string[] = []
    await pool(pre, 32, async (line) => {
      if ((await oneShot(head.address.port, {payload: Buffer.concat([line, Buffer.from('\n')])})) === 'open') preOpen.push(line.toString('latin1').slice(0, 80))
    })
    expect(preOpen).toEqual([])
    const refusals = logs.filter((l) => l.message.startsWith('refused connection from '))
    expect(refusals).toHaveLength(pre.length)
    for (const r of refusals) expect(r.message).toMatch(/^refused connection from 127\.0\.0\.1:\d+: \S.*$/)
    expect(violations).toBe(0)
    expect(head.round(round)).toEqual(before)

    // 2. Post-greeting: the genuine successor's name, then one fuzz line (and the sentinel), one connection each.
    const legalFromSuccessor = new RegExp(`^(START(:${escape(round)})?|ABORT:${escape(round)}(:[\\x20-\\x7e]*)?)$`)
    const post: Buffer[] = []
    while (post.length < 6000) {
      const {category, line} = next()
      if (line.length <= MAX_LINE_BYTES + 1 && legalFromSuccessor.test(asParsed(line))) {
        excluded.push(`post: ${asParsed(line)}`)
        continue
      }
      categories.set(category, (categories.get(category) ?? 0) + 1)
      post.push(line)
    }
    const logsBeforePost = logs.length
    const postOpen: string[] = []
    let pipelined = 0
    for (const [k, line] of post.entries()) {
      const payload = Buffer.concat([line, Buffer.from('\n'), SENTINEL])
      // Every other short line rides in the HELLO's own segment (the node handles it as an early line).
      const pipeline = k % 2 === 0 && line.length <= 1000
      if (pipeline) pipelined++
      const result = await oneShot(head.address.port, {hello: 'HELLO:sw2\n', ...(pipeline ? {} : {waitReply: 'HELLO:sw1\n'}), payload})
      if (result === 'open') postOpen.push(line.toString('latin1').slice(0, 80))
    }
    expect(postOpen).toEqual([])
    const postLogs = logs.slice(logsBeforePost)
    const closing = postLogs.filter((l) => l.message.startsWith('closing connection to successor: '))
    // Exactly one logged refusal (with a reason) per connection: the fuzz line's, or the sentinel's if the line was harmless.
    expect(closing).toHaveLength(post.length)
    expect(violations).toBe(post.length)
    for (const c of closing) expect(c.message).toMatch(/^closing connection to successor: \S/)
    expect(postLogs.filter((l) => l.message.startsWith('refused connection'))).toEqual([])

    // Nothing moved.
    expect(stateEvents).toEqual([])
    expect(head.round(round)).toEqual(before)
    expect(head.draftMessagesSent(round)).toBe(sentBefore)
    expect(pre.length + post.length).toBeGreaterThanOrEqual(12_000)
    expect(pipelined).toBeGreaterThan(1000)
    expect(categories.get('overlong')).toBeGreaterThan(100)
    // The exclusions are the exact legal lines (verbatim picks of START/ABORT for the round, and mutations that
    // happened to produce one); they stay a small share.
    expect(excluded.length).toBeLessThan((pre.length + post.length) * 0.05)

    // 3. Still healthy: the genuine successor connects and the fuzzed round completes.
    const succ = new ChainSyncNode({name: 'sw2', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'sw1', ...head.address}, predecessorTimeoutMs: 30_000, connectTimeoutMs: 5000})
    cleanup.push(() => succ.close())
    await succ.listen()
    succ.join(round)
    await Promise.all([head.connect(), succ.connect()])
    const trace = await driveRound([head, succ], round, {readyMs: () => 0, taskMs: () => 5}, true)
    // The Head was already locally ready (its 'ready' is before the fuzzing): check order and exits.
    expect(checkTrace([{kind: 'ready', node: 0, at: 0}, ...trace.filter((e) => !(e.kind === 'ready' && e.node === 0))], 2)).toBeUndefined()
    expect(head.draftMessagesSent(round) + succ.draftMessagesSent(round)).toBe(4)
  })

  it(`from the predecessor side: after the greeting and as the greeting, seed ${SEED}`, async () => {
    const round = randomUUIDFrom(prng(SEED ^ 0xfeed))
    const next = fuzzer(SEED + 1, round, {self: 'n2', successor: 'n1'})
    const legalFromPredecessor = new RegExp(`^(READY(:${escape(round)})?|ABORT:${escape(round)}(:[\\x20-\\x7e]*)?)$`)
    const post: Buffer[] = []
    const excluded: string[] = []
    while (post.length < 2000) {
      const {line} = next()
      if (line.length <= MAX_LINE_BYTES + 1 && legalFromPredecessor.test(asParsed(line))) excluded.push(asParsed(line))
      else post.push(line)
    }
    const greetings: Buffer[] = []
    while (greetings.length < 25) {
      const {line} = next()
      if (asParsed(line) !== 'HELLO:n1') greetings.push(line)
    }
    // The scripted predecessor: each connection the node dials gets the next fuzz line after a proper HELLO; a few
    // times a fuzz line instead of HELLO (the node backs off, so those are few); when done, a quiet proper link.
    // Overlong lines follow the HELLO a moment later, in their own segment: in the HELLO's segment the node counts
    // them against the greeting ("greeting line too long", a dial failure with backoff) — also a logged refusal,
    // but slow to fuzz in bulk.
    const script: Array<{greeting: Buffer | undefined; line: Buffer | undefined}> = [
      ...post.map((line) => ({greeting: undefined, line})),
      ...greetings.flatMap((g) => [{greeting: g, line: undefined}, {greeting: undefined, line: SENTINEL.subarray(0, -1)}]),
    ]
    let served = 0
    const server = await rawServer((peer) => {
      const step = script[served++]
      void peer.waitLine(/^HELLO:n2$/).then(() => {
        if (!step) return void peer.socket.write('HELLO:n1\n')
        if (step.greeting) return void peer.socket.write(Buffer.concat([step.greeting, Buffer.from('\n')]))
        const rest = Buffer.concat([step.line!, Buffer.from('\n'), SENTINEL])
        if (step.line!.length <= 1000) return void peer.socket.write(Buffer.concat([Buffer.from('HELLO:n1\n'), rest]))
        peer.socket.write('HELLO:n1\n')
        setTimeout(() => peer.socket.write(rest), 2)
      }, () => undefined)
    })
    cleanup.push(() => server.close())
    const logs: NodeLogEntry[] = []
    const tail = new ChainSyncNode({
      name: 'n2', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'n1', host: '127.0.0.1', port: server.port},
      predecessorTimeoutMs: 30_000, reconnectGraceMs: 120_000, log: (e) => logs.push(e),
    })
    cleanup.push(() => tail.close())
    tail.join(round)
    tail.locallyReady(round) // SYNC, waiting for READY from the predecessor
    const before = tail.round(round)
    const stateEvents: string[] = []
    tail.on('state', (e) => stateEvents.push(JSON.stringify(e)))
    tail.on('halted', (e) => stateEvents.push(`halted ${e.reason}`))
    await tail.listen()
    void tail.connect().catch(() => undefined)
    await until(() => served > script.length, 'the script to be played', 30_000)
    const closing = logs.filter((l) => l.message.startsWith('closing connection to predecessor: '))
    const greetingFailures = logs.filter((l) => l.message.startsWith(`dialing predecessor n1 at 127.0.0.1:${server.port}: `))
    // Exactly one logged refusal with a reason per scripted connection: a closed link after the greeting, or a failed
    // greeting (every bad greeting, and rarely an overlong line that still shared the HELLO's segment).
    expect(closing.length + greetingFailures.length).toBe(script.length)
    expect(closing.length).toBeGreaterThanOrEqual(post.length + greetings.length - 20)
    for (const c of closing) expect(c.message).toMatch(/^closing connection to predecessor: \S/)
    expect(greetingFailures.length).toBeGreaterThanOrEqual(greetings.length)
    for (const g of greetingFailures) expect(g.message).toMatch(new RegExp(`^dialing predecessor n1 at 127\\.0\\.0\\.1:${server.port}: \\S`))
    expect(stateEvents).toEqual([])
    expect(tail.round(round)).toEqual(before)
    expect(excluded.length).toBeLessThan(100)
  })
})
