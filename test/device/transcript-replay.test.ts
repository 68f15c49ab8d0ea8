/**
 * Recorded transcripts of each platform's lab upgrade (test/fixtures/transcripts/<platform>.transcript, a copy of DIR/<run>/<first device>.log, written by
 * `chainup upgrade inventories/examples/<platform>-stack.yml --lab --transcript DIR`) replayed offline against the
 * session code as the steps use it: connectDevice with the playbook's session mode, prompt and pager, then every
 * recorded command through `exec` (answers from the playbook). The replay server (ssh2's Server) checks that the
 * client sends exactly what was recorded, and the outputs must give the facts before and after the upgrade.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterEach, describe, expect, it} from 'vitest'

import {loadPlaybook} from '../../src/config/load.js'
import type {Playbook} from '../../src/config/types.js'
import {parseFacts} from '../../src/device/facts.js'
import type {PromptAnswer} from '../../src/device/interactive.js'
import {connectDevice, Credentials, type ExecResult} from '../../src/device/ssh-session.js'
import {parseTranscript, type TranscriptEvent} from '../../src/device/transcript.js'
import {replayServer, type ReplayServer} from '../fixtures/transcripts/replay-server.js'
import {ROOT} from '../helpers/lab-stack.js'

let server: ReplayServer | undefined
afterEach(async () => {
  await server?.stop()
  server = undefined
})

/** The commands a session sent, in order: exec commands, or the shell lines that were not the pager, a pager's space or an answer. */
function commandsOf(events: readonly TranscriptEvent[], playbook: Playbook): string[] {
  if (!events.some((e) => e.kind === 'shell')) return events.filter((e) => e.kind === 'exec').map((e) => e.data)
  const lines: string[] = []
  events.forEach((e, i) => {
    if (e.kind !== '>' || e.data === ' ') return
    const before = events[i - 1]
    if (before?.kind === 'note' && before.data.startsWith('answer to')) return
    lines.push(e.data.replace(/\r$/, ''))
  })
  return playbook.pager !== undefined && lines[0] === playbook.pager ? lines.slice(1) : lines
}

function answersOf(playbook: Playbook): PromptAnswer[] {
  return [...playbook.upgrade, ...playbook.upgrade.flatMap((s) => s.compensate ?? [])].flatMap((s) => s.answers ?? [])
}

const CASES = [
  {platform: 'eos', from: '4.28.3M', to: '4.30.1F', reload: 'reload now'},
  {platform: 'junos', from: '21.2R3-S4.8', to: '21.4R3-S5.4', reload: 'request system software add /var/tmp/jinstall-ex-4300-21.4R3-S5.4-signed.tgz reboot'},
  {platform: 'nxos', from: '9.3.8', to: '9.3.10', reload: 'install all nxos bootflash:nxos.9.3.10.bin'},
  {platform: 'sonic', from: '202205.1', to: '202305.1', reload: 'sudo reboot'},
]

describe.each(CASES)('replaying the recorded $platform upgrade through the session code', ({platform, from, to, reload}) => {
  it('sends exactly what was recorded, and the outputs prove the versions before and after the reload', async () => {
    const playbook = await loadPlaybook(join(ROOT, 'playbooks', `${platform}.yml`))
    const events = parseTranscript(readFileSync(join(ROOT, 'test/fixtures/transcripts', `${platform}.transcript`), 'utf8'))
    server = await replayServer(events)
    const results: Array<{command: string; result: ExecResult}> = []
    for (const id of [...new Set(events.map((e) => e.session))]) {
      const mine = events.filter((e) => e.session === id)
      const session = await connectDevice({
        device: platform,
        host: '127.0.0.1',
        port: server.port,
        credentials: new Credentials('netops', {password: 'unused'}),
        hostKey: {kind: 'fingerprint', fingerprint: server.fingerprint},
        timeoutMs: 5000,
        ...(mine.some((e) => e.kind === 'shell') ? {session: 'interactive' as const} : {}),
        interactive: {...(playbook.prompt === undefined ? {} : {prompt: playbook.prompt}), ...(playbook.pager === undefined ? {} : {pager: playbook.pager})},
      })
      try {
        for (const command of commandsOf(mine, playbook)) results.push({command, result: await session.exec(command, 5000, {answers: answersOf(playbook)})})
      } finally {
        session.close()
      }
    }
    expect(server.mismatches).toEqual([])
    expect(server.unplayed()).toEqual([])
    const facts = results.filter((r) => r.command === playbook.facts.command && !r.result.dropped).map((r) => parseFacts(r.result.output, playbook.facts))
    expect(facts[0]!.version).toBe(from)
    expect(facts.at(-1)!.version).toBe(to)
    const reloaded = results.find((r) => r.command === reload)!
    expect(reloaded.result.dropped).toBe(true)
    // What the checks see: no escape sequences, no CR, no echo, no prompt.
    for (const {command, result} of results) {
      expect(result.output).not.toMatch(/[\x1b\r]/)
      if (result.output !== '') expect(result.output.split('\n')[0]).not.toBe(command)
    }
  })
})
