/**
 * Crash points for the resume tests (the technique of FoundationDB's and TiKV's failpoints): when the environment
 * variable `CHAINUP_FAILPOINT` names a point, the process kills itself with SIGKILL right there, as a power loss
 * or `kill -9` would. Never set it in production. Points: `before-reload:<device>`, `rebooting:<device>`,
 * `before-complete:<device>`, `final-gates` (docs/runs.md "Crash points").
 */
export function failpoint(name: string): void {
  if (process.env.CHAINUP_FAILPOINT === name) process.kill(process.pid, 'SIGKILL')
}
