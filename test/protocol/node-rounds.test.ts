/** A ChainSync node's rounds without any socket (the node neither listens nor dials). */
import {randomUUID} from 'node:crypto'

import {describe, expect, it} from 'vitest'

import {ChainSyncNode, NODE_LIMITS} from '../../src/protocol/node.js'
import {FakeClock} from '../helpers/fake-clock.js'

describe('ChainSync node: round cap', () => {
  const cap = NODE_LIMITS.maxActiveRounds

  it(`joining more than ${cap} active rounds is refused; a finished or halted round frees its slot`, () => {
    const node = new ChainSyncNode({name: 'cap', listen: {host: '127.0.0.1', port: 0}, predecessorTimeoutMs: 10_000, clock: new FakeClock()})
    const ids = Array.from({length: cap}, () => randomUUID())
    for (const id of ids) node.join(id)
    expect(() => node.join(randomUUID())).toThrow(`node cap: already in ${cap} rounds`)
    // Re-joining a round it is in is not a new round.
    expect(() => node.join(ids[0]!)).not.toThrow()
    node.abort(ids[0]!, 'done with it')
    expect(() => node.join(randomUUID())).not.toThrow()
    expect(() => node.join(randomUUID())).toThrow(/already in/)
  })

  it('a forgotten round no longer counts, and only a finished or halted round can be forgotten', () => {
    const node = new ChainSyncNode({name: 'cap', listen: {host: '127.0.0.1', port: 0}, predecessorTimeoutMs: 10_000, clock: new FakeClock()})
    const live = randomUUID()
    node.join(live)
    node.forget(live)
    expect(node.round(live)).toBeDefined()
    node.abort(live, 'stop')
    node.forget(live)
    expect(node.round(live)).toBeUndefined()
  })
})
