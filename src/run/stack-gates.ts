/** DEC-002's stack-wide gates: `before` (scope: stack) before anything is touched, and the `final` after gates. */
import {expandTemplate} from '../config/template.js'
import type {Gate, Inventory, Playbook} from '../config/types.js'
import {evaluateGate} from '../gates/engine.js'
import type {RunEvents} from '../model/events.js'
import type {GateEvaluation} from '../model/result.js'

/**
 * Evaluates gates in order and reports each; the first veto is returned and nothing after it runs (a veto is
 * binding). Device placeholders expand to empty strings. Never throws.
 */
export async function evaluateStackGates(
  run: {runId: string; inventory: Inventory; playbook: Playbook; events: RunEvents; hiddenEnv: readonly string[]},
  type: 'before' | 'final',
  gates: readonly Gate[],
): Promise<GateEvaluation | undefined> {
  const vars = {stack: run.inventory.stack, target: run.inventory.target, device: {name: '', host: ''}}
  for (const gate of gates) {
    const evaluation = await evaluateGate(gate, {
      runId: run.runId,
      stack: run.inventory.stack,
      type,
      device: null,
      playbookFile: run.playbook.file,
      defaultTimeoutMs: run.inventory.timeouts.gate,
      expand: (text, mode) => expandTemplate(text, vars, mode),
      hiddenEnv: run.hiddenEnv,
    })
    run.events.emit('gateEvaluated', evaluation)
    if (evaluation.decision === 'veto') return evaluation
  }
  return undefined
}
