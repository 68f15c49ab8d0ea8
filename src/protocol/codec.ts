/**
 * ChainSync line codec (draft-dohmeyer-chainsync-03 §5): ASCII lines terminated by LF,
 * `<COMMAND>[:<ROUND-ID>]`, plus chainup's extensions (docs/chainsync.md "Extensions").
 * Pure: no I/O. Survives split and merged socket reads.
 */

/** Longest accepted line in bytes, LF excluded (docs/chainsync.md). */
export const MAX_LINE_BYTES = 1024

/** The three commands of draft §5. */
export const DRAFT_COMMANDS = ['READY', 'START', 'COMPLETE'] as const
/** chainup extension commands (only sent when extensions are on). */
export const EXTENSION_COMMANDS = ['HELLO', 'EXECUTING', 'ABORT', 'HEARTBEAT', 'ROUND'] as const
export type DraftCommand = (typeof DRAFT_COMMANDS)[number]
export type ExtensionCommand = (typeof EXTENSION_COMMANDS)[number]
export type Command = DraftCommand | ExtensionCommand

/**
 * One decoded message.
 * - `READY|START|COMPLETE[:<round>]` (draft §5)
 * - `HELLO:<node-name>` the dialer's greeting, names the dialing node (extension)
 * - `EXECUTING:<round>` the sender has started its local task (extension, feeds the successor's predecessor timeout)
 * - `ABORT:<round>:<reason>` the round is halted, pass it on (extension)
 * - `HEARTBEAT` liveness on an idle link (extension)
 * - `ROUND:<round>` a new round exists; a node that has not joined it may (extension, for nodes in other processes)
 */
export type Message =
  | {command: DraftCommand; roundId: string | undefined}
  | {command: 'HELLO'; node: string}
  | {command: 'HEARTBEAT'}
  | {command: 'ROUND'; roundId: string}
  | {command: 'EXECUTING'; roundId: string}
  | {command: 'ABORT'; roundId: string; reason: string}

const ROUND_ID = /^[A-Za-z0-9-]{1,64}$/
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
// Printable ASCII only (0x20-0x7E); CR is tolerated at the end of a line (CRLF peers).
const PRINTABLE = /^[\x20-\x7e]*$/

/** Why a line was refused. */
export class ProtocolError extends Error {
  constructor(message: string, readonly line: string) {
    super(message)
    this.name = 'ProtocolError'
  }
}

/**
 * Parses one line (without its LF).
 * @throws ProtocolError naming what is wrong (unknown command, bad round id, non-ASCII, too long).
 */
export function parseMessage(raw: string): Message {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
  if (line.length > MAX_LINE_BYTES) throw new ProtocolError(`line longer than ${MAX_LINE_BYTES} bytes`, line.slice(0, 80))
  if (!PRINTABLE.test(line)) throw new ProtocolError('line contains non-printable or non-ASCII bytes', line.slice(0, 80))
  const colon = line.indexOf(':')
  const command = colon === -1 ? line : line.slice(0, colon)
  const rest = colon === -1 ? undefined : line.slice(colon + 1)
  switch (command) {
    case 'READY':
    case 'START':
    case 'COMPLETE': {
      if (rest !== undefined && !ROUND_ID.test(rest)) throw new ProtocolError(`bad ROUND-ID in ${command}`, line)
      return {command, roundId: rest}
    }
    case 'HELLO': {
      if (rest === undefined || !NODE_NAME.test(rest)) throw new ProtocolError('HELLO needs a node name', line)
      return {command, node: rest}
    }
    case 'EXECUTING':
    case 'ROUND': {
      if (rest === undefined || !ROUND_ID.test(rest)) throw new ProtocolError(`${command} needs a ROUND-ID`, line)
      return {command, roundId: rest}
    }
    case 'HEARTBEAT': {
      if (rest !== undefined) throw new ProtocolError('HEARTBEAT takes no argument', line)
      return {command}
    }
    case 'ABORT': {
      const sep = rest?.indexOf(':') ?? -1
      const roundId = rest === undefined ? '' : sep === -1 ? rest : rest.slice(0, sep)
      if (!ROUND_ID.test(roundId)) throw new ProtocolError('ABORT needs a ROUND-ID', line)
      const reason = rest !== undefined && sep !== -1 ? rest.slice(sep + 1) : 'aborted'
      return {command, roundId, reason}
    }
    default:
      throw new ProtocolError(`unknown command "${command.slice(0, 32)}"`, line.slice(0, 80))
  }
}

/** Encodes a message as one LF-terminated line. Reasons are cut to fit and stripped of non-printable bytes. */
export function formatMessage(message: Message): string {
  switch (message.command) {
    case 'HELLO':
      return `HELLO:${message.node}\n`
    case 'EXECUTING':
    case 'ROUND':
      return `${message.command}:${message.roundId}\n`
    case 'HEARTBEAT':
      return 'HEARTBEAT\n'
    case 'ABORT': {
      const reason = message.reason.replace(/[^\x20-\x7e]/g, '?').slice(0, 512)
      return `ABORT:${message.roundId}:${reason}\n`
    }
    default:
      return message.roundId === undefined ? `${message.command}\n` : `${message.command}:${message.roundId}\n`
  }
}

/**
 * Splits a byte stream into lines. Feed it every chunk; it returns the complete lines so far.
 * A line over {@link MAX_LINE_BYTES} yields an `overflow` result once and the decoder discards input
 * until the next LF (the caller is expected to close the connection anyway).
 */
export class LineDecoder {
  private buffer = ''
  private overflowed = false

  /** @returns complete lines (without LF) in order, and whether the buffer overflowed. */
  push(chunk: Buffer | string): {lines: string[]; overflow: boolean} {
    // latin1 keeps one char per byte, so non-ASCII bytes stay visible to parseMessage's check.
    this.buffer += typeof chunk === 'string' ? chunk : chunk.toString('latin1')
    const lines: string[] = []
    let overflow = false
    let nl = this.buffer.indexOf('\n')
    while (nl !== -1) {
      const line = this.buffer.slice(0, nl)
      this.buffer = this.buffer.slice(nl + 1)
      if (this.overflowed) this.overflowed = false
      else if (line.length > MAX_LINE_BYTES + 1) overflow = true
      else lines.push(line)
      nl = this.buffer.indexOf('\n')
    }
    if (this.buffer.length > MAX_LINE_BYTES + 1) {
      this.buffer = ''
      this.overflowed = true
      overflow = true
    }
    return {lines, overflow}
  }
}
