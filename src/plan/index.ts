/** Plans and dry runs (docs/plan.md): what a run would do, offline or checked against the devices (read-only). */
export {applyChecks, buildPlan, deviceSteps, fitsWindow, planWindow, previousOf, type BuildPlanOptions} from './build.js'
export {checkDevice, checkDevices, checkPassed, type CheckOptions} from './check.js'
export {makePlan, planExitCode, type MakePlanOptions} from './plan.js'
export {renderPlan, type RenderOptions} from './render.js'
export type * from './types.js'
