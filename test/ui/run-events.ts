/**
 * A realistic run, as the RunEvents bus carries it, for the progress renderers' tests: the lab stack with three
 * devices (`chainup upgrade --lab`, recorded from a real run and given fixed ids and durations):
 * sw1 is upgraded, sw2 is already on the target (skipped, its after gate still runs), sw3 comes back from its reload
 * on the old version (lab fault `old_version`), fails "verify version", halts the chain and sends a trap.
 */
import type {RunEventMap, RunEvents} from '../../src/model/events.js'
import type {ChainExecutionResult, GateEvaluation, StepExecution, StepPhase} from '../../src/model/result.js'

export const RUN_ID = '6ab91ddc-43e7-45b9-9e8c-84b1b50cbf98'
export const TARGET = {version: '17.09.05', image: 'cat9k_iosxe.17.09.05.SPA.bin'}
export const DEVICES = ['sw1', 'sw2', 'sw3']
const INSTALL = `install add file flash:${TARGET.image} activate commit prompt-level none`
const VERIFY_FAILED = 'output does not match /Version 17\\.09\\.05/'
const REASON = `sw3: step "verify version" failed: ${VERIFY_FAILED}`

/** One event as emitted: its name and its payload. */
export type RecordedEvent = {[K in keyof RunEventMap]: [K, ...RunEventMap[K]]}[keyof RunEventMap]

const T0 = Date.parse('2026-11-21T05:40:00.000Z')
const steps: StepExecution[] = []
const gates: GateEvaluation[] = []
let order = 0

/** stepStarted then stepFinished for one step (the reporters see both). */
function step(
  device: string,
  action: string,
  phase: StepPhase,
  command: string | null,
  durationMs: number,
  outcome: {status?: StepExecution['status']; output?: string | null; error?: string | null} = {},
): RecordedEvent[] {
  const n = ++order
  const done: StepExecution = {
    order: n,
    device,
    action,
    status: outcome.status ?? 'completed',
    output: outcome.output === undefined ? 'ok' : outcome.output,
    error: outcome.error ?? null,
    phase,
    command,
    started_at: new Date(T0 + n * 1000).toISOString(),
    duration_ms: durationMs,
  }
  steps.push(done)
  return [
    ['stepStarted', {device, order: n, action, phase, command}],
    ['stepFinished', done],
  ]
}

function gate(g: GateEvaluation): RecordedEvent {
  gates.push(g)
  return ['gateEvaluated', g]
}

const readiness = (device: string, version: string): RecordedEvent[] => [
  ['devicePhase', {device, phase: 'readiness', detail: 'connecting'}],
  ...step(device, 'facts', 'readiness', 'show version', 65, {output: `version ${version}`}),
  ['deviceFacts', {device, versionBefore: version}],
  ['devicePhase', {device, phase: 'readiness', detail: 'show version'}],
  ...step(device, 'show version', 'readiness', 'show version', 83),
  ['devicePhase', {device, phase: 'readiness', detail: 'image on flash'}],
  ...step(device, 'image on flash', 'readiness', 'dir flash:', 90),
  ['devicePhase', {device, phase: 'ready', detail: `ready, running ${version}`}],
]

const afterGate = (device: string): RecordedEvent[] => [
  ['devicePhase', {device, phase: 'gates', detail: 'after gates'}],
  gate({type: 'after', name: 'running target', device, decision: 'allow', reason: '"show version" output matches /Version 17\\.09\\.05/'}),
]

const trap = {kind: 'chain_halted', reporter: 'sw3', reason: REASON, receivers: [{target: '127.0.0.1:10162', ok: true}, {target: '192.0.2.10:162', ok: false, error: 'send EHOSTUNREACH 192.0.2.10:162'}]}

