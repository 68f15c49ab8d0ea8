/** The run journal (docs/journal.md). */
export {JournalError} from './errors.js'
export {canonicalJson, eventHash, GENESIS_HASH, hashInput} from './hash.js'
export {JOURNAL_FILE, openJournal, type Journal, type OpenJournalOptions} from './journal.js'
export {LATEST_SCHEMA_VERSION} from './migrations.js'
export {JournalEventType} from './projection.js'
export {isSecretKey, redact, redactString} from './redact.js'
export {treeTimeline} from './tree.js'
export * from './types.js'
