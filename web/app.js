// chainup's live NOC page: plain browser JavaScript, no framework, no CDN (docs/api.md "The NOC page").
// Everything that comes from a device or a run (names, versions, reasons, step names) is set with textContent,
// never parsed as HTML. Live updates come from GET /v1/executions/{id}/events (Server-Sent Events, read with fetch so
// the bearer token can be sent), replayed from the journal and resumed with Last-Event-ID after a drop.
'use strict'

const $ = (sel) => document.querySelector(sel)
const state = {token: sessionStorage.getItem('chainup-token') || '', page: 1, limit: 10, status: '', runId: null, stream: null, view: null, liveRunning: false}

/** An element with text content and attributes; children appended. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') e.textContent = v
    else if (k === 'class') e.className = v
    else e.setAttribute(k, v)
  }
  for (const c of children) e.append(c)
  return e
}

async function api(path, init = {}) {
  const headers = new Headers(init.headers || {})
  if (state.token) headers.set('authorization', `Bearer ${state.token}`)
  const res = await fetch(path, {...init, headers})
  if (res.status === 401) setConn('token needed', 'failed')
  return res
}

function setConn(text, cls) {
  const c = $('#conn')
  c.textContent = text
  c.className = `pill ${cls || ''}`
}

// ---- the run view: state rebuilt from the run's journal events ----

function newView(runId) {
  return {runId, stack: '', target: '', status: 'running', reason: '', devices: new Map(), order: [], gates: [], traps: [], log: []}
}

function device(view, name) {
  if (!name) return undefined
  let d = view.devices.get(name)
  if (!d) {
    d = {name, sync: '', phase: '', detail: '', step: '', before: '', after: '', outcome: '', started: false}
    view.devices.set(name, d)
    view.order.push(name)
  }
  return d
}

/** Applies one journal event (docs/runs.md event types) to the view. */
function apply(view, e) {
  const data = e.data || {}
  const d = device(view, e.device)
  switch (e.type) {
    case 'journal.run_created':
      view.stack = data.stack || ''
      view.target = data.target ? data.target.version : ''
      for (const x of data.devices || []) device(view, x.name)
      break
    case 'journal.run_reopened':
      view.status = 'running'
      view.reason = ''
      break
    case 'nodeState':
      if (d) d.sync = data.state
      break
    case 'devicePhase':
      if (d) {
        d.phase = data.phase
        d.detail = data.detail || ''
      }
      break
    case 'deviceFacts':
      if (d) d.before = data.version_before || ''
      break
    case 'journal.step_started':
      if (d) {
        d.step = data.name || ''
        d.started = true
      }
      break
    case 'journal.status':
      if (d && data.status) {
        d.outcome = data.status === 'pending' || data.status === 'running' ? '' : data.status
        if (data.detail && data.detail.version_after) d.after = data.detail.version_after
        if (data.detail && data.detail.version_before) d.before = data.detail.version_before
      }
      break
    case 'journal.gate':
      view.gates.push({name: data.name, type: data.type, device: data.device, decision: data.decision, reason: data.reason})
      break
    case 'trap':
      view.traps.push(`${data.kind || 'trap'} from ${data.reporter || 'the run'}: ${data.reason || ''}`)
      break
    case 'log':
      if (data.level !== 'info') view.log.push(`${e.device || '-'} ${data.level}: ${data.message}`)
      break
    case 'journal.run_finished':
      view.status = data.status
      view.reason = data.reason || ''
      // Devices the run left unsettled read as the result says: never started, or cut short.
      for (const x of view.devices.values()) if (!x.outcome) x.outcome = x.started ? 'cancelled' : 'not_started'
      break
  }
}

const WORKING = ['upgrading', 'booting', 'verifying', 'gates', 'rolling_back']

/**
 * What a person reads on a device card: its outcome once settled; else what it is doing (UPGRADING, BOOTING …);
 * READY once it is locally ready and waits for its turn; before that its ChainSync state (SYNC).
 */
