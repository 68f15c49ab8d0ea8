/**
 * Compiles one module of src/ (and what it imports) to JavaScript, for a fixture that runs in its own Node process.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, rmSync} from 'node:fs'
import {join, resolve} from 'node:path'

/** @param module path under src/ without extension, e.g. `protocol/tls` @returns the compiled entry and its cleanup */
export function compileModule(module: string): {entry: string; cleanup: () => void} {
  const root = resolve(import.meta.dirname, '../../../..')
  const out = join(root, 'node_modules', '.cache', `chainup-${module.replace(/\W/g, '-')}-test-${process.pid}`)
  const tsc = join(root, 'node_modules/typescript/bin/tsc')
  const args = [tsc, '--ignoreConfig', join(root, 'src', `${module}.ts`), '--outDir', out, '--rootDir', join(root, 'src')]
  args.push('--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node')
  const entry = join(out, `${module}.js`)
  try {
    execFileSync(process.execPath, args, {cwd: root, stdio: 'pipe'})
  } catch (error) {
    // tsc still emits on type errors (e.g. someone else's file in progress); only a missing output is fatal.
    if (!existsSync(entry)) throw error
  }
  return {entry, cleanup: () => rmSync(out, {recursive: true, force: true})}
}
