/**
 * A device's sysUpTime.0 (SNMPv2-MIB, RFC 3418: TimeTicks, hundredths of a second since its SNMP agent (re)started)
 * over SNMPv2c, as boot evidence when the playbook's facts give neither a restart time nor an uptime
 * (`snmp.uptime` in the inventory; docs/devices.md "Proof of return"). net-snmp is loaded on the first read.
 */

/** sysUpTime.0 */
export const SYS_UPTIME_OID = '1.3.6.1.2.1.1.3.0'

/** The precision chainup gives an uptime read over SNMP, ms (TimeTicks are 10 ms; one second absorbs the round trip). */
export const SNMP_UPTIME_PRECISION_MS = 1000

/**
 * Reads sysUpTime.0 from host:port with an SNMPv2c GET.
 * @param timeoutMs how long the GET may take (one try)
 * @returns seconds since the agent (re)started, or undefined when the device does not answer in time or answers
 *   something else (a device that is down has no uptime). Never rejects.
 */
export async function readSysUpTime(host: string, port: number, community: string, timeoutMs: number): Promise<number | undefined> {
  const snmp = await import('net-snmp')
  return new Promise((resolve) => {
    const session = snmp.createSession(host, community, {port, version: snmp.Version2c, timeout: timeoutMs, retries: 0})
    const done = (value: number | undefined) => {
      session.close()
      resolve(value)
    }
    session.on('error', () => done(undefined))
    session.get([SYS_UPTIME_OID], (error, varbinds) => {
      const vb = varbinds?.[0]
      if (error || !vb || snmp.isVarbindError(vb) || vb.type !== snmp.ObjectType.TimeTicks || typeof vb.value !== 'number') return done(undefined)
      done(vb.value / 100)
    })
  })
}
