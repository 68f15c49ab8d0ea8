/**
 * The ChainSync node state machine, pure: events in, actions out, no I/O, no clock
 * (draft-dohmeyer-chainsync-03 §4 states, §6 waves). docs/chainsync.md has the transition table.
 */

/** Node states, named as draft §4 table 1. */
export const NodeState = {
  /** Initial; waiting for READY from the predecessor (the Head moves on when locally ready). */
  SYNC: 'SYNC',
  /** Chain segment to the left is ready; READY sent to the successor (if not Tail). */
  READY: 'READY',
  /** START propagated leftward; waiting for COMPLETE from the predecessor (if not Head). */
  WATCH: 'WATCH',
  /** Executing the local task. */
  START: 'START',
  /** Local task finished; COMPLETE sent to the successor (if any). */
  COMPLETE: 'COMPLETE',
} as const
export type NodeState = (typeof NodeState)[keyof typeof NodeState]

/** Which neighbour a message goes to or comes from. */
export type Side = 'predecessor' | 'successor'

/** The per-round state of one node. Treat as immutable. */
export interface RoundSnapshot {
  readonly hasPredecessor: boolean
  readonly hasSuccessor: boolean
  /** Send chainup's extension lines (EXECUTING, ABORT). Off = draft-only wire behaviour. */
  readonly extensions: boolean
  readonly state: NodeState
  /** The local readiness steps and gates passed. */
  readonly locallyReady: boolean
  /** READY arrived from the predecessor (always true for the Head). */
  readonly predecessorReady: boolean
  /** §6.4: this node has done its part of the exit wave and MAY terminate. */
  readonly exited: boolean
  /** Set when the round was halted (local fault or ABORT from a neighbour). */
  readonly aborted: string | undefined
}

export type RoundEvent =
  /** The local readiness steps and `before` gates passed (draft §6.1 "locally ready"). */
  | {type: 'locallyReady'}
  /** A draft or extension message arrived from a neighbour. */
  | {type: 'received'; from: Side; command: 'READY' | 'START' | 'COMPLETE' | 'EXECUTING'}
  /** ABORT arrived from a neighbour. */
  | {type: 'receivedAbort'; from: Side; reason: string}
  /** The local task finished (successfully or with a failure an on_error gate allowed). */
  | {type: 'taskFinished'}
  /** A local fault halts the round (predecessor timeout, veto, lost connection). */
  | {type: 'abort'; reason: string}

export type RoundAction =
  /** Write a line to a neighbour. */
  | {type: 'send'; to: Side; command: 'READY' | 'START' | 'COMPLETE' | 'EXECUTING'}
  | {type: 'sendAbort'; to: Side; reason: string}
  /** Begin the local task now (draft §6.2 Head, §6.3 others). */
  | {type: 'startTask'}
  /** The immediate predecessor has begun its task (or, without extensions, this node entered WATCH): arm the predecessor timeout. */
  | {type: 'watchPredecessor'}
  /** COMPLETE arrived from the predecessor: disarm the predecessor timeout. */
  | {type: 'unwatchPredecessor'}
  /** §6.4: this node's part of the round is over. `chainDone` is true on the Head: every node has completed. */
  | {type: 'exit'; chainDone: boolean}
  /** The round is halted. `origin` says where the fault was seen. */
  | {type: 'halted'; reason: string; origin: 'local' | Side}
  /** The message is illegal here; the state is unchanged. The transport closes that connection and logs it. */
  | {type: 'violation'; from: Side; reason: string}

export interface Transition {
  readonly snapshot: RoundSnapshot
  readonly actions: readonly RoundAction[]
}

/** A fresh round in SYNC. */
export function initialRound(role: {hasPredecessor: boolean; hasSuccessor: boolean; extensions: boolean}): RoundSnapshot {
  return {
    ...role,
    state: NodeState.SYNC,
    locallyReady: false,
    predecessorReady: !role.hasPredecessor,
    exited: false,
    aborted: undefined,
  }
}

/** Which neighbour may send which command in which state; everything else is a violation. */
function violation(s: RoundSnapshot, from: Side, what: string): Transition {
  return {snapshot: s, actions: [{type: 'violation', from, reason: `${what} from ${from} in state ${s.state}`}]}
}

/** Enter READY (§6.1); the Tail turns straight around into the backward wave (§6.2). */
function enterReady(s: RoundSnapshot): Transition {
  const actions: RoundAction[] = []
  if (s.hasSuccessor) {
    actions.push({type: 'send', to: 'successor', command: 'READY'})
    return {snapshot: {...s, state: NodeState.READY}, actions}
  }
  // Tail: "upon entering READY, sends START to its predecessor and moves to WATCH" (§6.2).
  if (s.hasPredecessor) return enterWatch({...s, state: NodeState.READY}, actions)
  // A chain of one node: Head and Tail at once, starts at once.
  return enterStart({...s, state: NodeState.READY}, actions)
}

