/** ServeMetrics as an observer of a run's events (src/serve/metrics.ts): durations, gates, traps, reconnects, in progress. */
import {expect, it} from 'vitest'

import {RunEvents} from '../../src/model/events.js'
import type {ChainExecutionResult} from '../../src/model/result.js'
import {ServeMetrics} from '../../src/serve/metrics.js'

it('turns one run\'s events into Prometheus series', async () => {
  const metrics = new ServeMetrics(() => ({completed: 3, running: 1}))
  const events = new RunEvents()
  let now = 1_000
  const settle = metrics.watch(events, () => now)
  events.emit('runStarted', {runId: 'r', stack: 's', devices: ['sw1'], target: {version: '17.09.05', image: 'i'}})
  expect((await metrics.scrape()).body).toMatch(/^chainup_runs_in_progress 1$/m)
  events.emit('devicePhase', {device: 'sw1', phase: 'upgrading', detail: ''})
  now += 4_000
  events.emit('devicePhase', {device: 'sw1', phase: 'booting', detail: ''})
  now += 90_000
  events.emit('devicePhase', {device: 'sw1', phase: 'verifying', detail: ''})
  now += 6_000
  events.emit('deviceOutcome', {device: 'sw1', outcome: 'upgraded', versionBefore: '17.06.05', versionAfter: '17.09.05'})
  events.emit('gateEvaluated', {type: 'after', name: 'g', device: 'sw1', decision: 'allow', reason: 'ok'})
  events.emit('trapSent', {kind: 'chainupChainHalted', reporter: 'sw1', reason: 'x', receivers: [{target: '127.0.0.1:162', ok: true}]})
  events.emit('linkReconnected', {device: 'sw1', side: 'predecessor'})
  events.emit('runFinished', {status: 'completed'} as ChainExecutionResult)
  settle()
  const {body, contentType} = await metrics.scrape()
  expect(contentType).toMatch(/^text\/plain/)
  expect(body).toMatch(/^chainup_runs_in_progress 0$/m)
  expect(body).toMatch(/^chainup_runs_finished_total\{status="completed"\} 1$/m)
  expect(body).toMatch(/^chainup_runs\{status="completed"\} 3$/m)
  expect(body).toMatch(/^chainup_runs\{status="running"\} 1$/m)
  expect(body).toMatch(/^chainup_device_upgrade_duration_seconds_sum 100$/m)
  expect(body).toMatch(/^chainup_device_upgrade_duration_seconds_bucket\{le="120"\} 1$/m)
  expect(body).toMatch(/^chainup_device_boot_duration_seconds_sum 90$/m)
  expect(body).toMatch(/^chainup_gate_decisions_total\{type="after",decision="allow"\} 1$/m)
  expect(body).toMatch(/^chainup_traps_sent_total\{kind="chainupChainHalted",outcome="ok"\} 1$/m)
  expect(body).toMatch(/^chainup_chainsync_link_reconnects_total\{device="sw1"\} 1$/m)
})
