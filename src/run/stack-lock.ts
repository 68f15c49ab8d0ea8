/** The error a run meets when another run holds its stack's lock, with a hint that says what actually works. */
import {ChainupError, ExitCode} from '../errors.js'

/**
 * Another run of the same stack holds its lock (seed 001 §6.1), exit 4. The hint says what works for that holder
 * (docs/runs.md "One run per stack"): a holder still running on this host is waited for or stopped (and resumed, if
 * its run can be); a holder on another host, or on this host under an earlier name (a restarted container), cannot
 * be checked from here, so the hint names the check, then `chainup unlock STACK --force`, then `chainup resume RUN`
 * only if that run can be resumed.
 */
export class StackLockedError extends ChainupError {
  constructor(
    stack: string,
    holder: {
      runId: string
      pid: number
      hostname: string
      acquiredAt?: string
      liveness?: 'running' | 'gone' | 'unknown'
      resume?: {resumable: true} | {resumable: false; reason: string}
      stateDir?: string
    },
  ) {
    super(`stack ${stack} is being upgraded by run ${holder.runId} (pid ${holder.pid} on ${holder.hostname}${holder.acquiredAt ? `, since ${holder.acquiredAt}` : ''})`, {
      code: 'STACK_LOCKED',
      exitCode: ExitCode.locked,
      hint: StackLockedError.hint(stack, holder),
    })
  }

  private static hint(stack: string, h: ConstructorParameters<typeof StackLockedError>[1]): string {
    const q = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)
    const dir = h.stateDir === undefined ? '' : ` --state-dir ${q(h.stateDir)}`
    const resume = `chainup resume ${q(h.runId)}${dir}`
    const after =
      h.resume === undefined ? `, then, if run ${h.runId} can be resumed: ${resume}` : h.resume.resumable ? `, then continue it with: ${resume}` : `; ${h.resume.reason}, so start a new run afterwards`
    if (h.liveness === 'running') return `that process is still running on this host: wait for it, or stop it (Ctrl-C in its terminal, or kill -INT ${h.pid})${after}`
    if (h.liveness === 'gone') return 'that process is no longer running: run the command again (it takes the lock over)'
    return (
      `chainup cannot check a process on ${h.hostname} from here (if that was this host's name before a restart, e.g. of a container, the process is gone). ` +
      `Make sure pid ${h.pid} on ${h.hostname} no longer runs chainup, then run: chainup unlock ${q(stack)} --force${dir}${after}`
    )
  }
}
