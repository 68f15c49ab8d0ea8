/**
 * `chainup resume RUN_ID`: continues a run the journal still shows `running` because its process died
 * (kill -9, power loss), was cancelled before its devices were done (docs/runs.md "Resume"), or was parked by the
 * maintenance window (docs/operations.md "Parking").
 */
import {loadStack} from '../config/load.js'
import type {Inventory, Playbook} from '../config/types.js'
import {ExitCode, InputError} from '../errors.js'
import {openJournal, type Journal} from '../journal/journal.js'
import {RunEvents} from '../model/events.js'
import {inputsDigest} from '../config/load.js'
import type {ChainExecutionResult} from '../model/result.js'
import {WindowEvent} from '../run/window-gate.js'
import {runTree} from './history.js'
import {attachProgress, runWithUi, startRunLab, type RunUiOptions, runSecrets} from './run-ui.js'

export interface ResumeCommandOptions extends RunUiOptions {
  runId: string
}

/** A run the maintenance window parked: it ended `vetoed` with a `windowParked` event. */
function isParked(journal: Journal, runId: string, status: string): boolean {
  return status === 'vetoed' && journal.events(runId).some((e) => e.type === WindowEvent.parked)
}

/**
 * The stack's run the next `chainup upgrade` continues: its newest run, when the maintenance window parked it
 * (docs/decisions.md). A later run of the stack, parked or not, supersedes older parked runs.
 * @returns its run id, or undefined
 */
export async function findParkedRun(stateDir: string, stack: string): Promise<string | undefined> {
  const journal = await openJournal(stateDir)
  try {
    const newest = journal.history({stack, limit: 1}).runs[0]
    return newest && isParked(journal, newest.execution_id, newest.status) ? newest.execution_id : undefined
  } finally {
    journal.close()
  }
}

/** What {@link prepareResume} found: a run to continue (reopened if it had ended), or one that already finished. */
export type PreparedResume =
  | {already: true; result: ChainExecutionResult}
  | {already: false; inventoryPath: string; inventory: Inventory; playbook: Playbook; reopened: 'cancelled' | 'parked' | null}

/**
 * Checks that a run can be continued and reopens it when it had ended `cancelled` or parked by the window; shared by
 * `chainup resume` and `chainup upgrade`'s continuation of a parked run.
 * @param inventoryPath the inventory to continue with; defaults to the one the run recorded (its inputs must be unchanged either way)
 * @throws InputError (exit 2) for an unknown run, a run without a recorded inventory, or changed inputs (`RESUME_INPUTS_CHANGED`)
 */
export async function prepareResume(stateDir: string, runId: string, inventoryPath?: string, opts: {lab?: boolean} = {}): Promise<PreparedResume> {
  const journal = await openJournal(stateDir)
  let recorded: string
  let digest: string | undefined
  let reopen: 'cancelled' | 'parked' | null = null
  try {
    const root = runTree(journal, runId)
    if (root.status === 'cancelled') reopen = 'cancelled'
    else if (isParked(journal, runId, root.status)) reopen = 'parked'
    else if (root.status !== 'running') return {already: true, result: journal.buildResult(runId)}
    const config = journal.events(runId).find((e) => e.type === 'runConfig')?.data as {inventory?: string; inputs_sha256?: string} | undefined
    if (!config?.inventory) throw new InputError(`run ${runId} has no recorded inventory`, {code: 'NO_RUN_CONFIG'})
    recorded = config.inventory
    digest = config.inputs_sha256
  } finally {
    journal.close()
  }
  const path = inventoryPath ?? recorded
  const {inventory, playbook} = await loadStack(path)
  if (digest !== undefined && inputsDigest(inventory, playbook) !== digest) {
    throw new InputError(`the inventory or playbook of run ${runId} changed since it started (${inventory.file}, ${playbook.file})`, {
      code: 'RESUME_INPUTS_CHANGED',
      hint: reopen === 'parked' ? 'continue with the files as they were, or start over with chainup upgrade --new-run' : 'resume with the files as they were, or start a new run',
    })
  }
  // The secrets the run will need (a missing variable is exit 2): checked before the run is reopened, so a refused
  // resume leaves it as it was. The lab makes up its own.
  if (!opts.lab) await runSecrets(inventory)
  if (reopen) {
    // Only now, with the inputs and secrets checked: a refused resume leaves the run as it was.
    const j = await openJournal(stateDir)
    try {
      j.reopenRun(runId, reopen === 'parked' ? 'continuing a run the maintenance window parked' : 'chainup resume of a cancelled run')
    } finally {
      j.close()
    }
  }
  return {already: false, inventoryPath: path, inventory, playbook, reopened: reopen}
}

/**
 * The inventory for the lab of a resumed run: the simulators of devices the journal shows upgraded (or already on
 * target) start on the target version, as the real devices would be.
 */
async function labAsJournaled(stateDir: string, runId: string, inventory: Inventory): Promise<Inventory> {
  const journal = await openJournal(stateDir)
  let done: Set<string>
  try {
    done = new Set(runTree(journal, runId).children.filter((d) => d.status === 'upgraded' || d.status === 'skipped').map((d) => d.name))
  } finally {
    journal.close()
  }
  return {...inventory, devices: inventory.devices.map((d) => (done.has(d.name) ? {...d, lab: {...d.lab, version: inventory.target.version}} : d))}
}

/**
 * @returns the result and exit code; a run that already finished is reported as it is, exit 0
 * @throws InputError (exit 2) for an unknown run or a run whose inventory cannot be found
 */
export async function resumeCommand(opts: ResumeCommandOptions): Promise<{result: ChainExecutionResult; exitCode: ExitCode; already: boolean}> {
  const prepared = await prepareResume(opts.stateDir, opts.runId, undefined, {lab: opts.lab === true})
  if (prepared.already) return {result: prepared.result, exitCode: ExitCode.completed, already: true}
  const {inventory, playbook, inventoryPath} = prepared
  const events = opts.events ?? new RunEvents()
  const ui = await attachProgress(events, opts)
  ui.note(`resuming run ${opts.runId} of stack ${inventory.stack} from ${inventoryPath}`)
  const lab = opts.lab ? await startRunLab(await labAsJournaled(opts.stateDir, opts.runId, inventory), ui.note) : undefined
  let traps = 0
  try {
    const out = await runWithUi({inventory, playbook, ...(lab ? {env: lab.env} : {}), extra: {resume: opts.runId, ...(lab ? {hostKeys: lab.hostKeys} : {})}}, events, ui, opts)
    traps = out.result.traps.length
    return {...out, already: false}
  } finally {
    await lab?.stop(traps)
  }
}
