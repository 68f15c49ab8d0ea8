/**
 * The live NOC page in a real browser (issue #11): Debian's headless Chromium, driven by playwright-core, opens the
 * page served by `chainup serve` (the real application on 127.0.0.1 with tokens, `--lab`, a real journal), starts a
 * lab upgrade with the page's own button, and checks what a person sees: every device goes from READY to UPGRADED,
 * in chain order; then a stack whose HTTP gate (a real local server) vetoes shows the veto with its reason, as text.
 * Skipped with a message when /usr/bin/chromium is absent (`.ci/run` installs it). `UPDATE_SCREENSHOTS=1` writes
 * docs/noc-page.png and docs/noc-page-veto.png.
 */
import {existsSync, mkdtempSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ROOT} from '../helpers/lab-stack.js'
import {serve, TOKENS, writeInventory, type Served} from '../integration/serve/fixture.js'

const CHROMIUM = '/usr/bin/chromium'
const present = existsSync(CHROMIUM)
if (!present) console.warn(`skipping the NOC page browser test: ${CHROMIUM} is not installed (apt-get install chromium; .ci/run does)`)

const shots = process.env.UPDATE_SCREENSHOTS ? join(ROOT, 'docs') : mkdtempSync(join(tmpdir(), 'chainup-shots-'))

describe.skipIf(!present)('the NOC page in Chromium', () => {
  let s: Served
  let cab: Server
  let browser: import('playwright-core').Browser
  let page: import('playwright-core').Page

  beforeAll(async () => {
    // A change-approval system that says no, with markup in its reason (the page must show it as text).
    cab = createServer((req, res) => {
      req.resume()
      req.on('end', () => res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({decision: 'veto', reason: '<b>CAB</b>: change CHG-7 not approved <img src=x onerror="document.title=1">'})))
    })
    await new Promise<void>((r) => cab.listen(0, '127.0.0.1', r))
    const cabUrl = `http://127.0.0.1:${(cab.address() as AddressInfo).port}/approve`
    s = await serve()
    await writeInventory(s.inventories, 'core-1', {devices: [{name: 'sw1'}, {name: 'sw2'}, {name: 'sw3'}], bootTime: 'PT1S'})
    await writeInventory(s.inventories, 'frozen', {devices: [{name: 'sw1'}, {name: 'sw2'}], gates: {before: [{name: 'change approved', scope: 'stack', http: {url: cabUrl}}]}})
    const {chromium} = await import('playwright-core')
    browser = await chromium.launch({executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true})
    page = await browser.newPage({viewport: {width: 1280, height: 800}})
    await page.goto(`${s.url}/`)
    await page.fill('#token', TOKENS.operator)
    await page.click('#auth button')
    await page.waitForSelector('#inventory option[value="core-1"]', {state: 'attached'})
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await s?.close()
    if (cab) {
      cab.closeAllConnections()
      await new Promise((r) => cab.close(r))
    }
  })

  it('shows a lab upgrade live: every device READY, then UPGRADED in chain order', async () => {
    // Record each change of a device card's status text, as a person watching would see it.
    await page.evaluate(() => {
      const w = window as unknown as {timeline: Array<{device: string; text: string}>}
      w.timeline = []
      const seen = new Map<string, string>()
      const look = () => {
        for (const card of document.querySelectorAll('[data-device]')) {
          const name = card.getAttribute('data-device') as string
          const text = card.querySelector('[data-role=status]')?.textContent ?? ''
          if (seen.get(name) !== text) {
            seen.set(name, text)
            w.timeline.push({device: name, text})
          }
        }
      }
      new MutationObserver(look).observe(document.querySelector('#chain') as Element, {childList: true, subtree: true, characterData: true})
    })
    await page.selectOption('#inventory', 'core-1')
    await page.click('#run')
    await page.waitForFunction(() => document.querySelector('#run-status')?.textContent === 'completed', undefined, {timeout: 120_000})
    const statuses = await page.$$eval('[data-device]', (cards) => cards.map((c) => `${c.getAttribute('data-device')}:${c.querySelector('[data-role=status]')?.textContent}`))
    expect(statuses).toEqual(['sw1:UPGRADED', 'sw2:UPGRADED', 'sw3:UPGRADED'])
    expect(await page.textContent('[data-device="sw3"]')).toContain('17.06.05 → 17.09.05')
    const timeline = await page.evaluate(() => (window as unknown as {timeline: Array<{device: string; text: string}>}).timeline)
    for (const name of ['sw1', 'sw2', 'sw3']) {
      const texts = timeline.filter((t) => t.device === name).map((t) => t.text)
      expect(texts, `${name}: ${texts.join(' → ')}`).toContain('READY')
      expect(texts.indexOf('READY')).toBeLessThan(texts.indexOf('UPGRADED'))
    }
    const upgradedOrder = timeline.filter((t) => t.text === 'UPGRADED').map((t) => t.device)
    expect(upgradedOrder).toEqual(['sw1', 'sw2', 'sw3'])
    // The after gates and the history row.
    expect(await page.$$eval('#gates tbody tr[data-decision="allow"]', (rows) => rows.length)).toBe(3)
    await page.waitForSelector('#history tbody tr td >> text=core-1')
    await page.screenshot({path: join(shots, 'noc-page.png'), fullPage: true})
  }, 180_000)

  it('shows a veto with its reason, as text', async () => {
    await page.selectOption('#inventory', 'frozen')
    await page.click('#run')
    await page.waitForFunction(() => document.querySelector('#run-status')?.textContent === 'vetoed', undefined, {timeout: 60_000})
    const reason = await page.textContent('#run-reason')
    expect(reason).toContain('before gate "change approved" vetoed: <b>CAB</b>: change CHG-7 not approved')
    expect(await page.textContent('#gates tbody tr[data-decision="veto"] .gate-reason')).toContain('<b>CAB</b>: change CHG-7 not approved')
    // Markup from outside stayed text: no element was made from it, no script ran.
    expect(await page.$$eval('#live b, #live img', (els) => els.length)).toBe(0)
    expect(await page.title()).toBe('chainup NOC')
    expect(await page.$$eval('[data-device]', (cards) => cards.map((c) => c.querySelector('[data-role=status]')?.textContent))).toEqual(['NOT STARTED', 'NOT STARTED'])
    await page.screenshot({path: join(shots, 'noc-page-veto.png'), fullPage: true})
  }, 120_000)

  it('filters and pages the history table', async () => {
    await page.selectOption('#status-filter', 'vetoed')
    await page.waitForFunction(() => [...document.querySelectorAll('#history tbody tr')].length === 1)
    expect(await page.textContent('#history tbody tr')).toContain('frozen')
    expect(await page.textContent('#page')).toBe('page 1 of 1 (1 runs)')
    await page.selectOption('#status-filter', '')
    await page.waitForFunction(() => [...document.querySelectorAll('#history tbody tr')].length === 2)
  })
})
