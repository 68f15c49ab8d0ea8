/**
 * Image staging in readiness (docs/staging.md), whole runs against simulated switches (real SSH servers on
 * loopback, ssh2's Server): SCP and SFTP copies to flash:, the shared copy limit (observed from the simulators' own
 * event logs), the skip of an image already there with the right digest, a corrupt copy and too little space (the
 * device is not ready: nothing reloads), an interrupted copy retried from scratch, and the progress lines.
 */
import {createHash, randomBytes} from 'node:crypto'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'

import {parse, stringify} from 'yaml'
import {afterEach, describe, expect, it} from 'vitest'

import {loadStack} from '../../../src/config/load.js'
import type {LabFault} from '../../../src/config/types.js'
import type {HostKeySource} from '../../../src/device/known-hosts.js'
import {FLASH_HIDDEN_USED_BYTES, flashFileSize, pkgNames} from '../../../src/lab/ios-output.js'
import {imageName, SimSwitch, type SimEvent} from '../../../src/lab/sim-switch.js'
import {RunEvents, type StagingProgress} from '../../../src/model/events.js'
import type {ChainExecutionResult} from '../../../src/model/result.js'
import {resolveSecrets} from '../../../src/run/secrets.js'
import {runUpgrade} from '../../../src/run/upgrade.js'
import {attachPlainReporter} from '../../../src/ui/plain.js'
import {freePorts, ROOT} from '../../helpers/lab-stack.js'

const PASSWORD = 'Stag1ng-test-pa55'
const IMAGE = 'cat9k_iosxe.17.09.05.SPA.bin'

interface DeviceSpec {
  name: string
  faults?: LabFault[]
  /** Put the image on flash: before the run: with the right digest, or with a wrong one. */
  staged?: 'right' | 'wrong'
  flashTotalBytes?: number
}

interface Fixture {
  dir: string
  sims: SimSwitch[]
  events: RunEvents
  md5: string
  plain: string[]
  progress: StagingProgress[]
  run(): Promise<ChainExecutionResult>
  simEvents(type?: SimEvent['type']): SimEvent[]
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
})

async function stagingStack(spec: {devices: DeviceSpec[]; method?: 'scp' | 'sftp'; concurrency?: number; imageBytes?: number; transfer?: string; attempts?: number}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-staging-'))
  const image = randomBytes(spec.imageBytes ?? 4 * 1024 * 1024)
  writeFileSync(join(dir, 'image.bin'), image)
  const md5 = createHash('md5').update(image).digest('hex')
  const sha512 = createHash('sha512').update(image).digest('hex')
  const shipped = parse(readFileSync(join(ROOT, 'playbooks/ios-xe-install.yml'), 'utf8')) as Record<string, unknown>
  const stage = shipped['stage'] as Record<string, unknown>
  writeFileSync(join(dir, 'playbook.yml'), stringify({...shipped, stage: {...stage, method: spec.method ?? 'scp'}}))
  writeFileSync(join(dir, 'known_hosts'), '# checked by fingerprint\n')
  const ports = await freePorts(spec.devices.length)
  writeFileSync(
    join(dir, 'stack.yml'),
    stringify({
      stack: 'staging-stack',
      playbook: './playbook.yml',
      target: {version: '17.09.05', image: IMAGE, image_file: './image.bin'},
      staging: {concurrency: spec.concurrency ?? 4, attempts: spec.attempts ?? 3},
      ssh: {username: 'netops', password_env: 'CHAINUP_STAGING_PASSWORD', known_hosts: './known_hosts'},
      timeouts: {settle: 'PT0S', command: 'PT10S', boot: 'PT10S', predecessor: 'PT30S', gate: 'PT10S', connect: 'PT5S', transfer: spec.transfer ?? 'PT30S'},
      lab: {version: '17.06.05', boot_time: 'PT0.3S'},
      devices: spec.devices.map((d, i) => ({name: d.name, host: '127.0.0.1', port: ports[i]})),
    }),
  )
  const {inventory, playbook} = await loadStack(join(dir, 'stack.yml'))
  const sims = spec.devices.map(
    (d, i) =>
      new SimSwitch({
        name: d.name,
        port: ports[i]!,
        username: 'netops',
        password: PASSWORD,
        version: '17.06.05',
        bootTimeMs: 300,
        installDelayMs: 50,
        faults: d.faults ?? [],
        ...(d.flashTotalBytes === undefined ? {} : {flashTotalBytes: d.flashTotalBytes}),
        ...(d.staged ? {stagedFiles: [{name: IMAGE, size: image.length, md5: d.staged === 'right' ? md5 : 'f'.repeat(32), sha512}]} : {}),
      }),
  )
  cleanups.push(async () => {
    await Promise.all(sims.map((s) => s.stop()))
    rmSync(dir, {recursive: true, force: true})
  })
  for (const s of sims) await s.start()
  const hostKeys = new Map<string, HostKeySource>(sims.map((s, i) => [spec.devices[i]!.name, {kind: 'fingerprint', fingerprint: s.hostKeyFingerprint}]))
  const events = new RunEvents()
  const plain: string[] = []
  const out = new PassThrough()
  out.on('data', (d: Buffer) => plain.push(...d.toString('utf8').split('\n').filter(Boolean)))
  attachPlainReporter(events, out)
  const progress: StagingProgress[] = []
  events.on('stagingProgress', (p) => progress.push(p))
  return {
    dir,
    sims,
    events,
    md5,
    plain,
    progress,
    run: () =>
      runUpgrade({inventory, playbook, secrets: resolveSecrets(inventory, {...process.env, CHAINUP_STAGING_PASSWORD: PASSWORD}), hostKeys, events, stateDir: join(dir, 'state')}),
    simEvents: (type) => sims.flatMap((s) => s.events).filter((e) => type === undefined || e.type === type).sort((a, b) => a.at - b.at),
  }
}

