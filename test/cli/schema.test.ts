/** `chainup schema inventory|playbook` through the built CLI: prints exactly the committed schemas/ files. */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {chainup} from '../helpers/cli.js'
import {ROOT} from '../helpers/lab-stack.js'

describe('chainup schema', () => {
  it.each(['inventory', 'playbook'])('chainup schema %s prints its committed schemas/ file', async (kind) => {
    const run = await chainup(['schema', kind])
    expect(run.code).toBe(0)
    expect(run.stderr).toBe('')
    expect(JSON.parse(run.stdout)).toMatchObject({$schema: 'http://json-schema.org/draft-07/schema#', title: `chainup ${kind}`})
    expect(run.stdout, 'run npm run schemas').toBe(readFileSync(join(ROOT, `schemas/${kind}.schema.json`), 'utf8'))
  })

  it('an unknown kind is bad input (exit 2) naming the kinds', async () => {
    const run = await chainup(['schema', 'inventroy'])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('Expected inventroy to be one of: inventory, playbook')
    expect(run.stdout).toBe('')
  })

  it('without a kind: exit 2', async () => {
    const run = await chainup(['schema'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/Missing 1 required arg/)
  })
})