function label(d) {
  if (d.outcome) return d.outcome.toUpperCase().replace('_', ' ')
  if (WORKING.includes(d.phase)) return d.phase.toUpperCase().replace('_', ' ')
  if (d.phase === 'ready') return 'READY'
  return d.sync || 'SYNC'
}

function render(view) {
  $('#live').hidden = false
  $('#stack').textContent = view.stack
  const st = $('#run-status')
  st.textContent = view.status
  st.className = `pill ${view.status}`
  $('#target').textContent = view.target ? `→ ${view.target}` : ''
  $('#run-id').textContent = `run ${view.runId}`
  const reason = $('#run-reason')
  reason.hidden = !view.reason
  reason.textContent = view.reason
  $('#cancel').disabled = view.status !== 'running'
  const chain = $('#chain')
  chain.replaceChildren(
    ...view.order.map((name) => {
      const d = view.devices.get(name)
      const working = !d.outcome && (d.sync === 'START' || WORKING.includes(d.phase))
      const status = el('div', {class: `status pill ${d.outcome || (working ? 'live' : '')}`, 'data-role': 'status', text: label(d)})
      const dl = el('dl')
      const row = (k, v) => dl.append(el('dt', {text: k}), el('dd', {text: v || '–'}))
      row('ChainSync', d.sync)
      row('phase', d.phase ? `${d.phase}${d.detail ? `: ${d.detail}` : ''}` : '')
      row('step', d.step)
      row('version', d.after && d.after !== d.before ? `${d.before || '?'} → ${d.after}` : d.before)
      return el('li', {}, el('div', {class: `device ${d.outcome} ${working ? 'working' : ''}`, 'data-device': name}, el('div', {class: 'name', text: name}), status, dl))
    }),
  )
  $('#gates tbody').replaceChildren(
    ...view.gates.map((g) => el('tr', {'data-decision': g.decision}, el('td', {text: g.name}), el('td', {text: g.type}), el('td', {text: g.device || 'stack'}), el('td', {class: g.decision, text: g.decision}), el('td', {class: 'gate-reason', text: g.reason}))),
  )
  $('#traps').replaceChildren(...(view.traps.length ? view.traps.map((t) => el('li', {text: t})) : [el('li', {class: 'muted', text: 'none'})]))
  $('#log').replaceChildren(...(view.log.length ? view.log.slice(-8).map((t) => el('li', {text: t})) : [el('li', {class: 'muted', text: 'none'})]))
}

/** Follows a run's SSE stream (replay, then live), reconnecting with Last-Event-ID until the stream says `end`. */
async function follow(runId) {
  if (state.stream) state.stream.abort()
  const abort = new AbortController()
  state.stream = abort
  state.runId = runId
  const view = newView(runId)
  state.view = view
  render(view)
  let last = 0
  while (!abort.signal.aborted) {
    try {
      setConn('live', 'live')
      const res = await api(`/v1/executions/${encodeURIComponent(runId)}/events`, {headers: last ? {'last-event-id': String(last)} : {}, signal: abort.signal})
      if (!res.ok) {
        setConn(`events: HTTP ${res.status}`, 'failed')
        return
      }
      const reader = res.body.getReader()
      const decoder = new TextDecoder()
      let buffer = ''
      let ended = false
      let dirty = false
      for (;;) {
        const {value, done} = await reader.read()
        if (done) break
        buffer += decoder.decode(value, {stream: true})
        let cut
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut)
          buffer = buffer.slice(cut + 2)
          let event = 'message'
          let id = null
          const lines = []
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7)
            else if (line.startsWith('id: ')) id = Number(line.slice(4))
            else if (line.startsWith('data: ')) lines.push(line.slice(6))
          }
          if (lines.length === 0) continue
          if (event === 'end') {
            ended = true
            continue
          }
          if (id !== null) last = id
          apply(view, JSON.parse(lines.join('\n')))
          dirty = true
        }
        if (dirty && state.view === view) {
          render(view)
          dirty = false
        }
      }
      if (ended) {
        setConn('idle')
        loadHistory()
        return
      }
    } catch (error) {
      if (abort.signal.aborted) return
      setConn('reconnecting', 'cancelled')
    }
    await new Promise((r) => setTimeout(r, 1000))
  }
}

