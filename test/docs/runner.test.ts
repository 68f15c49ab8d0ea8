/**
 * The docs checker itself (test/docs/support): a broken example fails naming its FILE:LINE, and each rule of the
 * info-string syntax (docs/docs-tests.md) holds. The examples of README.md and docs/*.md run in examples.test.ts.
 */
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ROOT} from '../helpers/lab-stack.js'
import {classify, type DocBlock, DocBlockError, extractBlocks, parseInfo} from './support/blocks.js'
import {DocSession} from './support/session.js'

const at = {file: 'x.md', line: 3}
const block = (info: string, content = 'true\n'): DocBlock => ({...at, ...parseInfo(info, at), content})

describe('a deliberately broken page (test/fixtures/docs/broken.md)', () => {
  const file = 'test/fixtures/docs/broken.md'
  const blocks = extractBlocks(file, readFileSync(join(ROOT, file), 'utf8'))
  let session: DocSession
  beforeAll(async () => {
    session = await DocSession.open(ROOT)
  })
  afterAll(() => session.close())

  it('finds its four blocks at the lines of their opening fences', () => {
    expect(blocks.map((b) => [b.line, b.lang])).toEqual([
      [5, 'sh'],
      [11, 'yaml'],
      [17, 'sh'],
      [23, ''],
    ])
  })

  it('a command that fails names the file and line, with the exit code and what it printed', async () => {
    const error = await session.check(blocks[0]!, classify(blocks[0]!)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DocBlockError)
    expect((error as Error).message).toMatch(/^test\/fixtures\/docs\/broken\.md:5: exited 2, the example says 0; output:\n.*Nonexistent flag: --strictest/s)
  })

  it('an inventory fragment that does not load names the file and line, with the loader\'s message', async () => {
    const error = await session.check(blocks[1]!, classify(blocks[1]!)).catch((e: unknown) => e)
    expect((error as Error).message).toMatch(/^test\/fixtures\/docs\/broken\.md:11: the inventory fragment, inside a minimal inventory, does not load \(chainup validate exited 2\):\n.*ssh\.pasword_env: unknown field/s)
  })

  it('output that no longer matches names the file and line and the expectation', async () => {
    const error = await session.check(blocks[2]!, classify(blocks[2]!)).catch((e: unknown) => e)
    expect((error as Error).message).toMatch(/^test\/fixtures\/docs\/broken\.md:17: its output does not match expect=\/\^lab-stack is valid\$\/; output:\n.*valid inventory for stack lab-stack/s)
  })

  it('a fence without a language names the file and line', () => {
    expect(() => classify(blocks[3]!)).toThrow(/^test\/fixtures\/docs\/broken\.md:23: a code block without a language/)
  })

  it('the same page, fixed, passes', async () => {
    const fixed = extractBlocks('fixed.md', '```sh expect="valid inventory for stack lab-stack"\nchainup validate inventories/lab.yml\n```\n\n```yaml fragment=inventory\nssh: {username: netops, password_env: CHAINUP_SSH_PASSWORD}\n```\n')
    for (const b of fixed) expect(await session.check(b, classify(b))).toEqual({status: 'passed'})
  })
})

