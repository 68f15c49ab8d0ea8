/**
 * `GET /metrics` (Prometheus text format 0.0.4, prom-client with its own Registry: nothing global). Counters and
 * histograms come from the run events of the runs this server started (an observer like the journal recorder);
 * `chainup_runs` is read from the journal at each scrape, so it counts every run of the state directory (CLI runs
 * too) by status.
 */
import {Counter, Gauge, Histogram, Registry} from 'prom-client'

import type {RunEvents} from '../model/events.js'
import type {RunStatus} from '../model/status.js'

/** Histogram buckets for a device's upgrade and boot, seconds (lab: seconds; real stacks: minutes). */
const DURATION_BUCKETS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600]

export class ServeMetrics {
  /** The registry `GET /metrics` serializes. */
  readonly registry = new Registry()
  private readonly runsFinished: Counter<'status'>
  private readonly inProgress: Gauge
  private readonly upgradeSeconds: Histogram
  private readonly bootSeconds: Histogram
  private readonly gates: Counter<'type' | 'decision'>
  private readonly traps: Counter<'kind' | 'outcome'>
  private readonly reconnects: Counter<'device'>

  /** @param runsByStatus the journal's count of runs per status, read at each scrape */
  constructor(runsByStatus: () => Partial<Record<RunStatus, number>>) {
    const registers = [this.registry]
    new Gauge({
      name: 'chainup_runs',
      help: 'Runs in the journal by status (running includes interrupted runs)',
      labelNames: ['status'],
      registers,
      collect() {
        const counts = runsByStatus()
        for (const status of ['running', 'completed', 'failed', 'vetoed', 'cancelled'] as const) this.set({status}, counts[status] ?? 0)
      },
    })
    this.runsFinished = new Counter({name: 'chainup_runs_finished_total', help: 'Runs this server ran that finished, by status', labelNames: ['status'], registers})
    this.inProgress = new Gauge({name: 'chainup_runs_in_progress', help: 'Runs this server is running now', registers})
    this.upgradeSeconds = new Histogram({
      name: 'chainup_device_upgrade_duration_seconds',
      help: "A device's task from its first upgrade step to its outcome (upgraded), seconds",
      buckets: DURATION_BUCKETS,
      registers,
    })
    this.bootSeconds = new Histogram({
      name: 'chainup_device_boot_duration_seconds',
      help: 'From the reload sent to the device back with a new boot (booting → verifying), seconds',
      buckets: DURATION_BUCKETS,
      registers,
    })
    this.gates = new Counter({name: 'chainup_gate_decisions_total', help: 'Gate decisions (DEC-002) by gate type and decision', labelNames: ['type', 'decision'], registers})
    this.traps = new Counter({name: 'chainup_traps_sent_total', help: 'SNMP traps sent, by kind and whether every receiver took it', labelNames: ['kind', 'outcome'], registers})
    this.reconnects = new Counter({name: 'chainup_chainsync_link_reconnects_total', help: "ChainSync links re-established after a drop during a round, by the reporting node's device", labelNames: ['device'], registers})
    for (const status of ['completed', 'failed', 'vetoed', 'cancelled']) this.runsFinished.inc({status}, 0)
    for (const decision of ['allow', 'veto']) for (const type of ['before', 'after', 'on_error', 'final']) this.gates.inc({type, decision}, 0)
  }

  /**
   * Observes one run's events until it finishes.
   * @param now ms clock for the durations. @default Date.now
   * @returns call it when the run's promise settled: a run that ended without `runFinished` (an internal error)
   *   no longer counts as in progress
   */
  watch(events: RunEvents, now: () => number = Date.now): () => void {
    const upgrading = new Map<string, number>()
    const booting = new Map<string, number>()
    let running = false
    events.on('runStarted', () => {
      if (!running) this.inProgress.inc()
      running = true
    })
    events.on('devicePhase', ({device, phase}) => {
      if (phase === 'upgrading' && !upgrading.has(device)) upgrading.set(device, now())
      if (phase === 'booting') booting.set(device, now())
      const bootStart = booting.get(device)
      if (phase === 'verifying' && bootStart !== undefined) {
        this.bootSeconds.observe((now() - bootStart) / 1000)
        booting.delete(device)
      }
    })
    events.on('deviceOutcome', ({device, outcome}) => {
      const start = upgrading.get(device)
      upgrading.delete(device)
      if (outcome === 'upgraded' && start !== undefined) this.upgradeSeconds.observe((now() - start) / 1000)
    })
    events.on('gateEvaluated', (g) => this.gates.inc({type: g.type, decision: g.decision}))
    events.on('trapSent', (t) => this.traps.inc({kind: t.kind, outcome: t.receivers.every((r) => r.ok) ? 'ok' : 'failed'}))
    events.on('linkReconnected', (e) => this.reconnects.inc({device: e.device}))
    events.on('runFinished', (r) => {
      this.runsFinished.inc({status: r.status})
      if (running) this.inProgress.dec()
      running = false
    })
    return () => {
      if (running) this.inProgress.dec()
      running = false
    }
  }

  /** The text exposition and its content type. */
  async scrape(): Promise<{contentType: string; body: string}> {
    return {contentType: this.registry.contentType, body: await this.registry.metrics()}
  }
}
