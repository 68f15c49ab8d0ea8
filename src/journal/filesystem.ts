/**
 * Which filesystem the state directory is on, so that the journal refuses a network filesystem (docs/journal.md
 * "The state directory must be local"). SQLite's WAL keeps its index in shared memory (`chainup.db-shm`, mmap'ed),
 * which processes on different NFS clients do not share, and SQLite's file locks are unreliable over network
 * filesystems: two runs could then both take a stack's lock, and the journal could be corrupted.
 *
 * Linux: the mount that holds the directory is found in `/proc/self/mountinfo` by the directory's device number
 * (`st_dev` = the line's `major:minor`; bind mounts and symlinks need nothing special), else by the longest mount
 * point that contains the directory's real path. Elsewhere, or when mountinfo cannot be read, `statfs(2)`'s magic
 * number is checked (Linux values). On other systems nothing is detected.
 */
import {readFileSync, realpathSync, statfsSync, statSync} from 'node:fs'
import {sep} from 'node:path'

/** One line of `/proc/self/mountinfo` (proc(5)), the fields chainup uses. */
export interface MountInfo {
  /** `major:minor` of the filesystem's device (what `stat` reports as `st_dev`). */
  device: string
  /** Where it is mounted, unescaped (`\040` → space). */
  mountPoint: string
  /** e.g. `ext4`, `nfs4`, `fuse.sshfs`. */
  fsType: string
  /** e.g. `server:/export`. */
  source: string
}

/**
 * Filesystem types the journal refuses: NFS, SMB/CIFS, AFS and other network or cluster filesystems, 9p (WSL's
 * Windows drives, VM shares) and FUSE network filesystems. Matched on the type (`fuse.` subtypes by their name).
 */
export const NETWORK_FS_TYPES: ReadonlySet<string> = new Set([
  'nfs',
  'nfs4',
  'cifs',
  'smb3',
  'smbfs',
  'smb2',
  'ncpfs',
  'afs',
  'coda',
  '9p',
  'ceph',
  'glusterfs',
  'lustre',
  'gpfs',
  'ocfs2',
  'gfs2',
  'beegfs',
  'fuse.sshfs',
  'fuse.glusterfs',
  'fuse.cephfs',
  'fuse.s3fs',
  'fuse.rclone',
  'fuse.davfs',
  'davfs',
])

/** statfs(2) `f_type` magic numbers (Linux) of the network filesystems in {@link NETWORK_FS_TYPES}. */
const NETWORK_FS_MAGIC: ReadonlyMap<number, string> = new Map([
  [0x6969, 'nfs'],
  [0x517b, 'smbfs'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x564c, 'ncpfs'],
  [0x5346414f, 'afs'],
  [0x73757245, 'coda'],
  [0x01021997, '9p'],
  [0x00c36400, 'ceph'],
  [0x0bd00bd0, 'lustre'],
  [0x47504653, 'gpfs'],
  [0x7461636f, 'ocfs2'],
  [0x01161970, 'gfs2'],
])

/** Parses `/proc/self/mountinfo` text; lines it cannot read are skipped. */
export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = []
  for (const line of text.split('\n')) {
    // ID PARENT MAJOR:MINOR ROOT MOUNT_POINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPER_OPTIONS
    const fields = line.trim().split(' ')
    const dash = fields.indexOf('-', 6)
    const device = fields[2]
    const mountPoint = fields[4]
    const fsType = dash === -1 ? undefined : fields[dash + 1]
    if (device === undefined || mountPoint === undefined || fsType === undefined || !/^\d+:\d+$/.test(device)) continue
    mounts.push({device, mountPoint: unescapeOctal(mountPoint), fsType, source: unescapeOctal(fields[dash + 2] ?? '')})
  }
  return mounts
}

function unescapeOctal(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
}

/**
 * The mount that holds `path`: the last mount with the path's device number (the one mounted on top), else the
 * longest mount point containing `path`.
 * @param path an absolute, real path (symlinks resolved)
 * @param dev the path's `st_dev`, if known
 */
export function mountOf(path: string, mounts: readonly MountInfo[], dev?: {major: number; minor: number}): MountInfo | undefined {
  if (dev) {
    const id = `${dev.major}:${dev.minor}`
    const byDevice = mounts.filter((m) => m.device === id)
    // Several lines share a device with bind mounts: prefer the one whose mount point contains the path.
    const containing = byDevice.filter((m) => contains(m.mountPoint, path))
    const pick = containing.sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0] ?? byDevice.at(-1)
    if (pick) return pick
  }
  let best: MountInfo | undefined
  for (const m of mounts) {
    if (contains(m.mountPoint, path) && (best === undefined || m.mountPoint.length >= best.mountPoint.length)) best = m
  }
  return best
}

function contains(mountPoint: string, path: string): boolean {
  return mountPoint === '/' || path === mountPoint || path.startsWith(mountPoint.endsWith(sep) ? mountPoint : mountPoint + sep)
}

/** Whether a filesystem type is one the journal refuses (see {@link NETWORK_FS_TYPES}). */
export function isNetworkFsType(fsType: string): boolean {
  return NETWORK_FS_TYPES.has(fsType) || NETWORK_FS_TYPES.has(fsType.replace(/^fuseblk\./, 'fuse.'))
}

/** What {@link networkFilesystem} found: the type and where it is mounted from. */
export interface NetworkFilesystem {
  fsType: string
  /** The mount's source (`server:/export`) and mount point, when mountinfo told them. */
  source?: string
  mountPoint?: string
}

/**
 * The network filesystem `dir` is on, or undefined when it is local (or nothing can be found out).
 * @param dir an existing directory
 * @param opts.mountinfo the text of `/proc/self/mountinfo` to use instead of reading it (tests)
 */
export function networkFilesystem(dir: string, opts: {mountinfo?: string} = {}): NetworkFilesystem | undefined {
  let real = dir
  try {
    real = realpathSync(dir)
  } catch {
    // checked again by whoever creates it
  }
  let text = opts.mountinfo
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/mountinfo', 'utf8')
    } catch {
      text = undefined
    }
  }
  if (text !== undefined) {
    let dev: {major: number; minor: number} | undefined
    try {
      const st = statSync(real, {bigint: true})
      dev = devNumbers(st.dev)
    } catch {
      dev = undefined
    }
    const mount = mountOf(real, parseMountinfo(text), dev)
    if (mount) return isNetworkFsType(mount.fsType) ? {fsType: mount.fsType, source: mount.source, mountPoint: mount.mountPoint} : undefined
  }
  if (process.platform !== 'linux' || opts.mountinfo !== undefined) return undefined
  try {
    const type = NETWORK_FS_MAGIC.get(Number(statfsSync(real).type) >>> 0)
    return type === undefined ? undefined : {fsType: type}
  } catch {
    return undefined
  }
}

/** glibc's `major()`/`minor()` of a Linux `dev_t`. */
export function devNumbers(dev: bigint): {major: number; minor: number} {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n))
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n))
  return {major, minor}
}
