/**
 * Property-based conformance of ChainSync (draft-dohmeyer-chainsync-03 §1, §6): real nodes over TCP whose writes are
 * randomly delayed (and re-chunked), n = 2, 5, 12. The pure state machine's properties: test/protocol/property.test.ts.
 */
import {randomUUID} from 'node:crypto'

import fc from 'fast-check'
import {describe, expect, it} from 'vitest'

import type {ChainSyncNode} from '../../../src/protocol/node.js'
import {checkTrace, driveRound, prng, startChain} from './support/chain.js'
import {delayingTransport} from './support/delaying.js'

describe('property: real nodes over TCP with randomly delayed, re-chunked writes (draft §6)', () => {
  it('orders tasks Head→Tail after the readiness barrier and sends exactly 4(n-1) draft messages (20 runs, n = 2, 5, 12)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          n: fc.constantFrom(2, 5, 12),
          extensions: fc.boolean(),
          mode: fc.constantFrom('whole' as const, 'rechunk' as const),
          // Begin the round while the links are still coming up (lines queue and follow the greeting).
          background: fc.boolean(),
          seed: fc.noShrink(fc.integer()),
          readyMs: fc.array(fc.nat({max: 40}), {minLength: 12, maxLength: 12}),
          taskMs: fc.array(fc.nat({max: 15}), {minLength: 12, maxLength: 12}),
        }),
        async ({n, extensions, mode, background, seed, readyMs, taskMs}) => {
          const rand = prng(seed)
          let nodes: ChainSyncNode[] = []
          try {
            nodes = await startChain({
              names: Array.from({length: n}, (_, i) => `p${i + 1}`),
              common: {extensions, heartbeatMs: 1000},
              background,
              perNode: () => ({transport: delayingTransport(rand, {maxDelayMs: 5, mode})}),
            })
            const roundId = randomUUID()
            const draftReceived: string[] = []
            for (const node of nodes) node.on('received', ({line}) => /^(READY|START|COMPLETE)(:|$)/.test(line) && draftReceived.push(line))
            const trace = await driveRound(nodes, roundId, {readyMs: (i) => readyMs[i]!, taskMs: (i) => taskMs[i]!})
            expect(checkTrace(trace, n)).toBeUndefined()
            expect(nodes.reduce((sum, node) => sum + node.draftMessagesSent(roundId), 0)).toBe(4 * (n - 1))
            // Nothing was lost or received twice: every draft line sent arrived exactly once.
            expect(draftReceived).toHaveLength(4 * (n - 1))
            for (const node of nodes) expect(node.round(roundId)).toMatchObject({state: 'COMPLETE', exited: true, aborted: undefined})
          } finally {
            await Promise.all(nodes.map((node) => node.close()))
          }
        },
      ),
      {numRuns: 20},
    )
  })
})
