/**
 * `chainup resume RUN_ID`: continues a run the journal still shows `running` because its process died
 * (kill -9, power loss) or was cancelled before its devices were done (docs/runs.md "Resume").
 */
import {loadStack} from '../config/load.js'
import {ExitCode, InputError} from '../errors.js'
import {openJournal} from '../journal/journal.js'
import {RunEvents} from '../model/events.js'
import {inputsDigest} from '../config/load.js'
import type {ChainExecutionResult} from '../model/result.js'
import {runTree} from './history.js'
import {attachProgress, runWithUi, type RunUiOptions} from './run-ui.js'

export interface ResumeCommandOptions extends RunUiOptions {
  runId: string
}

/**
 * @returns the result and exit code; a run that already finished is reported as it is, exit 0
 * @throws InputError (exit 2) for an unknown run or a run whose inventory cannot be found
 */
export async function resumeCommand(opts: ResumeCommandOptions): Promise<{result: ChainExecutionResult; exitCode: ExitCode; already: boolean}> {
  const journal = await openJournal(opts.stateDir)
  let inventoryPath: string
  let digest: string | undefined
  let cancelled = false
  try {
    const root = runTree(journal, opts.runId)
    cancelled = root.status === 'cancelled'
    if (!cancelled && root.status !== 'running') {
      return {result: journal.buildResult(opts.runId), exitCode: ExitCode.completed, already: true}
    }
    const config = journal.events(opts.runId).find((e) => e.type === 'runConfig')?.data as {inventory?: string; inputs_sha256?: string} | undefined
    if (!config?.inventory) throw new InputError(`run ${opts.runId} has no recorded inventory`, {code: 'NO_RUN_CONFIG'})
    inventoryPath = config.inventory
    digest = config.inputs_sha256
  } finally {
    journal.close()
  }
  const {inventory, playbook} = await loadStack(inventoryPath)
  if (digest !== undefined && inputsDigest(inventory, playbook) !== digest) {
    throw new InputError(`the inventory or playbook of run ${opts.runId} changed since it started (${inventory.file}, ${playbook.file})`, {
      code: 'RESUME_INPUTS_CHANGED',
      hint: 'resume with the files as they were, or start a new run',
    })
  }
  if (cancelled) {
    // Only now, with the inputs checked: a refused resume leaves the cancelled run as it was.
    const j = await openJournal(opts.stateDir)
    try {
      j.reopenRun(opts.runId, 'chainup resume of a cancelled run')
    } finally {
      j.close()
    }
  }
  const events = new RunEvents()
  const ui = await attachProgress(events, opts)
  ui.note(`resuming run ${opts.runId} of stack ${inventory.stack} from ${inventoryPath}`)
  const out = await runWithUi({inventory, playbook, extra: {resume: opts.runId}}, events, ui, opts)
  return {...out, already: false}
}
