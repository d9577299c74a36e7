/* The fleet page: one EventSource on /api/events, every value written with
 * textContent (never as markup), ages counted on the master's clock. */
/* global document, window, EventSource, fetch, URLSearchParams */
'use strict';

const state = { workers: [], offsetMs: 0, sortKey: 'worker_id', sortDir: 1, detail: undefined };
const $ = (id) => document.getElementById(id);

function amount(n) {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100);
}

function age(unixSeconds) {
  if (unixSeconds === 0) return 'never';
  const s = Math.max(0, Math.floor((Date.now() + state.offsetMs) / 1000) - unixSeconds);
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.floor(s / 60)}m ago`;
  if (s < 172800) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function renderTotals() {
  const sum = (rows) => [rows.length, ...['total_cpu', 'total_memory', 'total_storage', 'total_gpu'].map((k) => rows.reduce((t, w) => t + w[k], 0))];
  const put = (rowId, values) => {
    const cells = $(rowId).querySelectorAll('td');
    values.forEach((v, i) => { cells[i].textContent = amount(v); });
  };
  put('total-active', sum(state.workers.filter((w) => w.is_active)));
  put('total-registered', sum(state.workers));
}

/** `8× H100 80GB HBM3` from the worker's inventory (agents 0.2+); '-' without one. */
function gpuSummary(w) {
  const gpus = w.hardware ? w.hardware.gpus : [];
  if (gpus.length === 0) return '-';
  const counts = new Map();
  for (const g of gpus) {
    const model = (g.model || 'unknown').replace(/^(NVIDIA|AMD)\s+/i, '');
    counts.set(model, (counts.get(model) || 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([m, n]) => `${n}× ${m}`).join(', ');
}

function visible() {
  const text = $('filter-text').value.trim().toLowerCase();
  const model = $('filter-gpu-model').value.trim().toLowerCase();
  const want = $('filter-state').value;
  const gpu = $('filter-gpu').checked;
  return state.workers.filter((w) =>
    (text === '' || w.worker_id.toLowerCase().includes(text) || w.worker_ip.toLowerCase().includes(text)) &&
    (want === '' || (want === 'active') === w.is_active) &&
    (!gpu || w.total_gpu > 0) &&
    (model === '' || (w.hardware !== undefined && w.hardware.gpus.some((g) => (g.model || '').toLowerCase().includes(model)))));
}

/** When an inactive worker was flagged: its document's updated_at (the flag's write; nothing else writes an inactive worker but an admin). */
const inactiveSince = (w) => (w.is_active || w.updated_at === null ? '' : w.updated_at);

function since(iso) {
  return iso === '' ? '-' : age(Math.floor(Date.parse(iso) / 1000));
}

const sortValue = (w, key) => (key === 'gpu_model' ? gpuSummary(w) : key === 'inactive_since' ? inactiveSince(w) : w[key]);

function compare(a, b) {
  const x = sortValue(a, state.sortKey);
  const y = sortValue(b, state.sortKey);
  const c = x < y ? -1 : x > y ? 1 : 0;
  return c !== 0 ? c * state.sortDir : a.worker_id < b.worker_id ? -1 : 1;
}

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function renderRows() {
  const rows = visible().sort(compare);
  const body = $('workers').querySelector('tbody');
  const fresh = rows.map((w) => {
    const tr = document.createElement('tr');
    tr.dataset.workerId = w.worker_id;
    tr.dataset.active = String(w.is_active);
    if (!w.is_active) tr.className = 'inactive';
    const open = document.createElement('button');
    open.type = 'button';
    open.textContent = w.worker_id;
    open.title = `Details and recent events of ${w.worker_id}`;
    open.addEventListener('click', () => showDetail(w.worker_id));
    cell(tr, '').appendChild(open);
    cell(tr, w.worker_ip);
    cell(tr, amount(w.total_cpu));
    cell(tr, amount(w.total_memory));
    cell(tr, amount(w.total_storage));
    cell(tr, amount(w.total_gpu));
    // The machine's own strings: text, never markup.
    cell(tr, gpuSummary(w), 'gpu-model');
    // A word and a symbol, so the state does not rest on colour alone.
    cell(tr, w.is_active ? '● active' : '✕ inactive', 'state');
    const inactive = cell(tr, since(inactiveSince(w)), 'since');
    inactive.dataset.since = inactiveSince(w);
    if (inactiveSince(w) !== '') inactive.title = inactiveSince(w);
    cell(tr, age(w.last_heartbeat), 'age').dataset.heartbeat = String(w.last_heartbeat);
    // null: a date out of range, which the master cannot write as ISO 8601.
    cell(tr, w.registered_at === null ? '-' : w.registered_at.replace(/\.\d{3}Z$/, 'Z'));
    return tr;
  });
  body.replaceChildren(...fresh);
  $('shown').textContent = `${rows.length} of ${state.workers.length} shown`;
  document.querySelectorAll('#workers th').forEach((th) => {
    const key = th.querySelector('button').dataset.key;
    if (key === state.sortKey) th.setAttribute('aria-sort', state.sortDir === 1 ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  });
}

function tickAges() {
  document.querySelectorAll('#workers td.age').forEach((td) => { td.textContent = age(Number(td.dataset.heartbeat)); });
  document.querySelectorAll('#workers td.since').forEach((td) => { td.textContent = since(td.dataset.since); });
}

/** An event's detail in words: `from → to` first, then the other fields (values as text, never markup). */
function detailText(detail) {
  if (!detail) return '';
  const text = (v) => (typeof v === 'string' ? v : JSON.stringify(v));
  const rest = Object.entries(detail).filter(([k, v]) => k !== 'from' && k !== 'to' && v !== null).map(([k, v]) => `${k}=${text(v)}`);
  return ('from' in detail ? [`${text(detail.from)} → ${text(detail.to)}`, ...rest] : rest).join(' ');
}

function renderDetail(w) {
  $('detail-title').textContent = `Worker ${w.worker_id}`;
  const fields = [
    ['Address', w.worker_ip],
    ['State', w.is_active ? '● active' : `✕ inactive${inactiveSince(w) === '' ? '' : ` since ${inactiveSince(w)}`}`],
    ['Last heartbeat', age(w.last_heartbeat)],
    ['CPU cores / memory GiB / storage GB / GPUs', [w.total_cpu, w.total_memory, w.total_storage, w.total_gpu].map(amount).join(' / ')],
    ['Registered', w.registered_at === null ? '-' : w.registered_at],
  ];
  $('detail-fields').replaceChildren(...fields.flatMap(([k, v]) => {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    return [dt, dd];
  }));
  const hw = w.hardware;
  $('detail-inventory').hidden = hw === undefined;
  if (hw !== undefined) {
    const h = hw.host;
    $('detail-host').textContent = `${h.cpu_model ?? '?'} · ${h.arch ?? '?'} · ${h.sockets ?? '?'} sockets, ${h.physical_cores ?? '?'} cores, ${h.threads ?? '?'} threads · ${h.os_name ?? '?'} ${h.os_version ?? ''} · kernel ${h.kernel ?? '?'} · agent ${h.agent_version ?? '?'} · reported ${hw.reported_at}`;
    $('detail-gpus').querySelector('tbody').replaceChildren(...hw.gpus.map((g, i) => {
      const tr = document.createElement('tr');
      for (const v of [String(i), g.model ?? '-', g.memory_mib === null ? '-' : String(g.memory_mib), g.driver_version ?? '-', g.cuda_driver_version ?? '-', g.mig_mode ?? '-']) cell(tr, v);
      return tr;
    }));
  }
}

async function showDetail(workerId) {
  const w = state.workers.find((x) => x.worker_id === workerId);
  if (w === undefined) return;
  state.detail = workerId;
  renderDetail(w);
  const body = $('detail-events').querySelector('tbody');
  body.replaceChildren();
  $('detail-events-status').textContent = 'loading…';
  if (!$('detail').open) $('detail').showModal();
  try {
    const response = await fetch(`/api/worker-events?${new URLSearchParams({ worker: workerId, limit: '50' })}`, { credentials: 'same-origin' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const events = (await response.json()).reverse();
    if (state.detail !== workerId) return;
    $('detail-events-status').textContent = events.length === 0 ? 'No events recorded.' : `The newest ${events.length}, newest first.`;
    body.replaceChildren(...events.map((e) => {
      const tr = document.createElement('tr');
      tr.className = `kind-${e.kind}`;
      cell(tr, e.at.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z'));
      cell(tr, e.kind.replace(/_/g, ' '));
      cell(tr, e.cause ?? '');
      cell(tr, detailText(e.detail));
      return tr;
    }));
  } catch (error) {
    $('detail-events-status').textContent = `Could not load the events (${error.message}).`;
  }
}

/** Rows by worker_id, for the `beats` events that name them. */
let byId = new Map();

function connect() {
  const events = new EventSource('/api/events');
  events.addEventListener('fleet', (event) => {
    const data = JSON.parse(event.data);
    state.workers = data.workers;
    byId = new Map(state.workers.map((w) => [w.worker_id, w]));
    showFleet(data.now);
  });
  // Heartbeats alone since the event before: the rows named take their two new values.
  events.addEventListener('beats', (event) => {
    const data = JSON.parse(event.data);
    for (const group of data.beats) {
      for (const id of group.worker_ids) {
        const w = byId.get(id);
        if (w === undefined) continue;
        w.last_heartbeat = group.last_heartbeat;
        w.updated_at = group.updated_at;
      }
    }
    showFleet(data.now);
  });
  events.addEventListener('error', () => {
    $('live').textContent = 'disconnected: retrying…';
    $('live').className = 'down';
    // A closed stream (401 after the session ended): back to the sign-in page.
    if (events.readyState === EventSource.CLOSED) window.location.reload();
  });
}

/** The rows as the last event left them, on the master's clock at `now`. */
function showFleet(now) {
  state.offsetMs = now - Date.now();
  $('live').textContent = 'live';
  $('live').className = '';
  renderTotals();
  renderRows();
  // The open detail follows the feed (its events are read when it opens).
  const open = state.detail !== undefined && $('detail').open ? byId.get(state.detail) : undefined;
  if (open !== undefined) renderDetail(open);
}

document.addEventListener('DOMContentLoaded', () => {
  document.querySelectorAll('#workers th button').forEach((button) => {
    button.addEventListener('click', () => {
      const key = button.dataset.key;
      state.sortDir = key === state.sortKey ? -state.sortDir : 1;
      state.sortKey = key;
      renderRows();
    });
  });
  $('detail-close').addEventListener('click', () => $('detail').close());
  for (const id of ['filter-text', 'filter-state', 'filter-gpu', 'filter-gpu-model']) $(id).addEventListener('input', renderRows);
  window.setInterval(tickAges, 1000);
  connect();
});
