/**
 * The state directory must not be on a network filesystem (docs/journal.md "The state directory must be local"):
 * the mount that holds it is found in /proc/self/mountinfo (a fixture here), and openJournal refuses NFS & co. with
 * exit 2 before it creates the database.
 */
import {existsSync, readFileSync, realpathSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {ExitCode, InputError} from '../../src/errors.js'
import {devNumbers, isNetworkFsType, mountOf, networkFilesystem, parseMountinfo} from '../../src/journal/filesystem.js'
import {JOURNAL_FILE, openJournal} from '../../src/journal/index.js'
import {tmpState} from './helpers.js'

const FIXTURE = readFileSync(join(import.meta.dirname, 'fixtures', 'mountinfo-nfs.txt'), 'utf8')
const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})

describe('mountinfo', () => {
  const mounts = parseMountinfo(FIXTURE)

  it('parses every line: device, unescaped mount point, type and source, with or without optional fields', () => {
    expect(mounts).toHaveLength(11)
    expect(mounts.find((m) => m.device === '0:48')).toEqual({device: '0:48', mountPoint: '/home', fsType: 'nfs4', source: 'fileserver:/export/home'})
    expect(mounts.find((m) => m.device === '0:49')?.mountPoint).toBe('/home/ops/local disk')
    expect(parseMountinfo('garbage\n\n1 2 x:y / / rw - ext4 a b')).toEqual([])
  })

  it('finds the mount of a path by the longest mount point that contains it', () => {
    expect(mountOf('/home/ops/.local/state/chainup', mounts)?.fsType).toBe('nfs4')
    expect(mountOf('/home/ops/local disk/chainup', mounts)?.fsType).toBe('ext4')
    expect(mountOf('/home2/x', mounts)?.mountPoint).toBe('/') // not inside /home
    expect(mountOf('/srv/share/chainup', mounts)?.fsType).toBe('cifs')
    expect(mountOf('/var/lib/chainup', mounts)?.fsType).toBe('xfs')
  })

  it('by device number first: a bind mount of an NFS subdirectory is still NFS', () => {
    expect(mountOf('/var/state/chainup', mounts, {major: 0, minor: 48})?.fsType).toBe('nfs4')
    // the device of the root filesystem, seen through a bind mount: the containing one is chosen
    expect(mountOf('/run/netns/x', mounts, {major: 254, minor: 0})?.mountPoint).toBe('/run/netns')
  })

  it('NFS, SMB/CIFS, 9p and FUSE network filesystems are network filesystems; ext4, xfs, tmpfs, overlay are not', () => {
    for (const t of ['nfs', 'nfs4', 'cifs', 'smb3', '9p', 'fuse.sshfs', 'ceph', 'glusterfs']) expect(isNetworkFsType(t), t).toBe(true)
    for (const t of ['ext4', 'xfs', 'btrfs', 'tmpfs', 'overlay', 'zfs', 'fuse.gocryptfs']) expect(isNetworkFsType(t), t).toBe(false)
  })

  it.runIf(process.platform === 'linux')('the device numbers of a real directory match its line in this host\'s mountinfo', () => {
    const real = realpathSync(import.meta.dirname)
    const mount = mountOf(real, parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), devNumbers(statSync(real, {bigint: true}).dev))
    expect(mount).toBeDefined()
    expect(networkFilesystem(real)).toBeUndefined() // the repository is on a local disk
  })
})

describe('openJournal refuses a state directory on a network filesystem', () => {
  /** A mountinfo in which the state directory's own filesystem (by device number) is `type` from `source`. */
  function mountinfoWith(stateDir: string, type: string, source: string): string {
    const {major, minor} = devNumbers(statSync(stateDir, {bigint: true}).dev)
    return `26 1 254:0 / / rw - ext4 /dev/vda rw\n99 26 ${major}:${minor} / ${realpathSync(stateDir).replace(/ /g, '\\040')} rw,relatime - ${type} ${source} rw\n`
  }

  it('NFS: exit 2, a message naming the directory, type and server; no database is created', async () => {
    const s = tmpState()
    cleanups.push(s.cleanup)
    await openJournal(s.stateDir).then((j) => j.close()) // a local directory opens
    const mountinfo = mountinfoWith(s.stateDir, 'nfs4', 'fileserver:/export/home')
    expect(networkFilesystem(s.stateDir, {mountinfo})).toMatchObject({fsType: 'nfs4', source: 'fileserver:/export/home'})
    const other = join(s.dir, 'on-nfs')
    const error: unknown = await openJournal(other, {mountinfo: mountinfoWith(s.dir, 'nfs', 'srv:/x')}).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(InputError)
    expect((error as InputError).exitCode).toBe(ExitCode.badInput)
    expect((error as InputError).code).toBe('STATE_DIR_NETWORK_FS')
    expect((error as InputError).message).toBe(
      `the state directory ${other} is on a network filesystem, nfs (srv:/x mounted on ${realpathSync(s.dir)}): chainup's journal (SQLite in WAL mode) needs a local filesystem`,
    )
    expect((error as InputError).hint).toMatch(/--state-dir DIR, or XDG_STATE_HOME/)
    expect(existsSync(join(other, JOURNAL_FILE))).toBe(false)
  })

  it('a local filesystem in the same mountinfo opens as usual', async () => {
    const s = tmpState()
    cleanups.push(s.cleanup)
    const j = await openJournal(s.stateDir, {mountinfo: `1 0 0:1 / / rw - ext4 /dev/vda rw\n`})
    cleanups.push(() => j.close())
    expect(existsSync(j.file)).toBe(true)
  })
})
