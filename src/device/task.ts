/**
 * The device's task (its node entered START, draft-dohmeyer-chainsync-03 §6.3): skip a device already on target,
 * else run the upgrade steps, the one marked `reload: true` through {@link Reload}, then the `after` gates.
 */
import {DevicePhase} from '../model/status.js'
import {learnPrevious, type DeviceState} from './state.js'

/**
 * @returns whether the device was upgraded or skipped
 * @throws DeviceTaskError, GateVetoError, HaltedError
 */
export async function runUpgrade(state: DeviceState): Promise<'upgraded' | 'skipped'> {
  const {steps, resume, reload} = state
  const {inventory, playbook} = steps.ctx
  if (resume?.state === 'done') throw new Error(`${steps.name}: its task finished before the restart (the agent does not run it again)`)
  try {
    if (resume?.state === 'booting' || resume?.state === 'reloaded') {
      // Resume after (or during) the reload: wait if needed, then the steps after the reload step.
      if (resume.state === 'booting') await reload.waitForBoot(resume.before, resume.sentAt, false, true)
      for (const step of playbook.upgrade.slice(playbook.upgrade.findIndex((st) => st.reload) + 1)) await steps.runStep(step, 'upgrade')
      return await finishTask(state, 'upgraded')
    }
    steps.phase(DevicePhase.upgrading, 'connecting')
    await steps.connect('upgrade')
    const facts = await steps.readFacts('upgrade')
    learnPrevious(state, facts.version)
    if (playbook.skip_if_on_target && facts.version === inventory.target.version) {
      steps.record({action: 'upgrade', phase: 'upgrade', command: null, status: 'skipped', output: `already running ${facts.version}`, error: null}, steps.now)
      steps.phase(DevicePhase.skipped, `already on ${facts.version}`)
      return await finishTask(state, 'skipped')
    }
    let before = facts
    for (const step of playbook.upgrade) {
      if (step.reload) before = await reload.send(step, before)
      else await steps.runStep(step, 'upgrade')
    }
    return await finishTask(state, 'upgraded')
  } finally {
    steps.closeSession()
  }
}

/** Final facts and the `after` gates (a skipped device runs them too, docs/decisions.md #9). */
async function finishTask(state: DeviceState, outcome: 'upgraded' | 'skipped'): Promise<'upgraded' | 'skipped'> {
  const {steps} = state
  state.factsAfter = await steps.readFacts('upgrade', false)
  steps.phase(DevicePhase.gates, 'after gates')
  for (const gate of steps.ctx.playbook.gates.after) await steps.gate('after', gate)
  steps.phase(outcome === 'skipped' ? DevicePhase.skipped : DevicePhase.upgraded, `running ${state.factsAfter.version}`)
  return outcome
}
