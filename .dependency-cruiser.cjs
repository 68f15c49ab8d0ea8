/**
 * chainup's layers (docs/architecture.md). A module may import its own folder and any folder of a LOWER layer,
 * never one above; `npm test` runs this check (`npm run check:layers`) and fails on any violation or cycle.
 *
 *   6  commands/                      thin oclif commands (import only src/index.ts)
 *   5  src/cli  src/ui  src/lab       the CLI's glue, progress views, the simulated lab (lab sits beside cli),
 *      src/serve                      `chainup serve`: the HTTP API, the NOC page, metrics (over the CLI's glue)
 *   4  src/fleet                      a fleet of stacks: DEC-002's council of stack runs
 *   3  src/run  src/plan              the run: chain, agents, halt, rollback, resume · plans and dry runs (read-only)
 *   2  src/device src/gates src/notify src/journal     device sessions and tasks, gates, traps, the journal
 *   1  src/model  src/window          result types, statuses, run events, the device-session port · maintenance windows
 *   0  src/protocol src/config src/util src/errors.ts  ChainSync, input files, helpers, the error root
 */
const layers = [
  ['^src/(util|errors\\.ts)', '^src/(protocol|config)/'],
  ['^src/(model|window)/'],
  ['^src/(device|gates|notify|journal)/'],
  ['^src/(run|plan)/'],
  ['^src/fleet/'],
  ['^src/(cli|ui|lab|serve)/'],
]

const forbidden = [
  {name: 'no-circular', severity: 'error', comment: 'Import cycles make the layers meaningless.', from: {}, to: {circular: true}},
  {
    name: 'util-is-the-floor',
    severity: 'error',
    comment: 'src/util and src/errors.ts import nothing of chainup but each other.',
    from: {path: '^src/(util/|errors\\.ts)'},
    to: {path: '^src/', pathNot: '^src/(util/|errors\\.ts)'},
  },
  {
    name: 'protocol-and-config-apart',
    severity: 'error',
    comment: 'The two bottom concerns do not know each other.',
    from: {path: '^src/protocol/'},
    to: {path: '^src/config/'},
  },
  {name: 'config-knows-no-protocol', severity: 'error', from: {path: '^src/config/'}, to: {path: '^src/protocol/'}},
  {
    name: 'window-is-pure',
    severity: 'error',
    comment: 'Maintenance windows are pure time arithmetic over the inventory: config and util only.',
    from: {path: '^src/window/'},
    to: {path: '^src/', pathNot: '^src/(window|config|util)/'},
  },
  {
    name: 'gates-below-device',
    severity: 'error',
    comment: 'The device worker evaluates gates; the gate engine talks to a device only through model/device-session.',
    from: {path: '^src/gates/'},
    to: {path: '^src/device/'},
  },
  {
    name: 'layer-2-apart',
    severity: 'error',
    comment: 'journal and notify are observers: they know no device or gate code, and not each other.',
    from: {path: '^src/(journal|notify)/'},
    to: {path: '^src/(device|gates|notify|journal)/', pathNot: '^src/$1/'},
  },
  {name: 'ui-not-cli', severity: 'error', comment: 'Progress views are used by the CLI, not the other way round.', from: {path: '^src/ui/'}, to: {path: '^src/(cli|lab|serve)/'}},
  {name: 'lab-beside-cli', severity: 'error', comment: 'The lab is a tool of the CLI and the tests; it imports no run or CLI code.', from: {path: '^src/lab/'}, to: {path: '^src/(cli|ui|run|fleet|serve)/'}},
  {
    name: 'commands-are-thin',
    severity: 'error',
    comment: 'oclif commands import only the library entry point src/index.ts.',
    from: {path: '^commands/'},
    to: {path: '^src/', pathNot: '^src/index\\.ts$'},
  },
]
layers.forEach((layer, i) => {
  const above = layers.slice(i + 1).flat()
  if (above.length === 0) return
  forbidden.push({
    name: `layer-${i}-imports-upward`,
    severity: 'error',
    comment: `Layer ${i} (${layer.join(' ')}) must not import a higher layer.`,
    from: {path: layer.length === 1 ? layer[0] : `(${layer.join('|')})`},
    to: {path: `(${above.join('|')})`},
  })
})

module.exports = {
  forbidden,
  options: {
    doNotFollow: {path: 'node_modules'},
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
    exclude: {path: '^(dist|node_modules)/'},
  },
}
