/**
 * A minimal draft-03 ChainSync peer, written from the draft alone (no chainup code), for the interop tests.
 * Its task is a real-time timer on purpose: an independent implementation has no clock port.
 */
import net from 'node:net'

export type PeerState = 'SYNC' | 'READY' | 'WATCH' | 'START' | 'COMPLETE'

/**
 * An independent, draft-only ChainSync node over node:net. It listens (if it has a successor), dials its
 * predecessor (if any), speaks only `READY|START|COMPLETE[:<ROUND-ID>]` and runs a dummy task (a timer).
 * It records every line it receives and flags anything the draft does not allow.
 */
export class DraftPeer {
  readonly received: Array<{from: 'pred' | 'succ'; line: string}> = []
  readonly sent: string[] = []
  readonly errors: string[] = []
  state: PeerState = 'SYNC'
  exited = false
  port = 0
  private server: net.Server | undefined
  private pred: net.Socket | undefined
  private succ: net.Socket | undefined
  private ready = false
  private predReady: boolean
  private closed = false

  constructor(
    readonly name: string,
    private readonly round: string,
    private readonly hasPred: boolean,
    private readonly hasSucc: boolean,
    private readonly task: {ms: number; onStart: (name: string) => void; onFinish: (name: string) => void},
    private readonly omitRoundId = false,
    /** Shared by the peers of a test: every line sent or received and every task start/finish, in order. */
    private readonly timeline?: string[],
  ) {
    this.predReady = !hasPred
  }

  async listen(): Promise<void> {
    if (!this.hasSucc) return
    this.server = net.createServer((s) => {
      if (this.succ) return void s.destroy() // one successor connection
      this.succ = s
      this.read(s, 'succ')
    })
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r))
    this.port = (this.server.address() as net.AddressInfo).port
  }

  dial(port: number): void {
    if (this.closed) return
    const s = net.connect({host: '127.0.0.1', port}, () => {
      this.pred = s
      this.read(s, 'pred')
    })
    s.on('error', () => !this.pred && setTimeout(() => this.dial(port), 50))
  }

  get connected(): boolean {
    return (!this.hasPred || !!this.pred) && (!this.hasSucc || !!this.succ)
  }

  locallyReady(): void {
    this.ready = true
    this.tryReady()
  }

  close(): void {
    this.closed = true
    this.pred?.destroy()
    this.succ?.destroy()
    this.server?.close()
  }

  private read(s: net.Socket, from: 'pred' | 'succ'): void {
    let buf = ''
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        this.received.push({from, line})
        this.timeline?.push(`${this.name} got ${line} from ${from}`)
        this.onLine(from, line)
      }
    })
    s.on('error', () => undefined)
  }

  private send(to: 'pred' | 'succ', command: string): void {
    const line = this.omitRoundId ? command : `${command}:${this.round}`
    this.sent.push(line)
    this.timeline?.push(`${this.name} sent ${line} to ${to}`)
    ;(to === 'pred' ? this.pred : this.succ)!.write(`${line}\n`)
  }

  private onLine(from: 'pred' | 'succ', line: string): void {
    const m = /^(READY|START|COMPLETE)(?::(.*))?$/.exec(line)
    if (!m || (m[2] !== undefined && m[2] !== this.round)) return void this.errors.push(`${this.name}: not a draft line of this round: ${JSON.stringify(line)}`)
    const cmd = `${from}:${m[1]}`
    if (cmd === 'pred:READY' && this.state === 'SYNC' && !this.predReady) {
      this.predReady = true
      this.tryReady()
    } else if (cmd === 'succ:START' && this.state === 'READY') {
      if (!this.hasPred) this.startTask()
      else this.toWatch()
    } else if (cmd === 'pred:COMPLETE' && this.state === 'WATCH') {
      this.startTask()
    } else if (cmd === 'succ:COMPLETE' && this.state === 'COMPLETE' && !this.exited) {
      if (this.hasPred) this.send('pred', 'COMPLETE')
      this.exited = true
    } else {
      this.errors.push(`${this.name}: ${line} from ${from} in ${this.state}`)
    }
  }

  private tryReady(): void {
    if (this.state !== 'SYNC' || !this.ready || !this.predReady) return
    this.state = 'READY'
    if (this.hasSucc) this.send('succ', 'READY')
    else if (this.hasPred) this.toWatch()
  }

  private toWatch(): void {
    this.send('pred', 'START')
    this.state = 'WATCH'
  }

  private startTask(): void {
    this.state = 'START'
    this.task.onStart(this.name)
    this.timeline?.push(`${this.name} starts its task`)
    setTimeout(() => {
      this.timeline?.push(`${this.name} finished its task`)
      this.task.onFinish(this.name)
      this.state = 'COMPLETE'
      if (this.hasSucc) return this.send('succ', 'COMPLETE')
      if (this.hasPred) this.send('pred', 'COMPLETE')
      this.exited = true
    }, this.task.ms)
  }
}
