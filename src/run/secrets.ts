/**
 * Resolves the secrets an inventory points at (environment variables, files) just before a run.
 * Missing secrets, and secrets too short to be redacted (under {@link MIN_SECRET_LENGTH} characters), are bad input
 * (exit 2) and nothing is touched. Secret values never enter an error message. A private key, password file or PSK
 * file that group or others may access gives a warning, as OpenSSH's "UNPROTECTED PRIVATE KEY FILE" does.
 */
import {readFileSync, statSync} from 'node:fs'

import type {Inventory} from '../config/types.js'
import {Credentials} from '../device/ssh-session.js'
import {InputError} from '../errors.js'
import {MIN_USM_PASSWORD_LENGTH, type TrapTarget} from '../notify/snmp.js'

export interface ResolvedSecrets {
  credentials: Credentials
  trapTargets: TrapTarget[]
  /** Names of the environment variables that hold secrets; gates do not get them. */
  hiddenEnv: string[]
  /** The read community of `snmp.uptime` (devices' sysUpTime as boot evidence), when configured. */
  uptimeCommunity?: string
  /**
   * One line per secret file that group or others may access (mode & 0o077), naming the file, its mode and the
   * field; for the caller to print before the run. Never contains a secret.
   */
  warnings: string[]
}

/**
 * The shortest secret chainup accepts: shorter values are too common in ordinary text to be redacted from device
 * output, logs and the journal, so they are refused instead of silently left in the clear.
 */
export const MIN_SECRET_LENGTH = 4

/**
 * @param env the environment to read (process.env by default)
 * @param parseKey ssh2's `utils.parseKey`, to check a private key (and its passphrase) before the run
 * @returns the secrets, and `warnings` (secret files group or others may access) for the caller to print
 * @throws InputError (exit 2) naming the variable or file, never its value: `SECRET_MISSING` (unset variable,
 *   unreadable file, a key that does not parse), `SECRET_TOO_SHORT` (under {@link MIN_SECRET_LENGTH} characters; an
 *   SNMPv3 auth/priv password under 8, RFC 3414 USM)
 */
