/**
 * SIGINT/SIGTERM for runs (seed 001 §6.1): the first one cancels gracefully (the device in progress finishes,
 * no new device starts), the second stops at once. Both outcomes are journaled; the run can be resumed.
 */
export function interruptSignals(stderr: NodeJS.WritableStream = process.stderr): {cancel: AbortSignal; kill: AbortSignal; dispose: () => void} {
  const cancel = new AbortController()
  const kill = new AbortController()
  const onSignal = (sig: NodeJS.Signals) => {
    if (!cancel.signal.aborted) {
      stderr.write(`\n${sig}: cancelling: the device in progress finishes, no new device starts (again to stop at once)\n`)
      cancel.abort(sig)
    } else if (!kill.signal.aborted) {
      stderr.write(`\n${sig}: stopping at once\n`)
      kill.abort(sig)
    }
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  return {
    cancel: cancel.signal,
    kill: kill.signal,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    },
  }
}
