// Writes oclif.manifest.json (every command's id, flags, args, summary) so that a run loads only the command it
// runs instead of importing every command to list them (issue #12: start-up). What `oclif manifest` does, without
// the oclif CLI's dependencies. Run after tsc (the manifest is built from dist/commands). Not committed: `npm run
// build` (and `prepare`, so `npm ci`) regenerates it, so it cannot go stale.
import {writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {Plugin} from '@oclif/core'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, isRoot: true})
await plugin.load()
writeFileSync(join(root, 'oclif.manifest.json'), JSON.stringify(plugin.manifest, null, 2) + '\n')
console.log(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`)
