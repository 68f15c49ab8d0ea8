/**
 * Issue #8 §6: `chainup node` between two independent draft-only peers (extensions off, plain TCP by opt-in): the
 * draft Head picks its own ROUND-ID (or omits it), its READY starts the round on the chainup node, the node's device
 * (a simulated switch over SSH) is upgraded in its turn, and the node exits by itself once its round is over
 * (draft §6.4), with exit code 0 — before, it joined the round but never exited.
 */
import {randomUUID} from 'node:crypto'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'

import {afterEach, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'

import {nodeCommand} from '../../src/cli/node.js'
import {SimSwitch} from '../../src/lab/sim-switch.js'
import {DraftPeer} from '../integration/protocol/support/draft-peer.js'
import {until} from '../helpers/fake-clock.js'
import {freePorts, ROOT, TEST_PASSWORD} from '../helpers/lab-stack.js'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

describe('chainup node between draft-only peers', () => {
  it.each([
    {headRound: randomUUID(), what: 'a Head with its own ROUND-ID'},
    {headRound: undefined, what: 'a Head omitting the ROUND-ID'},
  ])('$what: the round runs, the device is upgraded in its turn, and the node exits 0 after it', async ({headRound}) => {
    process.env.CHAINUP_TEST_PASSWORD = TEST_PASSWORD
    const dir = mkdtempSync(join(tmpdir(), 'chainup-node-draft-'))
    const [switchPort, nodePort] = await freePorts(2)
    const sim = new SimSwitch({name: 'sw2', host: '127.0.0.1', port: switchPort!, username: 'netops', password: TEST_PASSWORD, version: '17.06.05', extraImages: ['cat9k_iosxe.17.09.05.SPA.bin'], bootTimeMs: 300})
    await sim.start()
    cleanup.push(() => sim.stop())
    const timeline: string[] = []
    const task = {ms: 5, onStart: () => undefined, onFinish: () => undefined}
    const omit = headRound === undefined
    const head = new DraftPeer('head', headRound ?? '', false, true, task, omit, timeline)
    const tail = new DraftPeer('tail', headRound ?? '', true, false, task, omit, timeline)
    cleanup.push(() => (head.close(), tail.close()))
    await head.listen()
    const inventory = join(dir, 'stack.yml')
    const fingerprint = sim.hostKeyFingerprint
    writeFileSync(
      inventory,
      stringify({
        stack: 'draft-stack',
        playbook: join(ROOT, 'playbooks/ios-xe-install.yml'),
        target: {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'},
        ssh: {username: 'netops', password_env: 'CHAINUP_TEST_PASSWORD'},
        timeouts: {settle: 'PT0S', command: 'PT10S', boot: 'PT20S', predecessor: 'PT60S', gate: 'PT10S', connect: 'PT5S'},
        chainsync: {extensions: false, insecure_plain_tcp: true, connect_timeout: 'PT10S'},
        devices: [
          {name: 'head', host: '127.0.0.1', port: 1, host_key: fingerprint, node: `127.0.0.1:${head.port}`, remote: true},
          {name: 'sw2', host: '127.0.0.1', port: switchPort, host_key: fingerprint, node: `127.0.0.1:${nodePort}`},
          {name: 'tail', host: '127.0.0.1', port: 2, host_key: fingerprint, node: '127.0.0.1:3', remote: true},
        ],
      }),
    )
    const lines: string[] = []
    const stdout = new Writable({write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb())})
    const stop = new AbortController()
    cleanup.push(() => stop.abort('test over'))
    const node = nodeCommand({inventoryPath: inventory, device: 'sw2', stateDir: join(dir, 'state'), stdout, signal: stop.signal})
    tail.dial(nodePort!)
    await until(() => head.connected && tail.connected, 'the draft peers to connect to the node', 10_000)
    head.locallyReady()
    tail.locallyReady()

    expect(await node, lines.join('')).toBe(0)
    expect(stop.signal.aborted).toBe(false)
    // The node's last line, COMPLETE to the Head, was delivered although the node closed right after sending it.
    await until(() => head.exited && tail.exited, 'the draft peers to exit', 5000)
    expect(head.errors).toEqual([])
    expect(tail.errors).toEqual([])
    // sw2 was upgraded between the Head's task and the Tail's.
    expect(sim.events.filter((e) => e.type === 'install_started').length).toBe(1)
    const id = headRound === undefined ? '' : `:${headRound}`
    expect(timeline.indexOf('head finished its task')).toBeLessThan(timeline.indexOf(`tail got COMPLETE${id} from pred`))
    expect(lines.join('')).toMatch(/node closed after round \(exit 0\)/)
  })
})
