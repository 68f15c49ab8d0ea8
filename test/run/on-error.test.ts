/** run/on-error.ts: DEC-002's on_error decision (docs/decisions.md #4, #5). */
import {describe, expect, it} from 'vitest'

import type {Gate} from '../../src/config/types.js'
import type {GateEvaluation} from '../../src/model/result.js'
import {decideOnError, type OnErrorJudge} from '../../src/run/on-error.js'

const gate: Gate = {kind: 'command', name: 'ticket', run: 'true'}
const judge = (veto: boolean, fenceOpen = false): OnErrorJudge & {env: Array<Record<string, string>>} => {
  const env: Array<Record<string, string>> = []
  return {
    env,
    fenceOpen,
    firstVeto: async (_type, _gates, extraEnv) => {
      env.push(extraEnv)
      return veto ? ({type: 'on_error', name: 'ticket', device: 'sw2', decision: 'veto', reason: 'no'} satisfies GateEvaluation) : undefined
    },
  }
}

describe('decideOnError', () => {
  it('no on_error gate halts (the safe default, draft §9 example 1) without evaluating anything', async () => {
    const j = judge(false)
    expect(await decideOnError(j, [], new Error('boom'), () => undefined)).toBe('halt')
    expect(j.env).toEqual([])
  })

  it('all allow continues; the failure reaches command gates as CHAINUP_ERROR', async () => {
    const j = judge(false)
    expect(await decideOnError(j, [gate], new Error('sw2: step "install image" failed'), () => undefined)).toBe('allow')
    expect(j.env).toEqual([{CHAINUP_ERROR: 'sw2: step "install image" failed'}])
  })

  it('a veto is binding', async () => {
    expect(await decideOnError(judge(true), [gate], new Error('x'), () => undefined)).toBe('veto')
  })

  it('an allow for a device whose reload may be under way (fence open) becomes halt, and says why', async () => {
    const logs: string[] = []
    expect(await decideOnError(judge(false, true), [gate], new Error('x'), (level, m) => logs.push(`${level}: ${m}`))).toBe('halt')
    expect(logs).toEqual(['error: on_error gates allow continuing, but its reload may still be under way: halting instead'])
  })

  it('CHAINUP_ERROR carries what the device printed with its control characters escaped (issue #8 §2)', async () => {
    const j = judge(false)
    const failure = new Error('sw2: step "x" failed: % Invalid input\x1b]0;owned\x07\r\x1b[2Kall good\x9b31m\nsecond line')
    await decideOnError(j, [gate], failure, () => undefined)
    expect(j.env).toEqual([{CHAINUP_ERROR: 'sw2: step "x" failed: % Invalid input\\x1b]0;owned\\x07\\r\\x1b[2Kall good\\x9b31m\\nsecond line'}])
  })
})
