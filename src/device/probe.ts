/**
 * A TCP connect probe (no SSH, no login): how the boot wait sees a device go away and come back within ~150 ms
 * (issue #12) without an SSH handshake per poll. A refused or timed-out connect means the device is away; an
 * accepted one is closed at once.
 */
import net from 'node:net'

/**
 * Resolves true when host:port accepts a TCP connection within `timeoutMs`, false when it refuses, is unreachable
 * or does not answer in time. Never rejects.
 */
export type Probe = (host: string, port: number, timeoutMs: number) => Promise<boolean>

/** {@link Probe} over node:net. */
export const tcpProbe: Probe = (host, port, timeoutMs) =>
  new Promise((resolve) => {
    const socket = net.connect({host, port})
    const done = (ok: boolean) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
