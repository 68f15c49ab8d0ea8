/**
 * Builds the {@link ChainExecutionResult} from the run's events (an observer like the renderers).
 */
import type {RunEvents} from './events.js'
import type {ChainExecutionResult, GateEvaluation, StepExecution} from './result.js'

export class ResultCollector {
  readonly steps: StepExecution[] = []
  readonly gates: GateEvaluation[] = []
  readonly traps: ChainExecutionResult['traps'] = []

  constructor(events: RunEvents) {
    events.on('stepFinished', (s) => this.steps.push(s))
    events.on('gateEvaluated', (g) => this.gates.push(g))
    events.on('trapSent', (t) => this.traps.push(t))
  }

  /** Steps in their run-wide order. */
  orderedSteps(): StepExecution[] {
    return [...this.steps].sort((a, b) => a.order - b.order)
  }
}
