/**
 * The committed OpenAPI 3.1 document (docs/openapi.json) is what `GET /v1/openapi.json` serves: regenerate it with
 * `UPDATE_OPENAPI=1 npx vitest run test/serve/openapi.test.ts` after changing a route or schema.
 */
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {expect, it} from 'vitest'

import {openJournal} from '../../src/journal/journal.js'
import {buildApp} from '../../src/serve/app.js'
import {ROOT} from '../helpers/lab-stack.js'

it('docs/openapi.json is the document the server serves (no drift)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-openapi-'))
  const journal = await openJournal(join(dir, 'state'))
  const {app} = await buildApp({stateDir: join(dir, 'state'), inventoriesDir: dir, tokens: null, lab: false, journal})
  try {
    const res = await app.inject({method: 'GET', url: '/v1/openapi.json'})
    expect(res.statusCode).toBe(200)
    const served = JSON.parse(res.body) as {openapi: string; paths: Record<string, unknown>}
    expect(served.openapi).toBe('3.1.0')
    for (const path of ['/v1/chains/execute', '/v1/councils/execute', '/v1/chains/{stack}/history', '/v1/executions/{id}', '/v1/executions/{id}/tree', '/v1/executions/{id}/events', '/v1/executions/{id}/cancel', '/v1/executions/{id}/resume', '/v1/plan/{inventory}', '/metrics']) {
      expect(served.paths, path).toHaveProperty([path])
    }
    const text = `${JSON.stringify(served, null, 2)}\n`
    const file = join(ROOT, 'docs/openapi.json')
    if (process.env.UPDATE_OPENAPI) writeFileSync(file, text)
    expect(text, 'docs/openapi.json is stale: UPDATE_OPENAPI=1 npx vitest run test/serve/openapi.test.ts').toBe(readFileSync(file, 'utf8'))
  } finally {
    await app.close()
    journal.close()
  }
})