function enterWatch(s: RoundSnapshot, actions: RoundAction[]): Transition {
  actions.push({type: 'send', to: 'predecessor', command: 'START'})
  // Without the EXECUTING extension the successor can only start its clock when it starts waiting.
  if (!s.extensions) actions.push({type: 'watchPredecessor'})
  return {snapshot: {...s, state: NodeState.WATCH}, actions}
}

function enterStart(s: RoundSnapshot, actions: RoundAction[]): Transition {
  // EXECUTING first: a task that finishes at once (a resumed device) must not send COMPLETE before it.
  if (s.extensions && s.hasSuccessor) actions.push({type: 'send', to: 'successor', command: 'EXECUTING'})
  actions.push({type: 'startTask'})
  return {snapshot: {...s, state: NodeState.START}, actions}
}

function halt(s: RoundSnapshot, reason: string, origin: 'local' | Side): Transition {
  if (s.aborted !== undefined || s.exited) return {snapshot: s, actions: []}
  const actions: RoundAction[] = []
  if (s.extensions) {
    if (s.hasPredecessor && origin !== 'predecessor') actions.push({type: 'sendAbort', to: 'predecessor', reason})
    if (s.hasSuccessor && origin !== 'successor') actions.push({type: 'sendAbort', to: 'successor', reason})
  }
  actions.push({type: 'unwatchPredecessor'}, {type: 'halted', reason, origin})
  return {snapshot: {...s, aborted: reason}, actions}
}

/**
 * Applies one event. Never throws: an illegal message gives a `violation` action and the same snapshot.
 * After an abort or exit every further event is ignored (no actions), except that messages still count as violations
 * when they could never have been legal.
 */
export function transition(s: RoundSnapshot, event: RoundEvent): Transition {
  if (event.type === 'abort') return halt(s, event.reason, 'local')
  if (event.type === 'receivedAbort') {
    if ((event.from === 'predecessor' && !s.hasPredecessor) || (event.from === 'successor' && !s.hasSuccessor)) {
      return violation(s, event.from, 'ABORT')
    }
    return halt(s, event.reason, event.from)
  }
  if (s.aborted !== undefined) return {snapshot: s, actions: []}

  switch (event.type) {
    case 'locallyReady': {
      if (s.locallyReady) return {snapshot: s, actions: []}
      const next = {...s, locallyReady: true}
      return next.predecessorReady && s.state === NodeState.SYNC ? enterReady(next) : {snapshot: next, actions: []}
    }
    case 'taskFinished': {
      if (s.state !== NodeState.START) return {snapshot: s, actions: []}
      const actions: RoundAction[] = []
      const next = {...s, state: NodeState.COMPLETE}
      if (s.hasSuccessor) {
        // §6.3: COMPLETE to the successor triggers it.
        actions.push({type: 'send', to: 'successor', command: 'COMPLETE'})
        return {snapshot: next, actions}
      }
      // §6.4: the Tail sends COMPLETE back at once and may terminate.
      if (s.hasPredecessor) actions.push({type: 'send', to: 'predecessor', command: 'COMPLETE'})
      actions.push({type: 'exit', chainDone: !s.hasPredecessor})
      return {snapshot: {...next, exited: true}, actions}
    }
    case 'received':
      return receive(s, event.from, event.command)
  }
}

function receive(s: RoundSnapshot, from: Side, command: 'READY' | 'START' | 'COMPLETE' | 'EXECUTING'): Transition {
  if (s.exited) return violation(s, from, command)
  if (from === 'predecessor') {
    if (!s.hasPredecessor) return violation(s, from, command)
    switch (command) {
      case 'READY': {
        if (s.state !== NodeState.SYNC || s.predecessorReady) return violation(s, from, command)
        const next = {...s, predecessorReady: true}
        return next.locallyReady ? enterReady(next) : {snapshot: next, actions: []}
      }
      case 'EXECUTING':
        if (s.state !== NodeState.WATCH) return violation(s, from, command)
        return {snapshot: s, actions: [{type: 'watchPredecessor'}]}
      case 'COMPLETE': {
        // §6.3: WATCH + COMPLETE from predecessor -> START.
        if (s.state !== NodeState.WATCH) return violation(s, from, command)
        return enterStart(s, [{type: 'unwatchPredecessor'}])
      }
      case 'START':
        return violation(s, from, command)
    }
  }
  if (!s.hasSuccessor) return violation(s, from, command)
  switch (command) {
    case 'START': {
      if (s.state !== NodeState.READY) return violation(s, from, command)
      // §6.2: the Head starts; an intermediate node passes START on and watches.
      if (!s.hasPredecessor) return enterStart(s, [])
      return enterWatch(s, [])
    }
    case 'COMPLETE': {
      // §6.4: a node in COMPLETE passes the exit wave on; the Head learns the chain is done.
      if (s.state !== NodeState.COMPLETE) return violation(s, from, command)
      const actions: RoundAction[] = []
      if (s.hasPredecessor) actions.push({type: 'send', to: 'predecessor', command: 'COMPLETE'})
      actions.push({type: 'exit', chainDone: !s.hasPredecessor})
      return {snapshot: {...s, exited: true}, actions}
    }
    case 'READY':
    case 'EXECUTING':
      return violation(s, from, command)
  }
}
