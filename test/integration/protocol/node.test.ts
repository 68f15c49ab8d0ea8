import {randomUUID} from 'node:crypto'
import net from 'node:net'

import {afterEach, describe, expect, it} from 'vitest'

import {ChainSyncNode, type NodeLogEntry} from '../../../src/protocol/node.js'
import {FakeClock, until} from '../../helpers/fake-clock.js'

const nodes: ChainSyncNode[] = []
const sockets: net.Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await Promise.all(nodes.splice(0).map((n) => n.close()))
})

async function headNode(clock: FakeClock, logs: NodeLogEntry[], reconnectGraceMs = 30_000): Promise<ChainSyncNode> {
  const node = new ChainSyncNode({name: 'sw1', listen: {host: '127.0.0.1', port: 0}, successor: {name: 'sw2'}, predecessorTimeoutMs: 10_000, connectTimeoutMs: 5000, reconnectGraceMs, log: (e) => logs.push(e), clock})
  nodes.push(node)
  await node.listen()
  return node
}

/**
 * Connects a raw socket, writes `text`, resolves when the node closes it. The node's clock stands still meanwhile, so
 * no timer (the HELLO timeout) can be what closed it: the node refused what it read.
 */
async function sendRaw(port: number, text: string | Buffer): Promise<'closed'> {
  let closed = false
  const s = net.connect({host: '127.0.0.1', port}, () => s.write(text))
  sockets.push(s)
  s.on('error', () => undefined)
  s.on('close', () => (closed = true))
  s.resume()
  await until(() => closed, 'the node to close the connection')
  return 'closed'
}

describe('ChainSync node: bad input never crashes a node or changes its state', () => {
  it.each([
    ['a greeting from the wrong node', 'HELLO:intruder\n', /HELLO from "intruder", expected successor "sw2"/],
    ['no greeting', 'READY:abc\n', /expected HELLO, got READY/],
    ['garbage', 'GET / HTTP/1.1\n', /unknown command/],
    ['binary', Buffer.from([0xff, 0xfe, 0x00, 0x0a]), /non-printable or non-ASCII/],
    ['an endless line', 'A'.repeat(5000), /greeting line too long/],
  ])('refuses %s, logs why, and then still accepts the real successor', async (_name, payload, reason) => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const head = await headNode(clock, logs)
    const roundId = randomUUID()
    head.join(roundId)
    expect(await sendRaw(head.address.port, payload)).toBe('closed')
    expect(logs.map((l) => l.message).join('\n')).toMatch(reason)
    expect(head.round(roundId)?.state).toBe('SYNC')

    // The node is healthy: the genuine successor connects and the round runs.
    const succ = new ChainSyncNode({name: 'sw2', listen: {host: '127.0.0.1', port: 0}, predecessor: {name: 'sw1', ...head.address}, predecessorTimeoutMs: 10_000, clock})
    nodes.push(succ)
    await succ.listen()
    await Promise.all([head.connect(), succ.connect()])
    succ.join(roundId)
    const done = new Promise<void>((r) => head.on('exit', () => r()))
    for (const n of [head, succ]) n.on('startTask', () => setImmediate(() => n.taskFinished(roundId)))
    head.locallyReady(roundId)
    succ.locallyReady(roundId)
    await done
  })

  it('an illegal message from a connected successor closes that link, logs it, and leaves the state as it was', async () => {
    const clock = new FakeClock()
    const logs: NodeLogEntry[] = []
    const head = await headNode(clock, logs, 300)
    const roundId = randomUUID()
    head.join(roundId)
    const violations: string[] = []
    head.on('violation', (v) => violations.push(v.reason))
    // START before READY was ever sent: illegal in SYNC.
    expect(await sendRaw(head.address.port, `HELLO:sw2\nSTART:${roundId}\n`)).toBe('closed')
    expect(violations).toEqual(['START from successor in state SYNC'])
    // The state machine did not move.
    expect(head.round(roundId)).toMatchObject({state: 'SYNC', locallyReady: false, aborted: undefined})
    // Nobody reconnects within the grace period: the round fails, exactly when the grace period is over.
    await clock.advance(299)
    expect(head.round(roundId)?.aborted).toBeUndefined()
    await clock.advance(1)
    expect(head.round(roundId)?.aborted).toBe('connection to successor sw2 lost for more than 300ms')
    // A wrong ROUND-ID is refused the same way, in a fresh round.
    const other = randomUUID()
    head.join(other)
    expect(await sendRaw(head.address.port, `HELLO:sw2\nREADY:${randomUUID()}\n`)).toBe('closed')
    expect(violations[1]).toMatch(/unknown ROUND-ID/)
  })
})