describe('the info string', () => {
  it('reads bare keys, key=value and quoted values with \\" inside, keeping a regex\'s backslashes', () => {
    expect(parseInfo('sh expect="a \\"b\\" \\d+" exit=2 quiet', at)).toEqual({lang: 'sh', attrs: [['expect', 'a "b" \\d+'], ['exit', '2'], ['quiet', '']]})
    expect(parseInfo('YAML', at)).toEqual({lang: 'yaml', attrs: []})
  })

  it('refuses what it cannot read, naming FILE:LINE', () => {
    expect(() => parseInfo('sh expect="unterminated', at)).toThrow(/^x\.md:3: cannot read the code block's info string/)
  })

  it('a shell block runs only with a check of its output, or is an illustration with a reason', () => {
    expect(() => classify(block('sh'))).toThrow(/x\.md:3: a shell block that runs needs a check of what it prints/)
    expect(() => classify(block('sh illustration=""'))).toThrow(/illustration needs a reason/)
    expect(() => classify(block('sh illustration="x" exit=2'))).toThrow(/takes no other attribute/)
    expect(() => classify(block('sh quiet expect="x"'))).toThrow(/contradict/)
    expect(() => classify(block('sh expect="("'))).toThrow(/is not a regular expression/)
    expect(() => classify(block('sh expect="x" exit=300x'))).toThrow(/exit must be an exit code/)
    expect(() => classify(block('sh expect="x" background'))).toThrow(/background and ready/)
    expect(() => classify(block('sh expect="x" bogus'))).toThrow(/unknown attribute "bogus"/)
    expect(classify(block('bash expect="ok" exit=3 requires=snmptranslate timeout=5'))).toMatchObject({kind: 'shell', exit: 3, requires: ['snmptranslate'], timeoutMs: 5000})
  })

  it('a YAML block says what it is, once', () => {
    expect(() => classify(block('yaml'))).toThrow(/say what this YAML is/)
    expect(() => classify(block('yaml inventory playbook'))).toThrow(/say what this YAML is/)
    expect(() => classify(block('yaml fragment=gates'))).toThrow(/fragment=inventory or fragment=playbook/)
    expect(() => classify(block('yaml inventory check=later'))).toThrow(/check=later needs file=PATH/)
    expect(() => classify(block('yaml inventory file=../escape.yml'))).toThrow(/relative path inside/)
    expect(classify(block('yaml fragment=playbook file=p.yml check=later'))).toEqual({kind: 'yaml', document: 'playbook', fragment: true, file: 'p.yml', checkLater: true})
  })

  it('shown languages take only file= or output; unknown languages are refused', () => {
    expect(classify(block('text'))).toEqual({kind: 'shown', file: undefined, output: false})
    expect(classify(block('text file=keys.psk'))).toEqual({kind: 'shown', file: 'keys.psk', output: false})
    expect(classify(block('text output'))).toEqual({kind: 'shown', file: undefined, output: true})
    expect(() => classify(block('text output file=x'))).toThrow(/contradict/)
    expect(() => classify(block('text expect="x"'))).toThrow(/its attributes are file=PATH .* and output/)
    expect(() => classify(block('python'))).toThrow(/unknown code block language "python"/)
  })

  it('a synopsis takes no other attribute', () => {
    expect(classify(block('sh synopsis'))).toEqual({kind: 'synopsis'})
    expect(() => classify(block('sh synopsis exit=2'))).toThrow(/takes no other attribute/)
  })
})

describe('a session', () => {
  let session: DocSession
  beforeAll(async () => {
    session = await DocSession.open(ROOT)
  })
  afterAll(() => session.close())

  it('runs with exit code and quiet checks, no TTY, chainup and npx chainup on PATH, npm ci a no-op', async () => {
    const run = (info: string, content: string) => session.check(block(info, content), classify(block(info, content)))
    await expect(run('sh quiet', 'npm ci\n')).resolves.toEqual({status: 'passed'})
    await expect(run('sh expect="^chainup/\\d+\\.\\d+\\.\\d+"', 'npx chainup --version\n')).resolves.toEqual({status: 'passed'})
    await expect(run('sh expect="^CI=true NO_COLOR=1 tty=no$"', 'echo "CI=$CI NO_COLOR=$NO_COLOR tty=$([ -t 1 ] && echo yes || echo no)"\n')).resolves.toEqual({status: 'passed'})
    await expect(run('sh exit=3 quiet', 'exit 3\n')).resolves.toEqual({status: 'passed'})
    await expect(run('sh quiet', 'echo hi\n')).rejects.toThrow(/x\.md:3: the example says it prints nothing \(quiet\), it printed:\n {4}hi/)
    await expect(run('sh quiet', 'npm install left-pad\n')).rejects.toThrow(/exited 127.*npm install left-pad is not run by the docs tests/s)
    await expect(run('sh expect="x" requires=no-such-tool-here', 'no-such-tool-here\n')).resolves.toMatchObject({status: 'skipped', reason: expect.stringMatching(/needs no-such-tool-here, which is not installed/)})
  })

  it('a synopsis names only commands and flags that exist (plugins included), else the line that does not', async () => {
    const check = (content: string) => session.check(block('sh synopsis', content), {kind: 'synopsis'})
    await expect(check('chainup upgrade INVENTORY [--lab] [--json]   # a comment --not-a-flag\nchainup certs init DIR --inventory FILE\nchainup autocomplete [bash|zsh]\n')).resolves.toEqual({status: 'passed'})
    await expect(check('chainup plan INVENTORY --check\nchainup plan INVENTORY [--chek]\n')).rejects.toThrow(/^x\.md:3: line 2 of the synopsis \("chainup plan INVENTORY \[--chek\]"\): chainup plan has no flag --chek; it has .*--check/)
    await expect(check('chainup certs renew DIR\n')).rejects.toThrow(/line 1 of the synopsis .*: no command "chainup certs renew"/)
    await expect(check('npx chainup upgrade X\n')).rejects.toThrow(/a synopsis line starts with chainup/)
  })

  it('a text output block must be what the shell block before it printed', async () => {
    const other = await DocSession.open(ROOT)
    try {
      const out = (content: string) => other.check(block('text output', content), {kind: 'shown', output: true})
      await expect(out('anything')).rejects.toThrow(/x\.md:3: output: no shell block ran before this one/)
      await other.check(block('sh expect="two"', 'printf "one  \\ntwo\\n"\n'), classify(block('sh expect="two"')))
      await expect(out('one\ntwo\n')).resolves.toEqual({status: 'passed'})
      await expect(out('one\nthree\n')).rejects.toThrow(/is not what x\.md:3 printed: line 2 of the block says\n {4}three\nthe command printed\n {4}two/)
    } finally {
      await other.close()
    }
  })

  it('a background block runs until its file is done, then its whole process group is stopped; one that never gets ready fails and is stopped too', async () => {
    const other = await DocSession.open(ROOT)
    // Running, not a zombie waiting for this container's init to reap it.
    const alive = (pid: number) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
      } catch {
        return false
      }
    }
    const up = block('sh background ready="^up$" expect="up"', 'sleep 300 & echo $! > child.pid; echo up; wait\n')
    await other.check(up, classify(up))
    const stuck = block('sh background ready="^never$" expect="x" timeout=1', 'sleep 300 & echo $! > stuck.pid; echo starting; wait\n')
    await expect(other.check(stuck, classify(stuck))).rejects.toThrow(/x\.md:3: its output did not match ready=\/\^never\$\/ within 1 s; output:\n {4}starting/)
    const pids = ['child.pid', 'stuck.pid'].map((f) => Number(readFileSync(join(other.dir, f), 'utf8')))
    expect(pids.map(alive)).toEqual([true, true])
    await other.close()
    expect(pids.map(alive)).toEqual([false, false])
  })

  it('a check=later file that no later block uses fails when the file is done', async () => {
    const other = await DocSession.open(ROOT)
    const b = block('yaml fragment=inventory file=forgotten.yml check=later', 'stack: s\n')
    await other.check(b, classify(b))
    await expect(other.close()).rejects.toThrow(/x\.md:3: check=later: no later shell block of this file uses forgotten\.yml/)
  })
})
