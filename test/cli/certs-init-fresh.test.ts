/**
 * Issue #13: `chainup certs init pki --inventory stack.yml` on an inventory that already names the files it is about to
 * write (`chainsync.tls: {ca: ./pki/ca.crt, cert_dir: ./pki}`), in the order docs/inventory.md gives: write the
 * inventory, run certs init, validate. Before, the loader refused the inventory because ./pki/ca.crt did not exist yet.
 * Through the built CLI in a real temporary directory; only the chainsync.tls files may be missing, every other rule
 * of the inventory still applies.
 */
import {execFile} from 'node:child_process'
import {cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parseDocument} from 'yaml'

import {ROOT} from '../helpers/lab-stack.js'

const NAMES = ['sw1', 'sw2', 'sw3', 'sw4']
const dirs: string[] = []

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/commands/certs/init.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) before the CLI tests')
})
afterAll(() => {
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

/** `chainup ARGS` in `cwd`, as a user would type it there. */
function chainupIn(cwd: string, args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {cwd, env: {...process.env, CI: 'true', NO_COLOR: '1'}, timeout: 60_000}, (error, stdout, stderr) => {
      resolve({code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr})
    })
  })
}

/**
 * A temporary directory with a copy of playbooks/ and inventories/, and `stack.yml`: the lab inventory with its
 * paths relative to the directory and `chainsync.tls` naming ./pki, which does not exist. `edit` changes the YAML.
 */
function stackDir(edit: (doc: ReturnType<typeof parseDocument>) => void = () => undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'chainup-certs-init-'))
  dirs.push(dir)
  cpSync(join(ROOT, 'playbooks'), join(dir, 'playbooks'), {recursive: true})
  cpSync(join(ROOT, 'inventories'), join(dir, 'inventories'), {recursive: true})
  const doc = parseDocument(readFileSync(join(ROOT, 'inventories/lab.yml'), 'utf8'))
  doc.set('playbook', './playbooks/ios-xe-install.yml')
  doc.setIn(['ssh', 'known_hosts'], './inventories/lab_known_hosts')
  doc.set('chainsync', doc.createNode({tls: {ca: './pki/ca.crt', cert_dir: './pki'}}))
  edit(doc)
  writeFileSync(join(dir, 'stack.yml'), doc.toString())
  return dir
}

