import {describe, expect, it} from 'vitest'

import {formatMessage, LineDecoder, MAX_LINE_BYTES, parseMessage} from '../../src/protocol/codec.js'

describe('ChainSync line codec (draft §5)', () => {
  it('parses the draft commands with and without ROUND-ID', () => {
    expect(parseMessage('READY:0b9f4c1e-7c0e-4a59-9a43-1d1f1f4d9a10')).toEqual({command: 'READY', roundId: '0b9f4c1e-7c0e-4a59-9a43-1d1f1f4d9a10'})
    expect(parseMessage('START')).toEqual({command: 'START', roundId: undefined})
    expect(parseMessage('COMPLETE:r1\r')).toEqual({command: 'COMPLETE', roundId: 'r1'})
  })

  it('round-trips every message kind', () => {
    for (const m of [
      {command: 'READY', roundId: 'r'},
      {command: 'START', roundId: undefined},
      {command: 'HELLO', node: 'sw1'},
      {command: 'EXECUTING', roundId: 'r'},
      {command: 'ABORT', roundId: 'r', reason: 'predecessor sw2 did not complete: timeout'},
    ] as const) {
      expect(parseMessage(formatMessage(m).slice(0, -1))).toEqual(m)
    }
  })

  it.each([
    ['unknown command', 'JUMP:r1', /unknown command/],
    ['lower case', 'ready:r1', /unknown command/],
    ['bad round id', 'READY:r 1', /bad ROUND-ID/],
    ['non-ASCII', 'READY:r\u00e91', /non-ASCII/],
    ['control byte', 'START:\u0000', /non-printable/],
    ['HELLO without name', 'HELLO', /node name/],
    ['too long', 'READY:' + 'a'.repeat(MAX_LINE_BYTES), /longer than/],
  ])('refuses %s', (_name, line, message) => {
    expect(() => parseMessage(line)).toThrow(message)
  })

  it('reassembles lines split across reads and splits merged reads', () => {
    const d = new LineDecoder()
    expect(d.push('REA').lines).toEqual([])
    expect(d.push('DY:r1\nSTA').lines).toEqual(['READY:r1'])
    expect(d.push('RT:r1\nCOMPLETE:r1\n').lines).toEqual(['START:r1', 'COMPLETE:r1'])
  })

  it('reports an overlong line once and resynchronises at the next LF', () => {
    const d = new LineDecoder()
    const first = d.push(Buffer.alloc(MAX_LINE_BYTES + 10, 0x41))
    expect(first.overflow).toBe(true)
    expect(d.push('AAAA\nREADY:r1\n')).toEqual({lines: ['READY:r1'], overflow: false})
  })
})
