/** ui/recap.ts: the end of a run (and of a fleet): each device, where the result is, what to run next (issue #13). */
import {describe, expect, it} from 'vitest'

import type {ChainExecutionResult, FleetExecutionResult} from '../../src/model/result.js'
import {fleetRecap, runRecap} from '../../src/ui/recap.js'
import {shellWord} from '../../src/util/shell.js'
import {RESULT, RUN_ID} from './run-events.js'

const ctx = {saved: `result saved to /var/lib/chainup/runs/${RUN_ID}.json`, stateDirArg: '', inventory: '/etc/chainup/lab stack.yml', parked: false}
const with_ = (patch: Partial<ChainExecutionResult>): ChainExecutionResult => ({...RESULT, ...patch})

describe('runRecap', () => {
  it('a failed run: one line per device, the reason, the result file, then what to run next', () => {
    expect(runRecap(RESULT, ctx).join('\n')).toBe(
      [
        `RECAP run ${RUN_ID} (stack lab-stack): failed in 3.3s`,
        '  sw1  upgraded 17.06.05 -> 17.09.05',
        '  sw2  skipped, already on 17.09.05',
        '  sw3  failed, on 17.06.05',
        'reason: sw3: step "verify version" failed: output does not match /Version 17\\.09\\.05/',
        `result saved to /var/lib/chainup/runs/${RUN_ID}.json`,
        `next: chainup show ${RUN_ID} --tree   (the step or check that failed)`,
        `      chainup upgrade '/etc/chainup/lab stack.yml' starts a new run once the cause is fixed (devices already on the target are skipped)`,
      ].join('\n'),
    )
  })

  it('a completed run points at the tree, with the state directory it used', () => {
    const lines = runRecap(with_({status: 'completed', reason: null}), {...ctx, stateDirArg: ' --state-dir /tmp/s'})
    expect(lines.at(-2)).toBe(ctx.saved)
    expect(lines.at(-1)).toBe(`next: chainup show ${RUN_ID} --tree --state-dir /tmp/s   (every step and gate of the run)`)
  })

  it('a cancelled run (exit 130) says chainup resume ID first', () => {
    const lines = runRecap(with_({status: 'cancelled', reason: 'cancelled by the operator'}), ctx)
    expect(lines).toContain(`next: chainup resume ${RUN_ID}   (continues the run: finished devices are not touched again, none is reloaded twice)`)
  })

  it('a run the maintenance window parked is continued by the next upgrade inside a window, or by chainup resume ID', () => {
    const lines = runRecap(with_({status: 'vetoed', reason: 'parked'}), {...ctx, parked: true})
    expect(lines).toContain(`next: chainup upgrade '/etc/chainup/lab stack.yml' inside the next maintenance window continues this run (or: chainup resume ${RUN_ID})`)
  })

  it('a vetoed run points at the gate', () => {
    expect(runRecap(with_({status: 'vetoed', reason: 'after gate "x" vetoed'}), ctx)).toContain(`next: chainup show ${RUN_ID} --tree   (which gate vetoed, and why)`)
  })

  it('after a rollback it says which devices went back; after a failed rollback, which device to check by hand', () => {
    const rolled = with_({devices: [{name: 'sw1', status: 'rolled_back', version_before: '17.06.05', version_after: '17.06.05'}, {name: 'sw2', status: 'rolled_back', version_before: '17.06.05', version_after: '17.06.05'}]})
    expect(runRecap(rolled, ctx)).toEqual(expect.arrayContaining(['  sw1  rolled back to 17.06.05', 'rolled back sw1, sw2 to the versions before the run']))
    const broken = with_({devices: [{name: 'sw1', status: 'upgraded', version_before: '17.06.05', version_after: '17.09.05'}, {name: 'sw2', status: 'rollback_failed', version_before: '17.06.05', version_after: null}]})
    expect(runRecap(broken, ctx)).toContain('rollback failed on sw2: check it by hand before anything else')
  })

  it('a run past timeouts.run: nothing was rolled back, a new run in the next window goes on', () => {
    const lines = runRecap(with_({reason: 'timeout: the run exceeded timeouts.run (1.0s)'}), ctx)
    expect(lines).toContain('past timeouts.run no further device was started and nothing was rolled back (docs/runs.md "Cancellation")')
    expect(lines.at(-1)).toBe(`      chainup upgrade '/etc/chainup/lab stack.yml' in the next window starts a new run: devices already on the target are skipped`)
  })

  it('escapes what a device could have put into a reason', () => {
    expect(runRecap(with_({reason: 'bad\x1b[2J'}), ctx).join('\n')).not.toContain('\x1b')
  })

  it('quotes a path for the shell only when it needs it', () => {
    expect(shellWord('/tmp/a-b_c.yml')).toBe('/tmp/a-b_c.yml')
    expect(shellWord("/tmp/it's here")).toBe(`'/tmp/it'\\''s here'`)
  })
})

describe('fleetRecap', () => {
  const fleet: FleetExecutionResult = {
    execution_id: 'F1',
    status: 'cancelled',
    started_at: RESULT.started_at,
    completed_at: RESULT.completed_at,
    duration_ms: 61_000,
    reason: 'cancelled by the operator',
    stacks: [with_({chain_id: 'core-1', status: 'completed', execution_id: 'R1'}), with_({chain_id: 'core-2', status: 'cancelled', execution_id: 'R2'})],
    not_started: [{chain_id: 'core-3', inventory: '/x/core-3.yml', execution_id: 'R3', reason: 'the fleet was cancelled'}],
  } as FleetExecutionResult

  it('one line per stack, the result file, chainup show FLEET --tree and, after a cancel, chainup resume FLEET', () => {
    expect(fleetRecap(fleet, {saved: 'result saved to /s/runs/F1.json', stateDirArg: ' --state-dir /s'})).toEqual([
      'RECAP fleet F1: cancelled in 1m 01s',
      '  core-1  completed, run R1',
      '  core-2  cancelled, run R2',
      '  core-3  not started: the fleet was cancelled',
      'reason: cancelled by the operator',
      'result saved to /s/runs/F1.json',
      'next: chainup show F1 --tree --state-dir /s   (every stack\'s run, device and step)',
      '      chainup resume F1 --state-dir /s   (continues its unfinished stack runs and starts the stacks that did not start)',
    ])
  })
})
