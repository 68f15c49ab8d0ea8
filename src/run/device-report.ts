/** Adapts a device worker's narrow {@link DeviceReport} port to the run's event bus. */
import type {DeviceReport} from '../device/report.js'
import type {RunEvents} from '../model/events.js'

/** @param nextOrder hands out the run-wide step order */
export function deviceReport(events: RunEvents, device: string, nextOrder: () => number): DeviceReport {
  return {
    nextOrder,
    stepStarted: (s) => void events.emit('stepStarted', {device, ...s}),
    stepFinished: (s) => void events.emit('stepFinished', {...s, device}),
    gateEvaluated: (g) => void events.emit('gateEvaluated', g),
    phase: (phase, detail) => void events.emit('devicePhase', {device, phase, detail}),
    factsRead: (versionBefore) => void events.emit('deviceFacts', {device, versionBefore}),
    log: (level, message) => void events.emit('log', {level, device, message}),
    hostKeyRepinned: (change) => void events.emit('hostKeyRepinned', {device, ...change}),
  }
}
