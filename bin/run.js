#!/usr/bin/env node
import {execute} from '@oclif/core'

// A failure nothing caught (a rejected promise, a throw in a callback) prints one line naming the journal and exits 1.
const {installProcessHandlers} = await import('../dist/src/cli/base.js')
installProcessHandlers()

await execute({dir: import.meta.url})