/** The most copies in flight at once, from the simulators' copy_started / copy_finished / copy_failed events. */
function maxConcurrentCopies(events: SimEvent[]): number {
  let now = 0
  let max = 0
  for (const e of events) {
    if (e.type === 'copy_started') max = Math.max(max, ++now)
    else if (e.type === 'copy_finished' || e.type === 'copy_failed') now--
  }
  return max
}

const steps = (r: ChainExecutionResult, device: string, action: string) => r.steps.filter((s) => s.device === device && s.action === action)

describe('image staging in readiness', () => {
  it('copies the image by SCP to three switches in parallel, at most staging.concurrency (2) at once, verifies it, then upgrades', async () => {
    const f = await stagingStack({devices: [{name: 'sw1'}, {name: 'sw2'}, {name: 'sw3'}], concurrency: 2, imageBytes: 16 * 1024 * 1024})
    const result = await f.run()
    expect(result.status, JSON.stringify(result.reason)).toBe('completed')
    expect(result.devices.map((d) => d.status)).toEqual(['upgraded', 'upgraded', 'upgraded'])
    const all = f.simEvents()
    expect(f.simEvents('copy_finished').map((e) => e.device).sort()).toEqual(['sw1', 'sw2', 'sw3'])
    expect(f.simEvents('copy_finished').every((e) => e.detail === `scp ${IMAGE} ${16 * 1024 * 1024} bytes`)).toBe(true)
    expect(maxConcurrentCopies(all)).toBe(2)
    // No device reloads before every device has the image: the first install comes after the last copy.
    const lastCopy = Math.max(...f.simEvents('copy_finished').map((e) => e.at))
    expect(Math.min(...f.simEvents('install_started').map((e) => e.at))).toBeGreaterThanOrEqual(lastCopy)
    for (const sim of f.sims) expect(sim.events.filter((e) => e.type === 'exec').map((e) => e.detail)).toContain(`verify /md5 flash:${IMAGE}`)
    for (const name of ['sw1', 'sw2', 'sw3']) {
      expect(steps(result, name, 'stage: copy image').map((s) => [s.status, s.command])).toEqual([['completed', `scp -t flash:${IMAGE}`]])
      expect(steps(result, name, 'stage: verify image')[0]?.status).toBe('completed')
      expect(steps(result, name, 'stage: copy image')[0]?.phase).toBe('readiness')
    }
    // Progress: events up to 100 % per device, plain lines every 10 %.
    for (const name of ['sw1', 'sw2', 'sw3']) {
      const mine = f.progress.filter((p) => p.device === name)
      expect(mine.at(-1)).toMatchObject({state: 'copied', bytes: 16 * 1024 * 1024, total: 16 * 1024 * 1024})
      const lines = f.plain.filter((l) => l.includes(` ${name} staging ${IMAGE}: `))
      const percents = lines.map((l) => Number(/: (\d+)% /.exec(l)?.[1]))
      expect(percents[0]).toBe(0)
      expect(percents.at(-1)).toBe(100)
      expect(new Set(percents.map((p) => Math.floor(p / 10))).size).toBe(percents.length)
      expect(lines.at(-1)).toMatch(/100% \(16\.0 MiB of 16\.0 MiB\) at \d+\.\d MB\/s$/)
    }
    expect(f.plain.some((l) => /info: image image\.bin \(16\.0 MiB, 16777216 bytes\): md5 [0-9a-f]{32}, sha512 [0-9a-f]{128}/.test(l))).toBe(true)
    // dir flash: lists the staged image and the free space shrank by its size.
    expect(f.sims[0]!.events.some((e) => e.type === 'exec' && e.detail === 'dir flash:')).toBe(true)
  })

  it('copies by SFTP (fastPut) and the device verifies the digest', async () => {
    const f = await stagingStack({devices: [{name: 'sw1'}, {name: 'sw2'}], method: 'sftp'})
    const result = await f.run()
    expect(result.status, JSON.stringify(result.reason)).toBe('completed')
    expect(f.simEvents('copy_finished').map((e) => e.detail)).toEqual([`sftp ${IMAGE} ${4 * 1024 * 1024} bytes`, `sftp ${IMAGE} ${4 * 1024 * 1024} bytes`])
    expect(steps(result, 'sw1', 'stage: copy image')[0]?.command).toBe(`sftp put flash:${IMAGE}`)
    expect(steps(result, 'sw2', 'stage: verify image')[0]?.output).toContain(`verify /md5 (flash:${IMAGE}) = ${f.md5}`)
  })

  it('skips the copy when the image is already there with the right digest, and copies over one with a wrong digest', async () => {
    const f = await stagingStack({devices: [{name: 'sw1', staged: 'right'}, {name: 'sw2', staged: 'wrong'}]})
    const result = await f.run()
    expect(result.status, JSON.stringify(result.reason)).toBe('completed')
    expect(f.simEvents('copy_started').map((e) => e.device)).toEqual(['sw2'])
    expect(steps(result, 'sw1', 'stage: check staged image')[0]?.output).toMatch(/^already staged: its digest matches, no copy needed/)
    expect(steps(result, 'sw1', 'stage: copy image')).toEqual([])
    expect(steps(result, 'sw2', 'stage: check staged image')[0]?.output).toMatch(/^present, but its digest does not match: copying it again/)
    expect(steps(result, 'sw2', 'stage: copy image')[0]?.status).toBe('completed')
  })

  it('a corrupt copy (wrong digest on the device) makes the device not ready: nothing reloads', async () => {
    const f = await stagingStack({devices: [{name: 'sw1'}, {name: 'sw2', faults: ['corrupt_copy']}, {name: 'sw3'}]})
    const result = await f.run()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/sw2 is not ready: .*does not have the image's digest/)
    expect(f.simEvents('install_started')).toEqual([])
    expect(f.simEvents('reload')).toEqual([])
    expect(steps(result, 'sw2', 'stage: verify image')[0]).toMatchObject({status: 'failed'})
    expect(result.devices.map((d) => d.status)).toEqual(['not_started', 'not_started', 'not_started'])
  })

  it('an interrupted copy is retried from scratch and then succeeds', async () => {
    const f = await stagingStack({devices: [{name: 'sw1', faults: ['drop_copy']}], imageBytes: 8 * 1024 * 1024})
    const result = await f.run()
    expect(result.status, JSON.stringify(result.reason)).toBe('completed')
    expect(f.simEvents().filter((e) => e.type.startsWith('copy_')).map((e) => e.type)).toEqual(['copy_started', 'copy_failed', 'copy_started', 'copy_finished'])
    const copies = steps(result, 'sw1', 'stage: copy image')
    expect(copies.map((s) => s.status)).toEqual(['failed', 'completed'])
    expect(copies[0]?.error).toMatch(/connection|closed/i)
    expect(copies[1]?.output).toMatch(/attempt 2 of 3/)
    expect(f.plain.filter((l) => / sw1 warn: copy of cat9k_iosxe\.17\.09\.05\.SPA\.bin interrupted \(attempt 1 of 3\): .*; retrying from scratch in 1\.0s$/.test(l))).toHaveLength(1)
  })

  it('not enough space on flash: makes the device not ready with a clear message, before any copy', async () => {
    // sw2's flash: holds what it has now and 1 MiB more, so the 4 MiB image does not fit.
    const used = ['packages.conf', imageName('17.06.05'), ...pkgNames('17.06.05')].reduce((sum, n) => sum + flashFileSize(n), 0)
    const f = await stagingStack({devices: [{name: 'sw1'}, {name: 'sw2', flashTotalBytes: FLASH_HIDDEN_USED_BYTES + used + 1024 * 1024}]})
    const result = await f.run()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/sw2 is not ready: .*not enough space on flash: for cat9k_iosxe\.17\.09\.05\.SPA\.bin: it needs 4\.0 MiB \(4194304 bytes\), 1\.0 MiB \(1048576 bytes\) free/)
    expect(f.simEvents('copy_started').filter((e) => e.device === 'sw2')).toEqual([])
    expect(f.simEvents('install_started')).toEqual([])
  })

  it('a copy that outlasts timeouts.transfer is abandoned and retried; after staging.attempts the device is not ready', async () => {
    const f = await stagingStack({devices: [{name: 'sw1'}], imageBytes: 64 * 1024 * 1024, transfer: 'PT0.05S', attempts: 2})
    const result = await f.run()
    expect(result.status).toBe('failed')
    expect(result.reason).toMatch(/sw1 is not ready: copying cat9k_iosxe\.17\.09\.05\.SPA\.bin failed \(attempt 2 of 2\): the copy did not finish within 50ms \(timeouts\.transfer\)/)
    expect(steps(result, 'sw1', 'stage: copy image').map((s) => s.status)).toEqual(['failed', 'failed'])
    expect(f.simEvents('copy_finished')).toEqual([])
    expect(f.simEvents('install_started')).toEqual([])
  })
})
