import {homedir} from 'node:os'
import {join, resolve} from 'node:path'

/**
 * The state directory: `--state-dir`, else `$XDG_STATE_HOME/chainup`, else `~/.local/state/chainup`
 * (XDG Base Directory Specification). Results go under `runs/`.
 */
export function stateDirectory(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag)
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state')
  return join(base, 'chainup')
}
