/**
 * `chainup serve --listen HOST:PORT`: where the server listens, and whether that needs TLS. Loopback
 * (127.0.0.0/8, ::1, localhost) may serve plain HTTP; any other address needs `--tls-cert/--tls-key`, or
 * `--insecure-http` to say plain HTTP on the network is meant.
 */
import {isIP} from 'node:net'

import {InputError} from '../errors.js'

export interface ListenAddress {
  host: string
  /** 0 = any free port. */
  port: number
}

/**
 * Parses `HOST:PORT`, `[V6]:PORT` or `:PORT` (= 127.0.0.1).
 * @throws InputError (exit 2, `LISTEN_INVALID`)
 */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text)
  const port = m ? Number(m[3]) : NaN
  if (!m || port > 65535) throw new InputError(`--listen ${text}: expected HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080)`, {code: 'LISTEN_INVALID'})
  const host = m[1] ?? (m[2] === '' ? '127.0.0.1' : (m[2] as string))
  return {host, port}
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}

/**
 * Refuses plain HTTP on a non-loopback address unless `insecureHttp`, and TLS with only one of cert/key.
 * @throws InputError (exit 2, `LISTEN_NEEDS_TLS`, `TLS_FLAGS`)
 */
export function checkListen(addr: ListenAddress, tls: {cert?: string | undefined; key?: string | undefined}, insecureHttp: boolean): void {
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new InputError('--tls-cert and --tls-key go together', {code: 'TLS_FLAGS'})
  if (tls.cert !== undefined || isLoopbackHost(addr.host) || insecureHttp) return
  throw new InputError(`--listen ${addr.host}:${addr.port} is not a loopback address: plain HTTP would carry bearer tokens over the network`, {
    code: 'LISTEN_NEEDS_TLS',
    hint: 'give --tls-cert and --tls-key, or --insecure-http if a TLS proxy sits in front',
  })
}
