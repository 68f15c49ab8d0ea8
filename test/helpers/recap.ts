/** The recap that ends a run's stderr (src/ui/recap.ts, issue #13), as tests read it. */
import {expect} from 'vitest'

/** Without a TTY every recap line carries the plain lines' stamp (`<ISO time> - `); this checks it and strips it. */
const RECAP_STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z - /

/** @returns the recap's lines from `RECAP run|fleet` to the end, each checked for its stamp and without it */
export function recapLines(stderr: string, kind: 'run' | 'fleet'): string[] {
  const lines = stderr.trimEnd().split('\n')
  const start = lines.findIndex((l) => l.includes(` - RECAP ${kind} `))
  expect(start, stderr).toBeGreaterThanOrEqual(0)
  return lines.slice(start).map((l) => {
    expect(l).toMatch(RECAP_STAMP)
    return l.replace(RECAP_STAMP, '')
  })
}
