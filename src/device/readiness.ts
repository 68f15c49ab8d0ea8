/**
 * Readiness (draft-dohmeyer-chainsync-03 §6.1 "locally ready"): connect (host key verified), read facts, run the
 * playbook's read-only readiness steps (and rollback feasibility when `on_failure: rollback`), evaluate the
 * device's `before` gates. Nothing here changes the device, except image staging (`staging.ts`, only with
 * `target.image_file`): it copies the target image to the device's flash, which changes nothing that runs.
 */
import {DevicePhase} from '../model/status.js'
import {DeviceTaskError} from './errors.js'
import {stageImage} from './staging.js'
import {learnPrevious, type DeviceState} from './state.js'

/** @throws DeviceTaskError when a step fails; GateVetoError on a veto; HaltedError when the chain halted meanwhile */
export async function checkReadiness(state: DeviceState): Promise<void> {
  const {steps, resume} = state
  const {inventory, playbook} = steps.ctx
  if (resume?.state === 'done' && resume.outcome === 'failed') {
    steps.phase(DevicePhase.ready, 'resumed: it failed before the restart and its on_error gates allowed continuing')
    return
  }
  if (resume?.state === 'booting') {
    // It may be down right now: its task will wait for it (never reload it again).
    steps.phase(DevicePhase.ready, 'resumed: its reload was sent, will wait for it')
    return
  }
  steps.phase(DevicePhase.readiness, 'connecting')
  try {
    await steps.connect('readiness')
    state.factsBefore = await steps.readFacts('readiness')
    learnPrevious(state, state.factsBefore.version)
    if (resume?.state === 'done' || resume?.state === 'reloaded') {
      // Already upgraded in this run: prove it from the device, then nothing more is needed to be ready.
      if (state.factsBefore.version !== inventory.target.version) {
        throw new DeviceTaskError(steps.name, `the journal says it was upgraded, but it runs ${state.factsBefore.version}, not ${inventory.target.version}`)
      }
      steps.phase(DevicePhase.ready, `resumed: already on ${state.factsBefore.version}`)
      return
    }
    // Image staging (docs/staging.md): the image must be on the device, verified, before its readiness steps look for it.
    await stageImage(state)
    for (const step of playbook.readiness) await steps.runStep(step, 'readiness')
    // Rollback feasibility is part of readiness when the inventory asks for rollback (seed 001 §3.4).
    if (inventory.on_failure === 'rollback') for (const step of playbook.rollback_readiness) await steps.runStep(step, 'readiness')
    for (const gate of playbook.gates.before.filter((g) => g.scope === 'device')) await steps.gate('before', gate)
    steps.phase(DevicePhase.ready, `ready, running ${state.factsBefore.version}`)
  } finally {
    steps.closeSession()
  }
}
