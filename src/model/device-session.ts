/**
 * The port through which chainup talks to a device: one command at a time, output as text. `device/ssh-session.ts`
 * implements it over SSH exec; the gate engine and tests use only this interface (a test may pass anything that
 * satisfies it, e.g. a tiny in-memory device).
 */

export interface ExecResult {
  /** stdout and stderr as the device printed them, CRLF normalised to LF. */
  output: string
  /** The exit status, or undefined when the channel closed without one (dropped connection). */
  exitCode: number | undefined
  /** The connection dropped before the command finished (expected after a reload). */
  dropped: boolean
}

/** A session with one device; `device/ssh-session.ts` `SshDeviceSession` satisfies it. */
export interface DeviceSession {
  /**
   * Runs one command.
   * @param timeoutMs a command still running after this many ms is abandoned (its channel closed)
   * @throws CommandTimeoutError past timeoutMs; SessionClosedError when the session is already gone
   */
  exec(command: string, timeoutMs: number): Promise<ExecResult>
  /** Closes the connection; idempotent. */
  close(): void
}

