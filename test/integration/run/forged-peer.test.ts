/**
 * Issue #8 §1: a forged successor is refused in every authenticated mode — the embedded default (per-run TLS-PSK),
 * certificates, and a PSK file. An attacker who can reach a node port sends `HELLO:<successor>`, `ROUND` and `START`
 * over plain TCP; the node must not start its task, and the real chain still completes. With the explicit
 * `insecure_plain_tcp` opt-in the same bytes do reach the node (which is why it warns).
 */
import {randomBytes} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {afterEach, beforeAll, describe, expect, it} from 'vitest'

import {loadStack} from '../../../src/config/load.js'
import type {Inventory} from '../../../src/config/types.js'
import {initCerts} from '../../../src/protocol/certs.js'
import {closeChain} from '../../../src/protocol/local-chain.js'
import type {ChainSyncNode} from '../../../src/protocol/node.js'
import {startChainNodes} from '../../../src/run/nodes.js'
import {runTransports} from '../../../src/run/transport.js'
import {until} from '../../helpers/fake-clock.js'

let lab: Inventory
const dir = mkdtempSync(join(tmpdir(), 'chainup-forged-'))
beforeAll(async () => {
  ;({inventory: lab} = await loadStack(resolve(import.meta.dirname, '../../../inventories/lab.yml')))
  await initCerts(join(dir, 'pki'), lab.devices.map((d) => d.name))
  writeFileSync(join(dir, 'psk'), lab.devices.map((d) => `${d.name}: ${randomBytes(32).toString('hex')}`).join('\n') + '\n', {mode: 0o600})
})
let nodes: ChainSyncNode[] = []
afterEach(async () => {
  await closeChain(nodes)
  nodes = []
})
process.on('exit', () => rmSync(dir, {recursive: true, force: true}))

const modes: Array<[string, () => Inventory, string]> = [
  ['embedded default: per-run TLS-PSK', () => lab, 'tls-psk-per-run'],
  ['certificates (chainsync.tls.ca + cert_dir)', () => ({...lab, chainsync: {...lab.chainsync, tls: {ca: join(dir, 'pki', 'ca.crt'), cert_dir: join(dir, 'pki')}}}), 'tls-cert'],
  ['PSK file (chainsync.tls.psk_file)', () => ({...lab, chainsync: {...lab.chainsync, tls: {psk_file: join(dir, 'psk')}}}), 'tls-psk-file'],
]

/** Starts the inventory's nodes as a run does, joins round R on each, and records what each node does. */
async function chain(inventory: Inventory) {
  const links = await runTransports(inventory, inventory.devices.map((d) => d.name))
  const logs: string[] = []
  const byName = await startChainNodes(inventory, {transportFor: links.transportFor, log: (e) => logs.push(`${e.node} ${e.level}: ${e.message}`)})
  nodes = [...byName.values()]
  const started: string[] = []
  const received: string[] = []
  for (const node of nodes) {
    node.on('startTask', () => started.push(node.name))
    node.on('received', ({from, line}) => received.push(`${node.name}<-${from}: ${line}`))
    node.join('R')
  }
  return {links, byName, logs, started, received}
}

/** Sends the attack to a node's port over plain TCP; resolves when the node closed the connection. */
function attack(port: number, lines: string): Promise<string> {
  return new Promise((resolveClosed) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(lines))
    let got = ''
    socket.on('data', (d) => (got += d.toString('latin1')))
    socket.on('error', () => undefined)
    socket.on('close', () => resolveClosed(got))
  })
}

describe('a forged successor (plain TCP HELLO/ROUND/START) against an authenticated chain', () => {
  it.each(modes)('%s: refused, nothing starts, the real round still completes', async (_name, inventory, security) => {
    const {links, byName, logs, started, received} = await chain(inventory())
    expect(links.security).toBe(security)
    const sw1 = byName.get('sw1')!
    await attack(sw1.address.port, 'HELLO:sw2\nROUND:R\nSTART:R\nABORT:R:veto: forged\n')
    await until(() => logs.some((l) => l.startsWith('sw1 warn: refused connection from 127.0.0.1')), 'the refusal to be logged')
    expect(started).toEqual([])
    expect(received).toEqual([])
    expect(sw1.round('R')).toMatchObject({state: 'SYNC'})
    // The genuine chain was not disturbed: readiness, START wave, every task in order, the Head exits.
    const exited = new Promise<void>((r) => sw1.once('exit', () => r()))
    for (const node of nodes) node.on('startTask', ({roundId}) => setImmediate(() => node.taskFinished(roundId)))
    for (const node of nodes) node.locallyReady('R')
    await exited
    expect(started).toEqual(['sw1', 'sw2', 'sw3', 'sw4'])
  })

  it('with chainsync.insecure_plain_tcp the same bytes reach the node (the opt-in is insecure, and says so)', async () => {
    const inventory = {...lab, chainsync: {...lab.chainsync, insecure_plain_tcp: true}}
    const {links, byName, received} = await chain(inventory)
    expect(links.security).toBe('insecure-plain-tcp')
    expect(links.warnings[0]).toMatch(/not authenticated/)
    await attack(byName.get('sw1')!.address.port, 'HELLO:sw2\nROUND:R\nSTART:R\n')
    expect(received.some((l) => l.startsWith('sw1<-successor: '))).toBe(true)
  })
})
