import {Writable} from 'node:stream'
import {setImmediate as turn} from 'node:timers/promises'
import {stripVTControlCharacters} from 'node:util'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {RunEvents} from '../../src/model/events.js'
import {attachListrReporter} from '../../src/ui/listr.js'
import {until} from '../helpers/fake-clock.js'
import {RESULT, RUN, RUN_ID, replay} from './run-events.js'

const COLUMNS = 100

/** A terminal as listr2 sees it: a TTY stream with a width, that keeps everything written to it. */
class FakeTty extends Writable {
  readonly isTTY = true
  readonly columns = COLUMNS
  readonly rows = 40
  readonly chunks: string[] = []

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (error?: Error | null) => void): void {
    this.chunks.push(chunk.toString())
    cb()
  }

  get text(): string {
    return this.chunks.join('')
  }
}

/**
 * What the terminal shows at the end: log-update erases its last live frame (`ESC[2K` per line) and listr2 then
 * writes the final frame below it, so the final frame is what follows the last erase, without escape codes.
 */
function finalFrame(written: string): string {
  const lastErase = written.lastIndexOf('\x1b[2K')
  return stripVTControlCharacters(written.slice(lastErase === -1 ? 0 : lastErase)).replace(/[ \t]+$/gm, '')
}

/*
 * listr2 9 picks its renderer from `process.stdout.isTTY` (the default renderer only on a TTY, else the simple one)
 * and wraps titles at `process.stdout.columns`, whatever stream it draws on: chainup draws on process.stdout, which
 * is a TTY whenever it uses listr2 at all (ui/run-ui.ts). Here the display goes to a FakeTty, and process.stdout
 * (a pipe under vitest) is made to look like the same terminal for the duration of each test.
 */
describe('listr2 progress (terminal)', () => {
  const saved = {isTTY: process.stdout.isTTY, columns: process.stdout.columns}
  beforeEach(() => {
    process.stdout.isTTY = true
    process.stdout.columns = COLUMNS
  })
  afterEach(() => {
    process.stdout.isTTY = saved.isTTY
    process.stdout.columns = saved.columns
  })

  it('ends with each device settled: upgraded, skipped as already on target, failed with its last step', async () => {
    const events = new RunEvents()
    const stdout = new FakeTty()
    const stderr = new FakeTty()
    const {done} = attachListrReporter(events, {stdout: stdout as unknown as NodeJS.WriteStream, stderr: stderr as unknown as NodeJS.WriteStream})
    const [started, ...rest] = RUN
    await replay(events, [started!])
    // listr2 is imported lazily: let the display draw every device's row before the devices move, as in a real run
    // (readiness takes a while), so every later event goes through the live display.
    await until(() => ['sw1', 'sw2', 'sw3'].every((d) => stripVTControlCharacters(stdout.text).includes(`${d}      waiting to start`)))
    await replay(events, rest, () => turn())
    await done

    const frame = finalFrame(stdout.text)
    expect(frame).toMatchInlineSnapshot(`
      "⚠ Upgrade lab-stack to 17.09.05 (run 6ab91ddc-43e7-45b9-9e8c-84b1b50cbf98)
        ✔ sw1      upgraded 17.06.05 -> 17.09.05
        ↓ sw2      skipped, already on 17.09.05
        ✖ sw3      failed
          › step "verify version" failed: output does not match /Version 17\\.09\\.05/
      "
    `)
    // Drawn on the given stream only, with the cursor shown again at the end.
    expect(stderr.text).toBe('')
    expect(stdout.text.endsWith('\x1b[?25h')).toBe(true)
  })

  it('settles the devices from the events alone when the whole run is over before listr2 has drawn', async () => {
    const events = new RunEvents()
    const stdout = new FakeTty()
    const stderr = new FakeTty()
    const {done} = attachListrReporter(events, {stdout: stdout as unknown as NodeJS.WriteStream, stderr: stderr as unknown as NodeJS.WriteStream})
    await replay(events, RUN)
    await done
    const frame = finalFrame(stdout.text)
    expect(frame).toContain(`Upgrade lab-stack to 17.09.05 (run ${RUN_ID})`)
    // The first settling event wins (devicePhase upgraded/skipped, else runFinished); no later nodeState redraws it.
    expect(frame).toMatchInlineSnapshot(`
      "⚠ Upgrade lab-stack to 17.09.05 (run 6ab91ddc-43e7-45b9-9e8c-84b1b50cbf98)
        ✔ sw1      upgraded 17.06.05 -> 17.09.05
        ↓ sw2      skipped, already on 17.09.05
        ✖ sw3      failed
          › step "verify version" failed: output does not match /Version 17\\.09\\.05/
      "
    `)
  })

  it('resolves done without drawing anything when the run finishes without having started', async () => {
    const events = new RunEvents()
    const stdout = new FakeTty()
    const {done} = attachListrReporter(events, {stdout: stdout as unknown as NodeJS.WriteStream, stderr: stdout as unknown as NodeJS.WriteStream})
    events.emit('runFinished', {...RESULT, devices: []})
    await done
    expect(stdout.text).toBe('')
  })

  it('draws device text with its control characters and escape sequences escaped (issue #8 §2)', async () => {
    const hostile = '17.06.05;touch${IFS}pwned\x1b]0;owned\x07\x1b[2J\x9b31m\r\x1b[2Kall good'
    const events = new RunEvents()
    const stdout = new FakeTty()
    const stderr = new FakeTty()
    const {done} = attachListrReporter(events, {stdout: stdout as unknown as NodeJS.WriteStream, stderr: stderr as unknown as NodeJS.WriteStream})
    const [started] = RUN
    await replay(events, [started!])
    await until(() => stripVTControlCharacters(stdout.text).includes('sw1      waiting to start'))
    await replay(
      events,
      [
        ['stepStarted', {device: 'sw1', order: 1, action: 'install image', phase: 'upgrade', command: `install add file flash:cat9k_iosxe.${hostile}.SPA.bin`}],
        ['devicePhase', {device: 'sw2', phase: 'ready', detail: `ready, running ${hostile}`}],
        ['devicePhase', {device: 'sw3', phase: 'failed', detail: `sw3: step "bogus" failed: ${hostile}`}],
        ['runFinished', {...RESULT, devices: RESULT.devices.map((d) => (d.name === 'sw1' ? {...d, version_before: hostile} : d))}],
      ],
      () => turn(),
    )
    await done
    // The hostile sequences never reach the terminal raw; their escaped form does.
    for (const raw of ['\x1b]0;owned', '\x07', '\x1b[2J', '\x9b', '\r\x1b[2Kall good']) expect(stdout.text.includes(raw), JSON.stringify(raw)).toBe(false)
    expect(stripVTControlCharacters(stdout.text)).toContain('17.06.05;touch${IFS}pwned\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\r\\x1b[2Kall good')
    expect(stderr.text).toBe('')
  })
})
