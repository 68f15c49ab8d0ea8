/**
 * Opening the journal's database file (docs/journal.md "File, permissions, connection" and "Schema and
 * migrations"): better-sqlite3 loaded lazily, the state directory 0700 and the file 0600 whatever the umask, the
 * connection pragmas (WAL, `synchronous=NORMAL`, foreign keys, a busy timeout), and the missing migrations applied
 * in one IMMEDIATE transaction. Owns {@link JOURNAL_FILE} and {@link OpenJournalOptions}.
 */
import {chmodSync, closeSync, constants, fchmodSync, fstatSync, mkdirSync, openSync, statSync} from 'node:fs'
import {join} from 'node:path'

import {InputError} from '../errors.js'
import {JournalError} from './errors.js'
import {networkFilesystem} from './filesystem.js'
import {LATEST_SCHEMA_VERSION, MIGRATIONS} from './migrations.js'
import type {DatabaseConstructor, Db} from './rows.js'

/** The database file's name inside the state directory. */
export const JOURNAL_FILE = 'chainup.db'

/** Options of {@link openJournal}. */
export interface OpenJournalOptions {
  /** The clock for every timestamp the journal writes. @default () => new Date() */
  now?: () => Date
  /** How long a write waits for another process's write lock before failing with SQLITE_BUSY, ms. @default 5000 */
  busyTimeoutMs?: number
  /**
   * Secret values (passwords, communities …) to blank wherever they would appear in stored text, e.g. echoed
   * in a device's output. Values shorter than 4 characters are ignored. Kept in memory only.
   */
  secrets?: readonly string[]
  /** For tests: the text of `/proc/self/mountinfo` to check the state directory's filesystem against. */
  mountinfo?: string
}

/** An open, migrated connection, and the constructor `verify()` uses for its in-memory replay. */
export interface OpenedDatabase {
  db: Db
  Database: DatabaseConstructor
  /** Absolute path of the database file. */
  file: string
}

/**
 * Opens (creating if needed) `STATE_DIR/chainup.db`: the directory is created 0700, the file 0600 (tightened to
 * 0600 if it was wider, and its `-wal`/`-shm` too); WAL, `synchronous=NORMAL`, foreign keys on, a busy timeout
 * (`busyTimeoutMs`, default 5000 ms); missing migrations applied in one transaction.
 * @throws JournalError `JOURNAL_UNAVAILABLE` (better-sqlite3 cannot load), `JOURNAL_UNREADABLE` (not a database,
 *   no permission), `JOURNAL_TOO_NEW` (written by a newer chainup); InputError `STATE_DIR_NETWORK_FS` (exit 2) when the
 *   state directory is on NFS, SMB or another network filesystem (filesystem.ts)
 */
export async function openDatabase(stateDir: string, options: OpenJournalOptions): Promise<OpenedDatabase> {
  let Database: DatabaseConstructor
  try {
    Database = (await import('better-sqlite3')).default
  } catch (error) {
    throw new JournalError('cannot load the SQLite module (better-sqlite3)', {code: 'JOURNAL_UNAVAILABLE', hint: 'run `npm rebuild better-sqlite3`', cause: error})
  }
  const file = join(stateDir, JOURNAL_FILE)
  let db: Db
  try {
    mkdirSync(stateDir, {recursive: true, mode: 0o700})
    refuseNetworkFilesystem(stateDir, options.mountinfo)
    const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600)
    try {
      if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600)
    } finally {
      closeSync(fd)
    }
    db = new Database(file, {timeout: options.busyTimeoutMs ?? 5000})
  } catch (error) {
    if (error instanceof InputError) throw error
    throw new JournalError(`cannot open the journal ${file}: ${(error as Error).message}`, {code: 'JOURNAL_UNREADABLE', cause: error})
  }
  try {
    db.pragma('journal_mode = WAL')
    // NORMAL in WAL mode: a commit survives a crash of chainup (the WAL is written before the commit returns) but
    // not necessarily a power loss; the writes that must survive that too (reload fences, stack locks, a device's
    // outcome with its COMPLETE, a run's end) commit with FULL (JournalStore.durable; docs/journal.md "Durability").
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')
    migrate(db, file, options.now ?? (() => new Date()))
  } catch (error) {
    db.close()
    if (error instanceof JournalError) throw error
    throw new JournalError(`cannot use the journal ${file}: ${(error as Error).message}`, {code: 'JOURNAL_UNREADABLE', hint: 'is it a chainup journal? use --state-dir to choose another directory', cause: error})
  }
  for (const suffix of ['-wal', '-shm']) tighten(file + suffix)
  return {db, Database, file}
}

/**
 * WAL keeps its index in shared memory that processes on different NFS clients do not share, and SQLite's locks are
 * unreliable over network filesystems (https://sqlite.org/wal.html, https://sqlite.org/useovernet.html): the stack
 * lock and the hash chain rest on both, so the journal refuses such a directory instead of degrading silently.
 */
function refuseNetworkFilesystem(stateDir: string, mountinfo: string | undefined): void {
  const fs = networkFilesystem(stateDir, mountinfo === undefined ? {} : {mountinfo})
  if (!fs) return
  const where = fs.source ? ` (${fs.source} mounted on ${fs.mountPoint})` : ''
  throw new InputError(`the state directory ${stateDir} is on a network filesystem, ${fs.fsType}${where}: chainup's journal (SQLite in WAL mode) needs a local filesystem`, {
    code: 'STATE_DIR_NETWORK_FS',
    hint: 'use a directory on a local disk: --state-dir DIR, or XDG_STATE_HOME (docs/journal.md "The state directory must be local")',
  })
}

function tighten(path: string): void {
  try {
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600)
  } catch {
    // absent, or not ours: SQLite creates -wal/-shm with the database file's mode anyway
  }
}

/** Applies the missing migrations in one IMMEDIATE transaction; refuses a newer schema. */
function migrate(db: Db, file: string, now: () => Date): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`)
  db.transaction(() => {
    const current = (db.prepare(`SELECT COALESCE(MAX(version), 0) AS v FROM schema_version`).get() as {v: number}).v
    if (current > LATEST_SCHEMA_VERSION) {
      throw new JournalError(`the journal ${file} has schema version ${current}, newer than this chainup understands (${LATEST_SCHEMA_VERSION})`, {
        code: 'JOURNAL_TOO_NEW',
        hint: 'upgrade chainup, or use --state-dir to point at another directory',
      })
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue
      db.exec(m.sql)
      db.prepare(`INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`).run(m.version, m.name, now().toISOString())
    }
  }).immediate()
}
