/**
 * `chainup unlock STACK [--force]`: releases a stack's lock (docs/runs.md "One run per stack"). Without `--force` it
 * releases only a lock whose process is gone from this host; a holder still running here, or one on another host
 * (which cannot be checked from here, e.g. a container that restarted under a new host name), needs `--force`. Each
 * release is journaled on the holder's run (`stackUnlocked`: who unlocked, the old holder).
 */
import {ChainupError, ExitCode} from '../errors.js'
import {openJournal} from '../journal/journal.js'
import type {LockHolder} from '../journal/types.js'
import {shellWord} from '../util/shell.js'

export interface UnlockCommandOptions {
  stack: string
  stateDir: string
  force: boolean
}

/** What `chainup unlock` did, as lines for stdout (`lines`) and stderr (`warnings`). */
export interface UnlockOutcome {
  released: boolean
  lines: string[]
  warnings: string[]
}

/**
 * @throws ChainupError `UNLOCK_REFUSED` (exit 4) when the holder may still run and `force` is not set; its hint is
 *   the exact command to run after checking
 */
export async function unlockCommand(opts: UnlockCommandOptions): Promise<UnlockOutcome> {
  const journal = await openJournal(opts.stateDir)
  try {
    const r = journal.unlock(opts.stack, {force: opts.force})
    if (r.holder === null) return {released: false, lines: [`stack ${opts.stack} is not locked; nothing to do`], warnings: []}
    const h = r.holder
    const dir = ` --state-dir ${shellWord(opts.stateDir)}`
    const forced = `chainup unlock ${shellWord(opts.stack)} --force${dir}`
    if (!r.released) {
      if (h.liveness === 'running') {
        throw new ChainupError(`run ${h.runId} (pid ${h.pid} on this host, ${h.hostname}, since ${h.acquiredAt}) holds the lock of stack ${opts.stack} and is still running`, {
          code: 'UNLOCK_REFUSED',
          exitCode: ExitCode.locked,
          hint:
            `stop it instead (Ctrl-C in its terminal, or kill -INT ${h.pid}): a stopped run releases its lock${h.resume.resumable ? ` and chainup resume ${shellWord(h.runId)}${dir} continues it` : ''}. ` +
            `Only if that process must go on without the lock: ${forced}`,
        })
      }
      throw new ChainupError(`the lock of stack ${opts.stack} is held by run ${h.runId}, pid ${h.pid} on ${h.hostname} (since ${h.acquiredAt}); chainup cannot check a process on another host`, {
        code: 'UNLOCK_REFUSED',
        exitCode: ExitCode.locked,
        hint: `make sure pid ${h.pid} on ${h.hostname} no longer runs chainup (if ${h.hostname} was this host's name before a restart, e.g. of a container, it does not), then run: ${forced}`,
      })
    }
    const lines = [`released the lock of stack ${opts.stack} held by run ${h.runId} (pid ${h.pid} on ${h.hostname}, since ${h.acquiredAt}${h.liveness === 'gone' ? '; that process is no longer running' : ''})`]
    if (h.liveness !== 'running') lines.push(nextStep(h, dir))
    const warnings: string[] = []
    if (h.liveness === 'running') warnings.push(`warning: pid ${h.pid} on this host still runs run ${h.runId}; it goes on without the stack's lock`)
    if (!r.journaled) warnings.push(`warning: not journaled: run ${h.runId} is not in the journal ${journal.file}, so there is no run to record the unlock on`)
    return {released: true, lines, warnings}
  } finally {
    journal.close()
  }
}

function nextStep(h: LockHolder, dir: string): string {
  if (h.resume.resumable) return `run ${h.runId} can be continued with: chainup resume ${shellWord(h.runId)}${dir}`
  return `${h.resume.reason}; start a new run to upgrade the stack`
}