export function resolveSecrets(inventory: Inventory, env: NodeJS.ProcessEnv = process.env, parseKey?: (key: Buffer, passphrase?: string) => unknown): ResolvedSecrets {
  const problems: string[] = []
  const tooShort: string[] = []
  const warnings: string[] = []
  const {ssh} = inventory
  /** Refuses a secret under MIN_SECRET_LENGTH, naming where it came from (never the value). */
  const checkLength = (value: string | undefined, field: string, source: string): string | undefined => {
    if (value === undefined || value.length >= MIN_SECRET_LENGTH) return value
    tooShort.push(`${inventory.file} ${field}: ${source} holds a secret shorter than ${MIN_SECRET_LENGTH} characters, too short to be redacted from output and the journal; use a longer one`)
    return undefined
  }
  /** OpenSSH's check: a secret file must not be accessible by group or others. */
  const checkMode = (file: string, field: string, what: string): void => {
    if (process.platform === 'win32') return
    try {
      const mode = statSync(file).mode & 0o777
      if ((mode & 0o077) !== 0) {
        warnings.push(`warning: ${inventory.file} ${field}: ${what} ${file} is accessible by group or others (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${file}`)
      }
    } catch {
      // unreadable files are reported as problems where they are read
    }
  }
  const fromEnv = (name: string, field: string): string | undefined => {
    const value = env[name]
    if (value === undefined || value === '') {
      problems.push(`${inventory.file} ${field}: environment variable ${name} is not set`)
      return undefined
    }
    return value
  }
  const fromFile = (file: string, field: string): Buffer | undefined => {
    try {
      return readFileSync(file)
    } catch (error) {
      problems.push(`${inventory.file} ${field}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`)
      return undefined
    }
  }
  const secrets: {password?: string; privateKey?: Buffer; passphrase?: string} = {}
  const hiddenEnv: string[] = []
  if (ssh.password_env) {
    hiddenEnv.push(ssh.password_env)
    const v = checkLength(fromEnv(ssh.password_env, 'ssh.password_env'), 'ssh.password_env', `environment variable ${ssh.password_env}`)
    if (v !== undefined) secrets.password = v
  }
  if (ssh.password_file) {
    const v = fromFile(ssh.password_file, 'ssh.password_file')
    if (v !== undefined) {
      checkMode(ssh.password_file, 'ssh.password_file', 'password file')
      const password = checkLength(v.toString('utf8').split(/\r?\n/)[0] ?? '', 'ssh.password_file', `the first line of ${ssh.password_file}`)
      if (password !== undefined) secrets.password = password
    }
  }
  if (ssh.private_key) {
    const v = fromFile(ssh.private_key, 'ssh.private_key')
    if (v !== undefined) {
      checkMode(ssh.private_key, 'ssh.private_key', 'private key')
      secrets.privateKey = v
    }
  }
  if (ssh.passphrase_env) {
    hiddenEnv.push(ssh.passphrase_env)
    const v = checkLength(fromEnv(ssh.passphrase_env, 'ssh.passphrase_env'), 'ssh.passphrase_env', `environment variable ${ssh.passphrase_env}`)
    if (v !== undefined) secrets.passphrase = v
  }
  const pskFile = inventory.chainsync.tls?.psk_file
  if (pskFile) checkMode(pskFile, 'chainsync.tls.psk_file', 'PSK file')
  if (secrets.privateKey && parseKey) {
    // A key that does not parse (or a wrong passphrase) is bad input, found before any device is touched.
    const parsed = parseKey(secrets.privateKey, secrets.passphrase)
    if (parsed instanceof Error) problems.push(`${inventory.file} ssh.private_key: cannot use ${ssh.private_key}: ${parsed.message}`)
  }
  const trapTargets: TrapTarget[] = []
  const enterprise = inventory.snmp.enterprise_oid === undefined ? {} : {enterpriseOid: inventory.snmp.enterprise_oid}
  inventory.snmp.traps.forEach((t, i) => {
    const delivery = {...(t.inform ? {inform: true} : {}), ...(t.timeout === undefined ? {} : {timeoutMs: t.timeout}), ...(t.retries === undefined ? {} : {retries: t.retries})}
    if (t.version === 3) {
      // RFC 3414 §11.2: USM passwords of at least 8 characters (Net-SNMP refuses shorter ones too).
      const usmPassword = (name: string, field: string): string | undefined => {
        hiddenEnv.push(name)
        const value = fromEnv(name, field)
        if (value === undefined || value.length >= MIN_USM_PASSWORD_LENGTH) return value
        tooShort.push(`${inventory.file} ${field}: environment variable ${name} holds an SNMPv3 password shorter than ${MIN_USM_PASSWORD_LENGTH} characters (RFC 3414 USM needs at least ${MIN_USM_PASSWORD_LENGTH}); use a longer one`)
        return undefined
      }
      if (!t.user || !t.auth || !t.priv) return // the loader refuses such a receiver
      const authPassword = usmPassword(t.auth.password_env, `snmp.traps[${i}].auth.password_env`)
      const privPassword = usmPassword(t.priv.password_env, `snmp.traps[${i}].priv.password_env`)
      if (authPassword === undefined || privPassword === undefined) return
      trapTargets.push({
        host: t.host,
        port: t.port,
        version: 3,
        user: t.user,
        authProtocol: t.auth.protocol,
        authPassword,
        privProtocol: t.priv.protocol,
        privPassword,
        ...(t.engine_id === undefined ? {} : {engineId: t.engine_id}),
        ...delivery,
        ...enterprise,
      })
      return
    }
    let community = checkLength(t.community, `snmp.traps[${i}].community`, 'the inventory')
    if (t.community_env) {
      hiddenEnv.push(t.community_env)
      const field = `snmp.traps[${i}].community_env`
      community = checkLength(fromEnv(t.community_env, field), field, `environment variable ${t.community_env}`)
    }
    if (community !== undefined) trapTargets.push({host: t.host, port: t.port, community, ...delivery, ...enterprise})
  })
  let uptimeCommunity: string | undefined
  if (inventory.snmp.uptime) {
    const name = inventory.snmp.uptime.community_env
    hiddenEnv.push(name)
    uptimeCommunity = checkLength(fromEnv(name, 'snmp.uptime.community_env'), 'snmp.uptime.community_env', `environment variable ${name}`)
  }
  if (problems.length > 0) {
    throw new InputError(`${inventory.file}: ${problems.length === 1 ? 'a secret is' : `${problems.length} secrets are`} missing`, {
      code: 'SECRET_MISSING',
      problems: [...problems, ...tooShort],
      hint: 'Export the variable in the environment that runs chainup (secrets never go in the inventory).',
    })
  }
  if (tooShort.length > 0) {
    throw new InputError(`${inventory.file}: ${tooShort.length === 1 ? 'a secret is' : `${tooShort.length} secrets are`} shorter than ${MIN_SECRET_LENGTH} characters`, {
      code: 'SECRET_TOO_SHORT',
      problems: tooShort,
      hint: `Secrets of fewer than ${MIN_SECRET_LENGTH} characters cannot be told apart from ordinary text, so chainup could not keep them out of its output and journal.`,
    })
  }
  return {credentials: new Credentials(ssh.username, secrets), trapTargets, hiddenEnv, warnings, ...(uptimeCommunity === undefined ? {} : {uptimeCommunity})}
}

/** The secret values the journal must never store (redacted wherever they appear); shorter ones were refused by {@link resolveSecrets}. */
export function secretValues(secrets: ResolvedSecrets): string[] {
  const snmp = secrets.trapTargets.flatMap((t) => (t.version === 3 ? [t.authPassword, t.privPassword] : [t.community]))
  return [secrets.credentials.password, secrets.credentials.passphrase, ...snmp, secrets.uptimeCommunity].filter(
    (v): v is string => typeof v === 'string' && v.length >= MIN_SECRET_LENGTH,
  )
}
