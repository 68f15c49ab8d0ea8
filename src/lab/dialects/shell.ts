/**
 * How a dialect's commands reach an SSH channel (docs/lab.md "Dialects"): an exec channel runs one command and
 * ends with its exit status; the PTY shell shows the platform's prompt, echoes what is typed, pages long output
 * with the platform's marker until the screen length is set to 0, and lets a command ask a question (NX-OS
 * `install all`'s "(y/n)?", EOS `reload`'s "[confirm]") and read the answer line.
 */
import type {ServerChannel} from 'ssh2'

import {type CommandIO, crlf, type Dialect, type DialectHost} from './types.js'

/** Writes to a channel until it closes; never throws on a closed channel. */
function writer(ch: ServerChannel): {write: (text: string) => void; closed: () => boolean; exit: (code: number) => void} {
  let closed = false
  ch.on('close', () => {
    closed = true
  })
  ch.on('error', () => {})
  return {
    write: (text) => {
      if (!closed && ch.writable && text !== '') ch.write(text)
    },
    closed: () => closed,
    exit: (code) => {
      if (closed) return
      closed = true
      ch.exit(code)
      ch.end()
    },
  }
}

/** Runs one command line on an exec channel: output, then the exit status. A question is never answered. */
export function runDialectExec(ch: ServerChannel, line: string, dialect: Dialect, host: DialectHost): void {
  const out = writer(ch)
  let ended = false
  const io: CommandIO = {
    interactive: false,
    mode: 'exec',
    write: out.write,
    print: (lines) => out.write(crlf(lines)),
    // An exec channel has no terminal: the question waits for input that never comes (the command hangs until the
    // client gives up), as on a real device.
    ask: (question) => out.write(question),
    done: (code) => {
      if (ended) return
      ended = true
      out.exit(code)
    },
    setScreenLength: () => undefined,
  }
  dialect.execute(line, host, io)
}

/** The platform's interactive CLI on a PTY shell channel. */
export function runDialectShell(ch: ServerChannel, dialect: Dialect, host: DialectHost): void {
  const out = writer(ch)
  let screenLength = dialect.screenLength
  let line = ''
  let busy = false
  let lastCr = false
  /** A command's question waiting for its answer line. */
  let asking: ((answer: string) => void) | undefined
  /** Output held back by the pager: the rest, and what runs once it is all printed. */
  let paging: {rest: string[]; then: () => void} | undefined
  const io: CommandIO = {
    interactive: true,
    mode: 'exec',
    write: out.write,
    print: (lines) => page([...lines]),
    ask: (question, then) => {
      out.write(question)
      asking = then
    },
    done: () => {
      const finish = () => {
        busy = false
        out.write(`${crlf([''])}${dialect.prompt(host, io.mode)}`)
      }
      // Output still held by the pager: the prompt comes after its last page.
      if (paging) {
        const before = paging.then
        paging.then = () => {
          before()
          finish()
        }
      } else finish()
    },
    setScreenLength: (n) => {
      screenLength = n
    },
  }
  /** Prints a page of lines and the pager's marker, or everything when the pager is off. */
  const page = (lines: string[], then: () => void = () => undefined): void => {
    if (screenLength <= 0 || lines.length < screenLength) {
      out.write(crlf(lines))
      then()
      return
    }
    out.write(crlf(lines.slice(0, screenLength - 1)) + dialect.more)
    paging = {rest: lines.slice(screenLength - 1), then}
  }
  const erase = (text: string) => '\b'.repeat(text.length) + ' '.repeat(text.length) + '\b'.repeat(text.length)
  out.write(`${crlf(['', `Last login: ${host.now().toUTCString()} from 127.0.0.1`])}${dialect.prompt(host, io.mode)}`)
  ch.on('data', (data: Buffer) => {
    for (const c of data.toString('utf8')) {
      const wasCr = lastCr
      lastCr = c === '\r'
      if (paging) {
        const p = paging
        paging = undefined
        out.write(erase(dialect.more))
        if (c === 'q') p.then()
        else page(p.rest, p.then)
        continue
      }
      if (c === '\n' && wasCr) continue
      if (c === '\r' || c === '\n') {
        out.write('\r\n')
        const typed = line
        line = ''
        if (asking) {
          const then = asking
          asking = undefined
          then(typed.trim())
          continue
        }
        if (busy) continue
        const command = typed.trim()
        if (/^(exit|logout|quit)$/i.test(command) && io.mode === 'exec') {
          out.exit(0)
          return
        }
        if (command === '') {
          out.write(dialect.prompt(host, io.mode))
          continue
        }
        busy = true
        host.commandTyped(command)
        dialect.execute(command, host, io)
      } else if (c === '\x7f' || c === '\b') {
        if (line.length > 0) {
          line = line.slice(0, -1)
          out.write('\b \b')
        }
      } else if (c === '\x03') {
        line = ''
        if (!busy) out.write(`^C${crlf([''])}${dialect.prompt(host, io.mode)}`)
      } else if (c >= ' ') {
        if (busy && !asking) continue
        line += c
        out.write(c)
      }
    }
  })
}
