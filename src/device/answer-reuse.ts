/**
 * "No command repeated when its answer is already known in the same moment" (issue #12): the facts command (`show
 * version`) is read-only by definition (docs/playbook.md "facts"), and after a reload chainup used to send it four
 * times within a few hundred milliseconds (the boot wait's proof, the `verify version` step, the final facts, the
 * `after` gate). A session wrapped here answers the facts command from the last answer on the same connection when
 * nothing else was sent since and it is at most {@link FACTS_REUSE_MS} old. Any other command (it may change
 * something) forgets the answer; a new connection starts empty, so the baseline read just before a reload (on the
 * task's own fresh connection) always goes to the device.
 */
import type {ExecResult} from '../model/device-session.js'
import type {DeviceConnection, ExecOptions} from './ssh-session.js'

/** How old (ms) an answer of the facts command may be and still count as "the same moment". */
export const FACTS_REUSE_MS = 2000

/**
 * @param factsCommand the playbook's facts command with placeholders expanded, compared exactly
 * @param now the device's clock (ms)
 * @returns a connection with the same behaviour, `exec` answering a repeated facts command from memory
 */
export function reusingFactsAnswers(session: DeviceConnection, factsCommand: string, now: () => number): DeviceConnection {
  let last: {result: ExecResult; at: number} | undefined
  return {
    get isClosed() {
      return session.isClosed
    },
    close: () => session.close(),
    exec: async (command: string, timeoutMs: number, options?: ExecOptions): Promise<ExecResult> => {
      if (command === factsCommand && last !== undefined && now() - last.at <= FACTS_REUSE_MS && !session.isClosed) return last.result
      last = undefined
      const result = await session.exec(command, timeoutMs, options)
      if (command === factsCommand && !result.dropped && (result.exitCode === 0 || result.exitCode === undefined)) last = {result, at: now()}
      return result
    },
  }
}
