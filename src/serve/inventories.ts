/**
 * Which inventories `chainup serve` runs: only files directly under `--inventories DIR`, by name (`lab` or
 * `lab.yml`). A name is refused (never resolved) when it holds a path separator, `..`, a NUL or starts with a dot;
 * the file's real path (symlinks followed) must still be inside the directory's real path.
 */
import {readdirSync, realpathSync, statSync} from 'node:fs'
import {join, sep} from 'node:path'

import {InputError} from '../errors.js'

/** An inventory name: letters, digits, `_`, `-`, `.` (not first), optionally ending in `.yml`/`.yaml`. */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/

/**
 * The absolute path of inventory `name` under `dir`.
 * @throws InputError `INVENTORY_NAME` (the API answers 400) for a name that is not a plain file name, or whose file
 *   resolves outside `dir` (a symlink out of it); `NO_SUCH_INVENTORY` (404) when there is no such file
 */
export function resolveInventory(dir: string, name: string): string {
  if (!NAME.test(name) || name.includes('..')) {
    throw new InputError(`inventory "${name}": only a plain file name under the inventories directory is allowed`, {code: 'INVENTORY_NAME', hint: 'GET /v1/inventories lists them'})
  }
  const root = realpathSync(dir)
  const candidates = /\.ya?ml$/.test(name) ? [name] : [`${name}.yml`, `${name}.yaml`]
  for (const candidate of candidates) {
    let real: string
    try {
      real = realpathSync(join(root, candidate))
    } catch {
      continue
    }
    if (!real.startsWith(root + sep) || real.slice(root.length + 1).includes(sep)) {
      throw new InputError(`inventory "${name}" resolves outside the inventories directory`, {code: 'INVENTORY_NAME'})
    }
    if (!statSync(real).isFile()) continue
    return real
  }
  throw new InputError(`no inventory "${name}" under the inventories directory`, {code: 'NO_SUCH_INVENTORY', hint: 'GET /v1/inventories lists them'})
}

/** The inventory names under `dir` (files ending in .yml/.yaml, without the extension), sorted. */
export function listInventories(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true})
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && /\.ya?ml$/.test(e.name) && NAME.test(e.name))
    .map((e) => e.name.replace(/\.ya?ml$/, ''))
    .filter((n) => {
      try {
        resolveInventory(dir, n)
        return true
      } catch {
        return false
      }
    })
    .sort()
}