export const RUN: RecordedEvent[] = [
  ['runStarted', {runId: RUN_ID, stack: 'lab-stack', devices: DEVICES, target: TARGET}],
  ...readiness('sw1', '17.06.05'),
  ['nodeState', {device: 'sw1', state: 'READY'}],
  ...readiness('sw2', '17.09.05'),
  ['nodeState', {device: 'sw2', state: 'READY'}],
  ...readiness('sw3', '17.06.05'),
  ['nodeState', {device: 'sw3', state: 'WATCH'}],
  ['nodeState', {device: 'sw2', state: 'WATCH'}],
  ['nodeState', {device: 'sw1', state: 'START'}],
  // sw1: upgraded
  ['devicePhase', {device: 'sw1', phase: 'upgrading', detail: 'connecting'}],
  ...step('sw1', 'facts', 'upgrade', 'show version', 46, {output: 'version 17.06.05'}),
  ['devicePhase', {device: 'sw1', phase: 'upgrading', detail: 'install image'}],
  ...step('sw1', 'install image', 'upgrade', INSTALL, 325),
  ['devicePhase', {device: 'sw1', phase: 'booting', detail: 'waiting for the device to reload and come back'}],
  ...step('sw1', 'wait for reload', 'reboot', null, 3512),
  ['devicePhase', {device: 'sw1', phase: 'verifying', detail: 'back on 17.09.05'}],
  ['devicePhase', {device: 'sw1', phase: 'upgrading', detail: 'verify version'}],
  ...step('sw1', 'verify version', 'upgrade', 'show version', 74),
  ...afterGate('sw1'),
  ['devicePhase', {device: 'sw1', phase: 'upgraded', detail: 'running 17.09.05'}],
  ['nodeState', {device: 'sw1', state: 'COMPLETE'}],
  // sw2: already on the target
  ['nodeState', {device: 'sw2', state: 'START'}],
  ['devicePhase', {device: 'sw2', phase: 'upgrading', detail: 'connecting'}],
  ...step('sw2', 'facts', 'upgrade', 'show version', 48, {output: 'version 17.09.05'}),
  ...step('sw2', 'upgrade', 'upgrade', null, 3, {status: 'skipped', output: 'already on 17.09.05'}),
  ['devicePhase', {device: 'sw2', phase: 'skipped', detail: 'already on 17.09.05'}],
  ...afterGate('sw2'),
  ['devicePhase', {device: 'sw2', phase: 'skipped', detail: 'running 17.09.05'}],
  ['nodeState', {device: 'sw2', state: 'COMPLETE'}],
  // sw3: back on the old version: fails, halts the chain, a trap goes out
  ['nodeState', {device: 'sw3', state: 'START'}],
  ['devicePhase', {device: 'sw3', phase: 'upgrading', detail: 'connecting'}],
  ...step('sw3', 'facts', 'upgrade', 'show version', 44, {output: 'version 17.06.05'}),
  ['devicePhase', {device: 'sw3', phase: 'upgrading', detail: 'install image'}],
  ...step('sw3', 'install image', 'upgrade', INSTALL, 342),
  ['devicePhase', {device: 'sw3', phase: 'booting', detail: 'waiting for the device to reload and come back'}],
  ...step('sw3', 'wait for reload', 'reboot', null, 964),
  ['devicePhase', {device: 'sw3', phase: 'verifying', detail: 'back on 17.06.05'}],
  ['devicePhase', {device: 'sw3', phase: 'upgrading', detail: 'verify version'}],
  ...step('sw3', 'verify version', 'upgrade', 'show version', 80, {status: 'failed', output: 'Cisco IOS XE Software, Version 17.06.05', error: VERIFY_FAILED}),
  ['devicePhase', {device: 'sw3', phase: 'failed', detail: REASON}],
  ['log', {level: 'error', device: 'sw3', message: `halting the chain: ${REASON}`}],
  ['trapSent', trap],
  ['log', {level: 'info', device: null, message: `result saved to /var/lib/chainup/runs/${RUN_ID}.json`}],
]

export const RESULT: ChainExecutionResult = {
  execution_id: RUN_ID,
  chain_id: 'lab-stack',
  status: 'failed',
  started_at: new Date(T0).toISOString(),
  completed_at: new Date(T0 + 3254).toISOString(),
  duration_ms: 3254,
  steps,
  gates,
  reason: REASON,
  devices: [
    {name: 'sw1', status: 'upgraded', version_before: '17.06.05', version_after: '17.09.05'},
    {name: 'sw2', status: 'skipped', version_before: '17.09.05', version_after: '17.09.05'},
    {name: 'sw3', status: 'failed', version_before: '17.06.05', version_after: '17.06.05'},
  ],
  traps: [trap],
}
RUN.push(['runFinished', RESULT])

/** Emits `sequence` in order, awaiting `between()` (if given) after each event. */
export async function replay(events: RunEvents, sequence: readonly RecordedEvent[], between?: () => Promise<unknown>): Promise<void> {
  for (const [name, payload] of sequence) {
    ;(events.emit as (n: string, p: unknown) => boolean)(name, payload)
    if (between) await between()
  }
}

/** A clock for the plain reporter: starts at T0 and moves 10 ms each time it is read. */
export function steppingNow(): () => Date {
  let t = T0
  return () => new Date((t += 10) - 10)
}
