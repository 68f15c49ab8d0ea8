/**
 * Undoing this run's upgrade of one device (seed 001 §3.4 compensating actions): the compensating actions of the
 * upgrade steps that started, in reverse order; then the device must run the version it ran before. The backward
 * wave over the stack (which device when) is the run's (`run/rollback.ts`).
 */
import {DevicePhase} from '../model/status.js'
import {DeviceTaskError} from './errors.js'
import {learnPrevious, type DeviceState} from './state.js'

/**
 * Not needed (and not done) when the device already runs its previous version. Runs under `signal`, since the
 * chain's own signal is aborted by then.
 * @throws DeviceTaskError when the previous version is unknown, a compensating action fails, or the device does not
 *   end on its previous version
 */
export async function compensate(state: DeviceState, signal: AbortSignal): Promise<void> {
  const {steps, reload} = state
  steps.signal = signal
  if (!steps.vars.previous && state.versionBefore) learnPrevious(state, state.versionBefore)
  const previous = steps.vars.previous
  try {
    if (!previous) throw new DeviceTaskError(steps.name, 'cannot roll back: the version it ran before is unknown (its facts were never read)')
    steps.phase(DevicePhase.rolling_back, `back to ${previous.version}`)
    let facts = await steps.readFacts('rollback')
    if (facts.version === previous.version) {
      steps.record({action: 'rollback', phase: 'rollback', command: null, status: 'completed', output: `already running ${previous.version}: nothing to undo`, error: null}, steps.now)
    } else {
      const upgrade = [...steps.ctx.playbook.upgrade].reverse().filter((st) => st.compensate && steps.started.has(st.name))
      if (upgrade.length === 0) throw new DeviceTaskError(steps.name, `no compensating action for the steps that ran, and it runs ${facts.version}, not ${previous.version}`)
      for (const step of upgrade) {
        for (const c of step.compensate!) {
          if (c.reload) facts = await reload.send(c, facts, 'rollback')
          else await steps.runStep(c, 'rollback')
        }
      }
      facts = await steps.readFacts('rollback')
      if (facts.version !== previous.version) throw new DeviceTaskError(steps.name, `after the rollback it runs ${facts.version}, not ${previous.version}`)
    }
    state.factsAfter = facts
    steps.phase(DevicePhase.rolled_back, `running ${facts.version}`)
  } finally {
    steps.closeSession()
  }
}