// ---- history ----

async function loadHistory() {
  const q = new URLSearchParams({page: String(state.page), limit: String(state.limit)})
  if (state.status) q.set('status', state.status)
  const res = await api(`/v1/history?${q}`)
  if (!res.ok) return
  const page = await res.json()
  $('#page').textContent = page.total === 0 ? 'no runs' : `page ${page.page} of ${page.pages} (${page.total} runs)`
  $('#prev').disabled = !page.links.prev
  $('#next').disabled = !page.links.next
  $('#history tbody').replaceChildren(
    ...page.runs.map((r) => {
      const status = r.interrupted ? 'interrupted' : r.status
      const tr = el(
        'tr',
        {'data-run': r.execution_id, class: r.execution_id === state.runId ? 'selected' : ''},
        el('td', {text: r.started_at.replace('T', ' ').slice(0, 19)}),
        el('td', {text: r.chain_id}),
        el('td', {}, el('span', {class: `pill ${status}`, text: status})),
        el('td', {text: r.duration_ms === null ? '–' : `${(r.duration_ms / 1000).toFixed(1)} s`}),
        el('td', {text: r.devices.map((d) => `${d.name}:${d.status}`).join(' ')}),
        el('td', {class: 'muted', text: r.execution_id.slice(0, 8)}),
      )
      tr.addEventListener('click', () => follow(r.execution_id))
      return tr
    }),
  )
  return page
}

async function loadInventories() {
  const res = await api('/v1/inventories')
  if (!res.ok) return
  const {inventories} = await res.json()
  const select = $('#inventory')
  const chosen = select.value
  select.replaceChildren(...inventories.map((n) => el('option', {value: n, text: n})))
  if (inventories.includes(chosen)) select.value = chosen
}

async function start(event) {
  event.preventDefault()
  const notice = $('#notice')
  notice.textContent = 'starting…'
  const res = await api('/v1/chains/execute', {method: 'POST', headers: {'content-type': 'application/json', prefer: 'respond-async'}, body: JSON.stringify({inventory: $('#inventory').value})})
  const body = await res.json().catch(() => ({}))
  if (res.status === 202) {
    notice.textContent = ''
    follow(body.execution_id)
    loadHistory()
    return
  }
  notice.textContent = `${res.status} ${body.code || ''}: ${body.message || ''}`
  if (body.result) follow(body.result.execution_id)
}

async function cancel() {
  if (!state.runId) return
  const res = await api(`/v1/executions/${encodeURIComponent(state.runId)}/cancel`, {method: 'POST'})
  const body = await res.json().catch(() => ({}))
  $('#notice').textContent = res.status === 202 ? 'cancelling: the device in progress finishes first' : `${res.status} ${body.message || ''}`
}

async function init() {
  $('#token').value = state.token
  $('#auth').addEventListener('submit', (e) => {
    e.preventDefault()
    state.token = $('#token').value.trim()
    sessionStorage.setItem('chainup-token', state.token)
    setConn('idle')
    boot()
  })
  $('#execute').addEventListener('submit', start)
  $('#cancel').addEventListener('click', cancel)
  $('#status-filter').addEventListener('change', () => {
    state.status = $('#status-filter').value
    state.page = 1
    loadHistory()
  })
  $('#prev').addEventListener('click', () => {
    state.page = Math.max(1, state.page - 1)
    loadHistory()
  })
  $('#next').addEventListener('click', () => {
    state.page += 1
    loadHistory()
  })
  setInterval(loadHistory, 5000)
  boot()
}

async function boot() {
  await loadInventories()
  const page = await loadHistory()
  // Show the newest running run (else nothing until one is started or picked from the history).
  const running = page && page.runs.find((r) => r.status === 'running' && !r.interrupted)
  if (running && state.runId === null) follow(running.execution_id)
}

init()