describe('chainup certs init on an inventory whose chainsync.tls files do not exist yet', () => {
  it('writes the CA and every device certificate, says which fields it used, and validate then passes', async () => {
    const dir = stackDir()
    // The inventory is not valid yet for everything else: the loader still wants the files when a run loads it.
    const before = await chainupIn(dir, ['validate', 'stack.yml'])
    expect(before.code, before.stderr).toBe(2)
    expect(before.stderr).toMatch(/^ {2}stack\.yml:\d+:\d+ chainsync\.tls\.ca: CA certificate not found: \.\/pki\/ca\.crt/m)

    const init = await chainupIn(dir, ['certs', 'init', 'pki', '--inventory', 'stack.yml'])
    expect(init.code, init.stdout + init.stderr).toBe(0)
    expect(init.stderr).toBe('')
    expect(init.stdout).toMatch(/^inventory stack\.yml: stack "lab-stack", devices\[\]\.name: sw1, sw2, sw3, sw4$/m)
    expect(init.stdout).toMatch(/^wrote pki\/ca\.crt, ca\.key and a certificate \+ key for sw1, sw2, sw3, sw4$/m)
    expect(init.stdout).toMatch(/^stack\.yml chainsync\.tls\.ca \.\/pki\/ca\.crt, cert_dir \.\/pki: the files written now; keep pki\/ca\.key offline/m)
    for (const name of NAMES) expect(init.stdout).toMatch(new RegExp(`^ {2}${name}: "([0-9A-F]{2}:){31}[0-9A-F]{2}"$`, 'm'))

    expect(readFileSync(join(dir, 'pki/ca.crt'), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/)
    expect(statSync(join(dir, 'pki/ca.key')).mode & 0o777).toBe(0o600)
    for (const name of NAMES) {
      expect(readFileSync(join(dir, `pki/${name}.crt`), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/)
      expect(statSync(join(dir, `pki/${name}.key`)).mode & 0o777).toBe(0o600)
    }

    const after = await chainupIn(dir, ['validate', 'stack.yml'])
    expect(after.code, after.stderr).toBe(0)
    expect(after.stdout).toMatch(/^stack\.yml: valid inventory for stack lab-stack: sw1 -> sw2 -> sw3 -> sw4/m)
    expect(after.stdout).toMatch(/TLS 1\.3 with mutual certificate authentication \(CA .*\/pki\/ca\.crt\)/)
  })

  it('still refuses a broken inventory with the FILE:LINE:COL list and exit 2, and writes nothing', async () => {
    const dir = stackDir((doc) => {
      doc.setIn(['target', 'version'], 'not a version')
      doc.set('devicez', [])
    })
    const init = await chainupIn(dir, ['certs', 'init', 'pki', '--inventory', 'stack.yml'])
    expect(init.code).toBe(2)
    expect(init.stderr).toMatch(/^Error: stack\.yml: 2 problems$/m)
    expect(init.stderr).toMatch(/^ {2}stack\.yml:\d+:\d+ target\.version: expected a version/m)
    expect(init.stderr).toMatch(/^ {2}stack\.yml:\d+:\d+ devicez: unknown field \(did you mean "devices"\?\)$/m)
    // The missing ./pki files are not among the problems: certs init is about to write them.
    expect(init.stderr).not.toMatch(/chainsync\.tls/)
    expect(existsSync(join(dir, 'pki'))).toBe(false)
  })

  it('still refuses a chainsync.tls path that exists but is of the wrong kind', async () => {
    const dir = stackDir()
    writeFileSync(join(dir, 'pki'), 'a file, not a directory\n')
    const init = await chainupIn(dir, ['certs', 'init', 'certs', '--inventory', 'stack.yml'])
    expect(init.code).toBe(2)
    expect(init.stderr).toMatch(/^ {2}stack\.yml:\d+:\d+ chainsync\.tls\.cert_dir: certificate directory is not a directory: \.\/pki/m)
  })

  it('warns when DIR is not where the inventory looks (chainsync.tls.cert_dir / ca), and says how to fix it', async () => {
    const dir = stackDir()
    const init = await chainupIn(dir, ['certs', 'init', 'certs', '--inventory', 'stack.yml'])
    expect(init.code, init.stderr).toBe(0)
    expect(existsSync(join(dir, 'certs/sw1.crt'))).toBe(true)
    expect(init.stderr).toMatch(
      /^warning: stack\.yml chainsync\.tls\.ca \.\/pki\/ca\.crt, cert_dir \.\/pki: not the files written now, so its nodes will not use them; set chainsync: \{ tls: \{ ca: \.\/certs\/ca\.crt, cert_dir: \.\/certs \} \}, or write them where it points: chainup certs init pki --inventory stack\.yml$/m,
    )
  })

  it('does not relax psk_file: a PSK file certs init does not write must exist (exit 2, nothing written)', async () => {
    const dir = stackDir((doc) => doc.set('chainsync', doc.createNode({tls: {psk_file: './missing.psk'}})))
    const init = await chainupIn(dir, ['certs', 'init', 'pki', '--inventory', 'stack.yml'])
    expect(init.code).toBe(2)
    expect(init.stderr).toMatch(/^ {2}stack\.yml:\d+:\d+ chainsync\.tls\.psk_file: PSK file not found: \.\/missing\.psk/m)
    expect(existsSync(join(dir, 'pki'))).toBe(false)
  })

  it('quotes the paths of the command it suggests, so it can be pasted (an inventory in a directory with a space)', async () => {
    const dir = stackDir()
    const sub = join(dir, 'my stacks')
    cpSync(join(dir, 'playbooks'), join(sub, 'playbooks'), {recursive: true})
    cpSync(join(dir, 'inventories'), join(sub, 'inventories'), {recursive: true})
    cpSync(join(dir, 'stack.yml'), join(sub, 'stack.yml'))
    const init = await chainupIn(dir, ['certs', 'init', 'certs', '--inventory', 'my stacks/stack.yml'])
    expect(init.code, init.stderr).toBe(0)
    const suggested = /write them where it points: (chainup certs init .*)$/m.exec(init.stderr)?.[1]
    expect(suggested).toBe("chainup certs init 'my stacks/pki' --inventory 'my stacks/stack.yml'")
    // Pasted as printed (the shell splits it), it writes where the inventory points.
    const pasted = await new Promise<number>((resolve) => {
      execFile('bash', ['-c', suggested!.replace(/^chainup /, `${JSON.stringify(process.execPath)} ${JSON.stringify(join(ROOT, 'bin/run.js'))} `)], {cwd: dir, env: {...process.env, CI: 'true'}}, (error) => resolve(error ? 1 : 0))
    })
    expect(pasted).toBe(0)
    expect(existsSync(join(sub, 'pki/ca.crt'))).toBe(true)
  })

  it('on an inventory without chainsync.tls, says what to set', async () => {
    const dir = stackDir((doc) => doc.delete('chainsync'))
    const init = await chainupIn(dir, ['certs', 'init', 'pki', '--inventory', 'stack.yml'])
    expect(init.code, init.stderr).toBe(0)
    expect(init.stdout).toMatch(/^stack\.yml has no chainsync\.tls: set chainsync: \{ tls: \{ ca: \.\/pki\/ca\.crt, cert_dir: \.\/pki \} \} in it/m)
  })
})
