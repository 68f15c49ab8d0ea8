/**
 * Docs that run (issue #13): every code block of README.md and docs/*.md is checked here, file by file, in document
 * order: shell blocks run against the built-in lab in a temporary directory (exit code and output checked), YAML
 * inventories and playbooks (whole or fragments) are loaded by `chainup validate`'s loader, JSON parses, and the rest is
 * an illustration with a stated reason. Syntax: docs/docs-tests.md. A failing block names its FILE:LINE.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ROOT} from '../helpers/lab-stack.js'
import {classify, extractBlocks} from './support/blocks.js'
import {DocSession} from './support/session.js'

const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]

for (const file of files) {
  const blocks = extractBlocks(file, readFileSync(join(ROOT, file), 'utf8'))
  describe(file, () => {
    let session: DocSession | undefined
    beforeAll(async () => {
      session = await DocSession.open(ROOT)
    })
    afterAll(async () => {
      await session?.close()
    })
    it('every code block says how it is checked', () => {
      const problems = blocks.flatMap((block) => {
        try {
          classify(block)
          return []
        } catch (error) {
          return [(error as Error).message]
        }
      })
      expect(problems).toEqual([])
    })
    for (const block of blocks) {
      let title: string
      try {
        const check = classify(block)
        title = `${file}:${block.line} ${block.lang} ${check.kind === 'illustration' ? `(illustration: ${check.reason})` : check.kind}`
      } catch {
        title = `${file}:${block.line} ${block.lang}`
      }
      it(title, async (ctx) => {
        const outcome = await session!.check(block, classify(block))
        if (outcome.status === 'skipped') ctx.skip(outcome.reason)
      }, 240_000)
    }
  })
}
