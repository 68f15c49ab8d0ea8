/**
 * The simulator's dialects by playbook `platform` (docs/lab.md "Dialects"). IOS-XE (`ios-xe`, or no platform) is
 * the simulator's own grammar (sim-switch.ts, ios-grammar.ts): {@link dialectFor} returns undefined for it.
 */
import {eosDialect} from './eos.js'
import {junosDialect} from './junos.js'
import {nxosDialect} from './nxos.js'
import {sonicDialect} from './sonic.js'
import type {Dialect} from './types.js'

export type {CommandIO, Dialect, DialectHost} from './types.js'
export {runDialectExec, runDialectShell} from './shell.js'

/** Platforms the lab simulates besides IOS-XE. */
export const DIALECT_PLATFORMS = ['eos', 'junos', 'nxos', 'sonic'] as const

/**
 * A fresh dialect (one per simulated device) for a playbook's `platform`; undefined for `ios-xe`, no platform, or a
 * platform the lab does not know (it then simulates IOS-XE).
 */
export function dialectFor(platform: string | undefined): Dialect | undefined {
  switch (platform?.toLowerCase()) {
    case 'eos':
      return eosDialect()
    case 'junos':
      return junosDialect()
    case 'nxos':
    case 'nx-os':
      return nxosDialect()
    case 'sonic':
      return sonicDialect()
    default:
      return undefined
  }
}
