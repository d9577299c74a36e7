/* The fleet page: one EventSource on /api/events, every value written with
 * textContent (never as markup), ages counted on the master's clock. */
/* global document, window, EventSource */
'use strict';

const state = { workers: [], offsetMs: 0, sortKey: 'worker_id', sortDir: 1 };
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

const sortValue = (w, key) => (key === 'gpu_model' ? gpuSummary(w) : w[key]);

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
    cell(tr, w.worker_id);
    cell(tr, w.worker_ip);
    cell(tr, amount(w.total_cpu));
    cell(tr, amount(w.total_memory));
    cell(tr, amount(w.total_storage));
    cell(tr, amount(w.total_gpu));
    // The machine's own strings: text, never markup.
    cell(tr, gpuSummary(w), 'gpu-model');
    // A word and a symbol, so the state does not rest on colour alone.
    cell(tr, w.is_active ? '● active' : '✕ inactive', 'state');
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
}

function connect() {
  const events = new EventSource('/api/events');
  events.addEventListener('fleet', (event) => {
    const data = JSON.parse(event.data);
    state.workers = data.workers;
    state.offsetMs = data.now - Date.now();
    $('live').textContent = 'live';
    $('live').className = '';
    renderTotals();
    renderRows();
  });
  events.addEventListener('error', () => {
    $('live').textContent = 'disconnected: retrying…';
    $('live').className = 'down';
    // A closed stream (401 after the session ended): back to the sign-in page.
    if (events.readyState === EventSource.CLOSED) window.location.reload();
  });
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
  for (const id of ['filter-text', 'filter-state', 'filter-gpu', 'filter-gpu-model']) $(id).addEventListener('input', renderRows);
  window.setInterval(tickAges, 1000);
  connect();
});
