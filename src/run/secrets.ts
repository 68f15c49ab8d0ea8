/**
 * Resolves the secrets an inventory points at (environment variables, files) just before a run.
 * Missing secrets are bad input (exit 2) and nothing is touched. Secret values never enter an error message.
 */
import {readFileSync} from 'node:fs'

import type {Inventory} from '../config/types.js'
import {Credentials} from '../device/ssh-session.js'
import {InputError} from '../errors.js'
import type {TrapTarget} from '../notify/snmp.js'

export interface ResolvedSecrets {
  credentials: Credentials
  trapTargets: TrapTarget[]
  /** Names of the environment variables that hold secrets; gates do not get them. */
  hiddenEnv: string[]
}

/**
 * @param env the environment to read (process.env by default)
 * @param parseKey ssh2's `utils.parseKey`, to check a private key (and its passphrase) before the run
 * @throws InputError (code SECRET_MISSING) naming the variable or file, never its value
 */
export function resolveSecrets(inventory: Inventory, env: NodeJS.ProcessEnv = process.env, parseKey?: (key: Buffer, passphrase?: string) => unknown): ResolvedSecrets {
  const problems: string[] = []
  const {ssh} = inventory
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
    const v = fromEnv(ssh.password_env, 'ssh.password_env')
    if (v !== undefined) secrets.password = v
  }
  if (ssh.password_file) {
    const v = fromFile(ssh.password_file, 'ssh.password_file')
    if (v !== undefined) secrets.password = v.toString('utf8').split(/\r?\n/)[0] ?? ''
  }
  if (ssh.private_key) {
    const v = fromFile(ssh.private_key, 'ssh.private_key')
    if (v !== undefined) secrets.privateKey = v
  }
  if (ssh.passphrase_env) {
    hiddenEnv.push(ssh.passphrase_env)
    const v = fromEnv(ssh.passphrase_env, 'ssh.passphrase_env')
    if (v !== undefined) secrets.passphrase = v
  }
  if (secrets.privateKey && parseKey) {
    // A key that does not parse (or a wrong passphrase) is bad input, found before any device is touched.
    const parsed = parseKey(secrets.privateKey, secrets.passphrase)
    if (parsed instanceof Error) problems.push(`${inventory.file} ssh.private_key: cannot use ${ssh.private_key}: ${parsed.message}`)
  }
  const trapTargets: TrapTarget[] = []
  inventory.snmp.traps.forEach((t, i) => {
    let community = t.community
    if (t.community_env) {
      hiddenEnv.push(t.community_env)
      community = fromEnv(t.community_env, `snmp.traps[${i}].community_env`)
    }
    if (community !== undefined) trapTargets.push({host: t.host, port: t.port, community})
  })
  if (problems.length > 0) {
    throw new InputError(`${inventory.file}: ${problems.length === 1 ? 'a secret is' : `${problems.length} secrets are`} missing`, {
      code: 'SECRET_MISSING',
      problems,
      hint: 'Export the variable in the environment that runs chainup (secrets never go in the inventory).',
    })
  }
  return {credentials: new Credentials(ssh.username, secrets), trapTargets, hiddenEnv}
}

/** The secret values the journal must never store (redacted wherever they appear); values under 4 characters are too common to redact. */
export function secretValues(secrets: ResolvedSecrets): string[] {
  return [secrets.credentials.password, secrets.credentials.passphrase, ...secrets.trapTargets.map((t) => t.community)].filter(
    (v): v is string => typeof v === 'string' && v.length >= 4,
  )
}
