// deltaprop playground: the page.
//
// The page computes no forward pass, gradient or update: the server (app.py, session.py)
// trains a real deltaprop network and sends what to draw; this file lays it out. Each
// update is drawn in place (attributes of the same SVG paths, pixels of the same small
// canvases): the DOM is rebuilt only when the network's shape changes, so that playing
// keeps up with the server (a few ms a step).
//
// Sections: 1 helpers and colours, 2 the connection, 3 controls, 4 the network picture,
// 5 the output plane, 6 curves and the confusion matrix, 7 applying a state, 8 training,
// 9 "why" and traces, 10 files, 11 the link, 12 start.
'use strict';

// ---------------------------------------------------------------------------------------
// 1. Helpers and colours

const $ = (sel) => document.querySelector(sel);
const $$ = (sel) => Array.from(document.querySelectorAll(sel));
const SVGNS = 'http://www.w3.org/2000/svg';

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k === 'html') node.innerHTML = v;          // only for HTML the server escaped
    else if (k === 'style') node.style.cssText = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function s(tag, attrs = {}) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function fmtLoss(v) {
  if (v == null || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2);
}
const fmtPct = (v) => (v == null || !Number.isFinite(v) ? '–' : (100 * v).toFixed(1) + '%');
const fmtShort = (v) => (v == null ? '–' : Math.abs(v) >= 1e-3 || v === 0 ? +v.toPrecision(6) + '' : v.toExponential(3));

function bytesOf(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// Colours: negative orange, positive blue (as in the class colours of two classes: class 0
// orange, class 1 blue, so a sigmoid output's map reads as the decision it makes).
const NEG = [232, 131, 12], POS = [28, 116, 204], MID = [246, 247, 249];
const CLASS_RGB = [[232, 131, 12], [28, 116, 204], [47, 158, 68], [156, 54, 181], [224, 49, 49],
  [12, 133, 153], [214, 51, 108], [132, 99, 88], [92, 148, 13], [90, 98, 108]];
const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
const classRgb = (k) => CLASS_RGB[((k % CLASS_RGB.length) + CLASS_RGB.length) % CLASS_RGB.length];
const packRGBA = (r, g, b) => ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;   // little-endian ImageData
const mix = (a, b, t) => [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t));

// t in [-1, 1] -> packed pixel; a table of 513 so a heat map is one lookup a pixel
const DIVERGING = (() => {
  const lut = new Uint32Array(513);
  for (let i = 0; i <= 512; i++) {
    const t = i / 256 - 1;
    const c = t < 0 ? mix(MID, NEG, Math.min(1, -t)) : mix(MID, POS, Math.min(1, t));
    lut[i] = packRGBA(c[0], c[1], c[2]);
  }
  return lut;
})();
const divergingIndex = (t) => Math.round((Math.max(-1, Math.min(1, t)) + 1) * 256);

// Where an activation's values sit: a map is coloured by value (0 white, or 0.5 for the
// ones whose range is (0, 1)), on the activation's own range where it has one.
function valueScale(activation, lo, hi) {
  if (activation === 'sigmoid' || activation === 'softmax') return [0.5, 0.5];
  if (activation === 'tanh') return [0, 1];
  return [0, Math.max(Math.abs(lo), Math.abs(hi), 1e-12)];
}

// ---------------------------------------------------------------------------------------
// 2. The connection: one WebSocket; every message carries an id that its reply carries back

const S = {
  ws: null, sid: null, choices: null, nextId: 1, pending: new Map(), closed: false,
  config: null, data: null, classes: null, features: null, example: null, task: 'classification',
  state: null, history: [], playing: false, loop: null, times: [],
  selected: null, whyReply: null, csvUploaded: false, wantCsv: false, fromLink: null, lastHash: '',
};

function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
  S.ws = ws;
  ws.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch (e) { showError(`The server sent something that is not JSON (${e.message}).`); return; }
    const waiting = msg.id != null && S.pending.get(msg.id);
    if (waiting) { S.pending.delete(msg.id); waiting(msg); return; }
    if (msg.type === 'session') openSession(msg);
    else if (msg.type === 'error') showError(msg.message);
  };
  ws.onclose = () => {
    S.closed = true;
    S.playing = false;
    setConn('disconnected', 'bad');
    showError('disconnected: reload');
    for (const resolve of S.pending.values()) resolve({ type: 'error', message: 'disconnected: reload' });
    S.pending.clear();
    updatePlayButton();
  };
}

function setConn(text, kind) {
  const c = $('#conn');
  c.textContent = text;
  c.className = `conn ${kind || ''}`;
}

// The reply to msg (an error reply too: the caller decides what it means)
function send(msg) {
  if (!S.ws || S.ws.readyState !== WebSocket.OPEN) {
    return Promise.resolve({ type: 'error', message: S.closed ? 'disconnected: reload' : 'Not connected yet: wait a moment.' });
  }
  const id = S.nextId++;
  return new Promise((resolve) => {
    S.pending.set(id, resolve);
    S.ws.send(JSON.stringify({ ...msg, id }));
  });
}

// Send, and do the usual with the reply: draw a state, show an error.
async function ask(msg) {
  const reply = await send(msg);
  if (reply.type === 'error') showError(reply.message);
  else if (reply.type === 'state') applyState(reply);
  return reply;
}

function showError(message) {
  $('#error-text').textContent = message;
  $('#error').hidden = false;
}
function clearError() {
  if (S.closed) return;                        // "disconnected" stays: nothing works any more
  $('#error').hidden = true;
  $('#error-text').textContent = '';
}
function showNotice(message) {
  $('#notice').textContent = message || '';
  $('#notice').hidden = !message;
}

function openSession(msg) {
  S.sid = msg.id;
  S.choices = msg.choices;
  document.body.dataset.sid = msg.id;          // for the tests (and curious people)
  setConn('connected', 'good');
  $('#version').textContent = `· deltaprop ${msg.choices.version}`;
  fillChoices(msg.choices);
  $('#download-model').href = `/api/${S.sid}/model.dpz`;
  $('#download-code').href = `/api/${S.sid}/code.py`;
  applyState(msg.state);
  if (S.fromLink) {                            // a link's setup, sent once the session is open
    const setupOfLink = S.fromLink;
    S.fromLink = null;
    setup(setupOfLink);
  }
}

// ---------------------------------------------------------------------------------------
// 3. Controls: each change sends {type: "setup", config: {section: {key: value}}}; the
// server rebuilds and answers a full state, whose config fills the controls again.

const SOURCE_LABELS = {
  xor: 'XOR', moons: 'two moons', circles: 'circles', spirals: 'spirals', blobs: 'blobs',
  mazur: 'worked example 2-2-2 (Mazur)', kaist: 'KAIST 2-2-1 example', csv: 'CSV file (upload)',
};
const LOSS_LABELS = { quadratic: 'quadratic', binary_cross_entropy: 'binary cross-entropy', cross_entropy: 'cross-entropy' };
const SYNTHETIC = ['xor', 'moons', 'circles', 'spirals', 'blobs'];

function options(select, values, labels = {}) {
  select.replaceChildren(...values.map((v) => h('option', { value: v, text: labels[v] || v })));
}

function fillChoices(c) {
  options($('#source'), c.sources, SOURCE_LABELS);
  options($('#loss'), c.losses, LOSS_LABELS);
  options($('#output-activation'), ['auto', ...c.outputs], { auto: 'auto (from the loss)' });
  options($('#init'), c.inits);
  options($('#optimizer'), c.optimizers);
  options($('#schedule'), ['', ...c.schedules], { '': 'none' });
  options($('#why-notation'), c.notations);
  $('#limit-layers').max = c.hard_limits.layers;
  $('#limit-units').max = c.hard_limits.units;
  $('#hard-limits').textContent = `up to ${c.hard_limits.layers} × ${c.hard_limits.units}`;
}

function controlValue(el) {
  if (el.type === 'checkbox') return el.checked;
  if (el.id === 'schedule') return el.value || null;
  if (el.type === 'number') {
    const v = el.value.trim();
    return v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;  // the server says what is wrong
  }
  return el.value;
}

function onControl(ev) {
  const el = ev.target;
  const section = el.dataset.section, key = el.dataset.key;
  if (section === 'data' && key === 'source') {
    S.wantCsv = el.value === 'csv';
    if (S.wantCsv && !S.csvUploaded) {           // nothing to build yet: ask for the file
      refreshVisibility();
      showNotice('Drop a CSV file on the data panel (or choose one) to train on it.');
      return;
    }
    showNotice('');
  }
  setup({ [section]: { [key]: controlValue(el) } });
}

async function setup(changes) {
  // a loaded model stays until the network is changed by hand
  if (changes.network && S.config && S.config.network.use_loaded) changes.network.use_loaded = false;
  clearError();
  const reply = await ask({ type: 'setup', config: changes });
  if (reply.type === 'error') {
    fillControls();                            // the server kept its setup: show that one
    if (/limit/.test(reply.message)) {           // show where the limits are raised
      $('.limits').classList.add('flash');
      setTimeout(() => $('.limits').classList.remove('flash'), 2500);
    }
  }
  return reply;
}

function fillControls() {
  const c = S.config;
  if (!c) return;
  for (const el of $$('[data-section][data-key]')) {
    let v = c[el.dataset.section][el.dataset.key];
    if (el.id === 'example-lr' && v === undefined) v = true;
    if (el.type === 'checkbox') el.checked = !!v;
    else if (el.id === 'schedule') el.value = v || '';
    else el.value = v == null ? '' : v;
  }
  if (S.wantCsv && c.data.source !== 'csv') $('#source').value = 'csv';
  $('#csv-target').value = c.data.source === 'csv' ? (c.data.target ?? '') : $('#csv-target').value;
  const n = currentHidden().length;
  $('#hidden-count').textContent = n;
  $('#hidden-plural').textContent = n === 1 ? '' : 's';
  refreshVisibility();
}

function refreshVisibility() {
  const c = S.config;
  const source = $('#source').value;
  const example = source === 'mazur' || source === 'kaist';
  const csv = source === 'csv';
  $('#synthetic-fields').hidden = example || csv;
  $('#split-fields').hidden = example;
  $('#classes-field').hidden = !(source === 'spirals' || source === 'blobs');
  $('#csv-box').hidden = !csv;
  // what does not apply is not shown (a disabled "cross-entropy" would say the wrong thing)
  for (const el of $$('.hyper .field')) el.hidden = example && !el.contains($('#lr'));
  if (!['momentum', 'nesterov'].includes($('#optimizer').value)) $('#momentum-field').hidden = true;
  if (!$('#schedule').value) $('#schedule-epochs-field').hidden = true;
  $('#from-logits').disabled = $('#loss').value === 'quadratic';
  // the worked examples bring their own network, optimizer and batch of one: of the
  // training controls only the learning rate is left, and only once the source's is unticked
  $('#example-lr-field').hidden = !example;
  const exampleLr = $('#example-lr').checked;
  $('#lr').disabled = example && exampleLr;
  $('.net-options').hidden = example;
  $('.layers-ctl').hidden = example;
  $('#example-net').hidden = !example;
  if (example && exampleLr && S.state && S.config && S.config.data.source === source) $('#lr').value = S.state.lr;
  const note = $('#example-note');
  note.hidden = !example;
  if (example) {
    note.textContent = source === 'mazur'
      ? 'Matt Mazur\'s worked example: one training example, the network, weights and learning rate of the source (a regression: the loss only). Step once and ask “why”: the numbers are the source\'s.'
      : 'The KAIST lecture\'s 2-2-1 example: one training example with the source\'s network, weights and learning rate. Step once and ask “why”.';
  }
  const info = $('#csv-info');
  if (csv && c && c.data.source === 'csv' && S.data) {
    info.textContent = `${S.features.length} feature${S.features.length === 1 ? '' : 's'} → ${S.data.task === 'regression' ? 'a number (regression)' : `${(S.classes || []).length} classes`}` +
      (S.csvName ? ` · ${S.csvName}` : '');
  } else info.textContent = csv ? 'No file yet.' : '';
  $('#add-point').hidden = !(c && SYNTHETIC.includes(c.data.source));
  $('#clear-points').hidden = !(c && (c.data.points || []).length);
}

// The hidden layers as drawn: the setup's, or those of a loaded model (whose own layers the
// +/- buttons then change: the page edits the network the user sees).
function currentHidden() {
  const net = S.state && S.state.network;
  if (S.config && S.config.network.use_loaded && net) {
    return net.sizes.slice(1, -1).map((units, i) => ({ units, activation: net.layers[i].activation }));
  }
  return S.config ? structuredClone(S.config.network.hidden) : [];
}

function wireControls() {
  for (const el of $$('[data-section][data-key]')) el.addEventListener('change', onControl);
  $('#csv-target').addEventListener('change', () => {
    if (S.config && S.config.data.source === 'csv') setup({ data: { target: $('#csv-target').value.trim() || null } });
  });
  $('#layer-add').addEventListener('click', () => {
    const hidden = currentHidden();
    const last = hidden[hidden.length - 1] || { units: 4, activation: 'tanh' };
    hidden.push({ units: last.units, activation: last.activation });
    setup({ network: { hidden } });
  });
  $('#layer-remove').addEventListener('click', () => {
    const hidden = currentHidden();
    if (!hidden.length) return;
    hidden.pop();
    setup({ network: { hidden } });
  });
  // the per-layer controls are rebuilt with the picture: one listener for them all
  $('#net-heads').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-layer]');
    if (!b) return;
    const i = +b.dataset.layer;
    const hidden = currentHidden();
    hidden[i].units += b.classList.contains('units-plus') ? 1 : -1;
    if (hidden[i].units < 1) return;
    setup({ network: { hidden } });
  });
  $('#net-heads').addEventListener('change', (ev) => {
    const sel = ev.target.closest('select[data-layer]');
    if (!sel) return;
    const hidden = currentHidden();
    hidden[+sel.dataset.layer].activation = sel.value;
    setup({ network: { hidden } });
  });
  for (const r of $$('#edge-mode input')) r.addEventListener('change', () => S.state && updateEdges(S.state));
  $('#error-close').addEventListener('click', clearError);
}

// ---------------------------------------------------------------------------------------
// 4. The network picture: SVG edges (one path each, restyled every update), a small
// canvas per neuron (its output over the plane), HTML controls over each hidden layer.

const NET = { key: '', cols: [], gaps: [], size: 0, hot: null, inputKey: '', W: 0, H: 0 };
const MAX_SHOWN = 16;                          // neurons drawn per layer; the rest are "+k more"
const HEAD_H = 78;

function structureKey(st) {
  return st.network.sizes.join('-') + (st.grid ? ':maps' : '');
}

function buildPicture(st) {
  const box = $('#net');
  const sizes = st.network.sizes;
  const W = Math.max(420, box.clientWidth);
  const slots = sizes.map((n) => Math.min(n, MAX_SHOWN));
  const tallest = Math.max(...slots);
  const hasMaps = !!st.grid;
  // big maps for a small network, smaller ones as the tallest layer grows
  const size = hasMaps ? (tallest <= 6 ? 46 : tallest <= 10 ? 38 : 28) : (tallest <= 10 ? 30 : 22);
  const gap = tallest <= 6 ? 18 : tallest <= 10 ? 12 : 7;
  const body = tallest * (size + gap) - gap;
  const H = HEAD_H + body + 18;
  const padL = 100, padR = 100;            // room for the names of the inputs and outputs
  const xs = sizes.map((_, i) => padL + (i * (W - padL - padR)) / (sizes.length - 1));
  NET.W = W; NET.H = H; NET.size = size; NET.key = structureKey(st); NET.inputKey = '';
  box.style.height = `${H}px`;

  NET.cols = sizes.map((n, c) => {
    const shown = n > MAX_SHOWN ? MAX_SHOWN - 1 : n;
    const top = HEAD_H + (body - (slots[c] * (size + gap) - gap)) / 2;
    const ys = Array.from({ length: shown }, (_, i) => top + i * (size + gap) + size / 2);
    return { x: xs[c], ys, n, shown, more: n - shown, moreY: top + shown * (size + gap) + size / 2, nodes: [] };
  });

  // edges: a gentle S from each neuron to each neuron of the next layer
  const svgEl = $('#net-svg');
  svgEl.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svgEl.setAttribute('width', W);
  svgEl.setAttribute('height', H);
  const frag = document.createDocumentFragment();
  NET.gaps = [];
  for (let g = 0; g + 1 < NET.cols.length; g++) {
    const lo = NET.cols[g], up = NET.cols[g + 1];
    const x1 = lo.x + size / 2, x2 = up.x - size / 2, mx = (x1 + x2) / 2;
    const edges = [];
    for (let j = 0; j < up.shown; j++) {
      for (let k = 0; k < lo.shown; k++) {
        const y1 = lo.ys[k], y2 = up.ys[j];
        const path = s('path', { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, class: 'edge', fill: 'none',
          'data-layer': g, 'data-neuron': j, 'data-from': k });
        frag.append(path);
        const pts = [];                        // the curve sampled, for finding the edge under the pointer
        for (let i = 0; i <= 12; i++) {
          const t = i / 12, u = 1 - t;
          pts.push(u * u * u * x1 + 3 * u * t * (u * mx + t * mx) + t * t * t * x2,
            u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2);
        }
        edges.push({ g, j, k, path, pts });
      }
    }
    NET.gaps.push({ x1, x2, edges });
  }
  for (const col of NET.cols) {
    if (col.more > 0) frag.append(Object.assign(s('text', { x: col.x, y: col.moreY + 4, class: 'more', 'text-anchor': 'middle' }),
      { textContent: `+${col.more} more` }));
  }
  svgEl.replaceChildren(frag);

  // neurons: one canvas each (the inputs too, drawn from the plane's coordinates)
  const G = hasMaps ? st.grid.size : 1;
  const nodes = $('#net-nodes');
  const nodeFrag = document.createDocumentFragment();
  NET.cols.forEach((col, c) => {
    col.nodes = col.ys.map((y, i) => {
      const cv = h('canvas', {
        class: c === 0 ? 'node input-node' : 'node neuron', width: G, height: G,
        style: `left:${col.x - size / 2}px;top:${y - size / 2}px;width:${size}px;height:${size}px`,
        'data-layer': c === 0 ? null : c - 1, 'data-neuron': c === 0 ? null : i, 'data-input': c === 0 ? i : null,
      });
      nodeFrag.append(cv);
      return { canvas: cv, ctx: cv.getContext('2d'), image: null };
    });
  });
  // names: the features at the left, the outputs at the right
  const first = NET.cols[0], last = NET.cols[NET.cols.length - 1];
  const features = S.features || [];
  first.ys.forEach((y, i) => nodeFrag.append(h('div', {
    class: 'node-label left', style: `top:${y - 9}px;left:0;width:${first.x - size / 2 - 8}px`,
    text: features[i] ?? `x${i + 1}`, title: features[i] ?? '',
  })));
  last.ys.forEach((y, i) => nodeFrag.append(h('div', {
    class: 'node-label right', style: `top:${y - 9}px;left:${last.x + size / 2 + 8}px;width:${padR - size / 2 - 10}px`,
    text: outputName(i, last.n), title: outputName(i, last.n),
  })));
  nodes.replaceChildren(nodeFrag);

  // the head of each column: what the layer is; for a hidden layer, its controls
  const hidden = currentHidden();
  const heads = $('#net-heads');
  const spacing = sizes.length > 1 ? xs[1] - xs[0] : W;
  const hw = Math.min(118, spacing - 6);
  const headFrag = document.createDocumentFragment();
  NET.cols.forEach((col, c) => {
    const style = `left:${col.x - hw / 2}px;width:${hw}px`;
    const L = c - 1;
    const act = c > 0 ? st.network.layers[L].activation : '';
    if (c === 0) {
      headFrag.append(h('div', { class: 'head', style }, h('div', { class: 'head-name', text: 'input' }),
        h('div', { class: 'head-sub', text: `${col.n} feature${col.n === 1 ? '' : 's'}` })));
    } else if (c === NET.cols.length - 1 || S.example) {
      headFrag.append(h('div', { class: 'head', style }, h('div', { class: 'head-name', text: c === NET.cols.length - 1 ? 'output' : 'hidden' }),
        h('div', { class: 'head-sub', text: `${col.n} · ${act}` })));
    } else {
      const sel = h('select', { class: 'layer-activation', 'data-layer': L, title: 'activation of this layer' });
      options(sel, S.choices ? S.choices.activations : [act]);
      sel.value = hidden[L] ? hidden[L].activation : act;
      headFrag.append(h('div', { class: 'head', style },
        h('div', { class: 'units-row' },
          h('button', { class: 'round tiny units-minus', 'data-layer': L, title: 'one neuron fewer', text: '−' }),
          h('span', { class: 'units', 'data-layer': L, text: col.n }),
          h('button', { class: 'round tiny units-plus', 'data-layer': L, title: 'one neuron more', text: '+' })),
        h('div', { class: 'head-sub', text: col.n === 1 ? 'neuron' : 'neurons' }), sel));
    }
  });
  heads.replaceChildren(headFrag);
  NET.hot = null;
  markSelected();
}

function outputName(i, n) {
  const classes = S.classes;
  if (S.task === 'regression' || !classes) return n === 1 ? 'ŷ' : `ŷ${i + 1}`;
  const name = (c) => (/^\d+$/.test(c) ? `class ${c}` : c);       // the synthetic sets' classes are numbers
  if (n === 1 && classes.length === 2) return `p(${name(classes[1])})`;
  return classes[i] != null ? name(classes[i]) : `out ${i + 1}`;
}

const EDGE_NAMES = { W: ['weight', 'w'], dW: ['gradient', '∂C/∂w'], dW_update: ['last update', 'Δw'] };
const edgeMode = () => ($('#edge-mode input:checked') || { value: 'W' }).value;

function updateEdges(st) {
  const mode = edgeMode();
  const layers = st.network.layers;
  let max = 0;
  for (const gap of NET.gaps) {
    const M = layers[gap.edges.length ? gap.edges[0].g : 0][mode];
    if (!M) continue;
    for (const e of gap.edges) max = Math.max(max, Math.abs(M[e.j][e.k]));
  }
  // Width and opacity in visible steps (a quarter pixel, 1/25), and set only when they
  // change: a path whose look stays is not repainted (the SVG's repaint is the costliest
  // part of an update).
  for (const gap of NET.gaps) {
    for (const e of gap.edges) {
      const M = layers[e.g][mode];
      const v = M ? M[e.j][e.k] : 0;
      const rel = max > 0 ? Math.sqrt(Math.abs(v) / max) : 0;
      const look = (v < 0 ? 1 : 0) + 2 * Math.round(rel * 20) + 64 * Math.round(rel * 25);
      if (look === e.look) continue;
      e.look = look;
      e.path.setAttribute('stroke', v < 0 ? EDGE_NEG : EDGE_POS);
      e.path.setAttribute('stroke-width', (0.5 + Math.round(rel * 20) / 4).toFixed(2));
      e.path.setAttribute('stroke-opacity', (0.18 + 0.8 * Math.round(rel * 25) / 25).toFixed(2));
    }
  }
  const [name, sym] = EDGE_NAMES[mode];
  $('#edge-scale').textContent = max > 0 ? `width ∝ |${sym}|, widest ${fmtShort(max)}` :
    (mode === 'W' ? '' : `no ${name} yet: train a step`);
  if (NET.hot) showEdgeTip(NET.hot, null);
}
const EDGE_NEG = rgb(NEG), EDGE_POS = rgb(POS);

// each neuron's map: bytes (row-major, top row = highest y) -> colours by value
function updateNodes(st) {
  const grid = st.grid;
  const layers = st.network.layers;
  if (grid) {
    drawInputMaps(grid);
    for (let c = 1; c < NET.cols.length; c++) {
      const L = c - 1, maps = grid.neurons[L], act = layers[L].activation;
      NET.cols[c].nodes.forEach((node, j) => paintMap(node, maps[j], act, grid.size));
    }
  } else {
    // no plane to draw over (more than 2 inputs, or a regression): tint by the bias
    for (let c = 1; c < NET.cols.length; c++) {
      const b = layers[c - 1].b, top = Math.max(1e-12, ...b.map(Math.abs));
      NET.cols[c].nodes.forEach((node, j) => {
        const t = b[j] / top * 0.45, col = t < 0 ? mix(MID, NEG, -t) : mix(MID, POS, t);
        node.ctx.fillStyle = rgb(col);
        node.ctx.fillRect(0, 0, node.canvas.width, node.canvas.height);
      });
    }
    if (NET.inputKey !== 'flat') {
      NET.inputKey = 'flat';
      for (const node of NET.cols[0].nodes) { node.ctx.fillStyle = '#eef1f5'; node.ctx.fillRect(0, 0, 1, 1); }
    }
  }
}

function paintMap(node, map, activation, G) {
  if (!map) return;
  if (!node.image || node.image.width !== G) {
    node.image = node.ctx.createImageData(G, G);
    node.pixels = new Uint32Array(node.image.data.buffer);
  }
  const bytes = bytesOf(map.data);
  const lo = map.min, span = map.max - map.min;
  const [centre, scale] = valueScale(activation, map.min, map.max);
  const table = new Uint32Array(256);          // byte -> colour, for this map's range
  for (let b = 0; b < 256; b++) table[b] = DIVERGING[divergingIndex((lo + (span * b) / 255 - centre) / scale)];
  const px = node.pixels;
  for (let i = 0; i < bytes.length; i++) px[i] = table[bytes[i]];
  node.ctx.putImageData(node.image, 0, 0);
}

// the inputs' own maps: x1 grows to the right, x2 upwards (drawn once per plane)
function drawInputMaps(grid) {
  const key = grid.extent.join(',') + ':' + grid.size;
  if (NET.inputKey === key) return;
  NET.inputKey = key;
  const [x0, x1, y0, y1] = grid.extent, G = grid.size;
  NET.cols[0].nodes.forEach((node, i) => {
    const img = node.ctx.createImageData(G, G), px = new Uint32Array(img.data.buffer);
    const top = i === 0 ? Math.max(Math.abs(x0), Math.abs(x1)) : Math.max(Math.abs(y0), Math.abs(y1));
    for (let r = 0; r < G; r++) {
      for (let q = 0; q < G; q++) {
        const v = i === 0 ? x0 + ((x1 - x0) * q) / (G - 1) : y1 - ((y1 - y0) * r) / (G - 1);
        px[r * G + q] = DIVERGING[divergingIndex(v / (top || 1))];
      }
    }
    node.ctx.putImageData(img, 0, 0);
  });
}

function layerName(L) {
  const n = NET.cols.length - 1;
  return L === n - 1 ? 'the output layer' : `hidden layer ${L + 1}`;
}
function belowName(L, k) {
  return L === 0 ? ((S.features || [])[k] ?? `x${k + 1}`) : `neuron ${k + 1} of hidden layer ${L}`;
}

// the pointer over the picture: the nearest edge within a few pixels, in the gap it is in
function edgeAt(x, y) {
  let best = null, bestD = 6;
  for (const gap of NET.gaps) {
    if (x < gap.x1 - 2 || x > gap.x2 + 2) continue;
    for (const e of gap.edges) {
      const p = e.pts;
      for (let i = 0; i + 3 < p.length; i += 2) {
        const d = segDist(x, y, p[i], p[i + 1], p[i + 2], p[i + 3]);
        if (d < bestD) { bestD = d; best = e; }
      }
    }
  }
  return best;
}
function segDist(x, y, x1, y1, x2, y2) {
  const dx = x2 - x1, dy = y2 - y1, l = dx * dx + dy * dy;
  const t = l ? Math.max(0, Math.min(1, ((x - x1) * dx + (y - y1) * dy) / l)) : 0;
  return Math.hypot(x - x1 - t * dx, y - y1 - t * dy);
}

function wirePicture() {
  const box = $('#net');
  let frame = 0, last = null;
  box.addEventListener('mousemove', (ev) => {
    last = ev;
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      const ev = last;
      const node = ev.target.closest('.node');
      if (node) { setHot(null); showNodeTip(node, ev); return; }
      const r = box.getBoundingClientRect();
      const e = ev.target.closest('.head') ? null : edgeAt(ev.clientX - r.left, ev.clientY - r.top);
      setHot(e);
      if (e) showEdgeTip(e, ev); else hideTip();
    });
  });
  box.addEventListener('mouseleave', () => { setHot(null); hideTip(); });
  box.addEventListener('click', (ev) => {
    const node = ev.target.closest('.neuron');
    if (node) { inspect({ layer: +node.dataset.layer, neuron: +node.dataset.neuron, edge: null }); return; }
    if (ev.target.closest('.head, .node')) return;
    const r = box.getBoundingClientRect();
    const e = edgeAt(ev.clientX - r.left, ev.clientY - r.top);
    if (e) inspect({ layer: e.g, neuron: e.j, edge: e.k });
  });
}

function setHot(e) {
  if (NET.hot === e) return;
  if (NET.hot) NET.hot.path.classList.remove('hot');
  NET.hot = e;
  if (e) e.path.classList.add('hot');
  $('#net').style.cursor = e ? 'pointer' : '';
}

function showEdgeTip(e, ev) {
  const st = S.state;
  if (!st) return;
  const ly = st.network.layers[e.g];
  const val = (m) => (ly[m] ? fmtShort(ly[m][e.j][e.k]) : '–');
  const mode = edgeMode();
  const rows = Object.entries(EDGE_NAMES).map(([m, [name, sym]]) =>
    `<div class="${m === mode ? 'cur' : ''}"><span>${name} ${sym}</span><b>${val(m)}</b></div>`).join('');
  showTip(`<div class="tip-title">${esc(belowName(e.g, e.k))} → neuron ${e.j + 1} of ${layerName(e.g)}</div>${rows}` +
    '<div class="tip-hint">click: why</div>', ev);
}

function showNodeTip(node, ev) {
  const st = S.state;
  if (!st) return;
  if (node.classList.contains('input-node')) {
    const i = +node.dataset.input;
    showTip(`<div class="tip-title">input ${esc((S.features || [])[i] ?? `x${i + 1}`)}</div>` +
      (st.grid ? `<div class="tip-hint">its value over the plane</div>` : ''), ev);
    return;
  }
  const L = +node.dataset.layer, j = +node.dataset.neuron;
  const ly = st.network.layers[L];
  const map = st.grid && st.grid.neurons[L][j];
  showTip(`<div class="tip-title">neuron ${j + 1} of ${layerName(L)} (${esc(ly.activation)})</div>` +
    `<div><span>bias b</span><b>${fmtShort(ly.b[j])}</b></div>` +
    (ly.db ? `<div><span>∂C/∂b</span><b>${fmtShort(ly.db[j])}</b></div>` : '') +
    (map ? `<div><span>output over the plane</span><b>${fmtShort(map.min)} … ${fmtShort(map.max)}</b></div>` : '') +
    '<div class="tip-hint">click: why</div>', ev);
}

const esc = (t) => String(t).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function showTip(html, ev) {
  const tip = $('#tooltip');
  tip.innerHTML = html;
  tip.hidden = false;
  if (ev) {
    const w = tip.offsetWidth, hgt = tip.offsetHeight;
    let x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + w > innerWidth - 8) x = ev.clientX - w - 14;
    if (y + hgt > innerHeight - 8) y = ev.clientY - hgt - 14;
    tip.style.left = `${x}px`;
    tip.style.top = `${y}px`;
  }
}
function hideTip() { $('#tooltip').hidden = true; }

function markSelected() {
  for (const n of $$('.neuron.selected')) n.classList.remove('selected');
  for (const p of $$('path.edge.selected')) p.classList.remove('selected');
  const sel = S.selected;
  if (!sel || !NET.cols[sel.layer + 1]) return;
  const node = NET.cols[sel.layer + 1].nodes[sel.neuron];
  if (node) node.canvas.classList.add('selected');
  if (sel.edge != null) {
    const e = NET.gaps[sel.layer].edges.find((x) => x.j === sel.neuron && x.k === sel.edge);
    if (e) e.path.classList.add('selected');
  }
}

// ---------------------------------------------------------------------------------------
// 5. The output plane: decision regions (a small canvas, scaled up smoothly) under the
// points (a sharp canvas, redrawn only when the data changes); or, for more than two
// inputs, the data on its two principal axes.

const PLOT = { extent: null, decision: null, pixels: null };

function plotExtent(st) {
  if (st.grid) return st.grid.extent;
  const d = S.data || {};
  let pts = [];
  if (d.train) pts = d.train.concat(d.test || []);
  else if (d.projection) pts = d.projection.train.concat(d.projection.test);
  if (!pts.length) return [-1, 1, -1, 1];
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of pts) { x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]); y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); }
  const px = Math.max(0.1 * (x1 - x0), 0.5), py = Math.max(0.1 * (y1 - y0), 0.5);
  return [x0 - px, x1 + px, y0 - py, y1 + py];
}

function drawDecision(grid) {
  const cv = $('#decision'), D = grid.decision_size;
  if (cv.width !== D) { cv.width = D; cv.height = D; PLOT.decision = null; }
  const ctx = cv.getContext('2d');
  if (!PLOT.decision) {
    PLOT.decision = ctx.createImageData(D, D);
    PLOT.pixels = new Uint32Array(PLOT.decision.data.buffer);
  }
  const labels = bytesOf(grid.decision), conf = bytesOf(grid.confidence);
  const k = Math.max(2, (S.classes || []).length);
  const floor = 1 / k;
  const shades = [];                           // per class: 64 levels of confidence
  for (let c = 0; c < k; c++) {
    const row = new Uint32Array(64);
    for (let i = 0; i < 64; i++) { const col = mix([255, 255, 255], classRgb(c), 0.1 + 0.55 * (i / 63)); row[i] = packRGBA(...col); }
    shades.push(row);
  }
  const px = PLOT.pixels;
  for (let i = 0; i < labels.length; i++) {
    const sure = Math.max(0, Math.min(1, (conf[i] / 255 - floor) / (1 - floor)));
    px[i] = shades[Math.min(labels[i], k - 1)][Math.round(sure * 63)];
  }
  ctx.putImageData(PLOT.decision, 0, 0);
}

// A canvas's CSS size is measured once (and again after a resize or a rebuild): reading
// it at each update would force a layout in the middle of drawing.
const CSS_SIZE = new WeakMap();
function sizeCanvas(cv) {
  const dpr = window.devicePixelRatio || 1;
  if (!CSS_SIZE.has(cv)) CSS_SIZE.set(cv, [cv.clientWidth, cv.clientHeight]);
  const [w, hgt] = CSS_SIZE.get(cv);
  if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(hgt * dpr)) {
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(hgt * dpr);
  }
  const ctx = cv.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return [ctx, w, hgt];
}

function drawPoints(st) {
  const d = S.data || {};
  const cv = $('#points');
  const [ctx, w, hgt] = sizeCanvas(cv);
  ctx.clearRect(0, 0, w, hgt);
  const ext = PLOT.extent = plotExtent(st);
  const [x0, x1, y0, y1] = ext;
  const X = (x) => ((x - x0) / (x1 - x0)) * w, Y = (y) => ((y1 - y) / (y1 - y0)) * hgt;
  let train = [], test = [];
  if (d.train) { train = d.train; test = d.test || []; }
  else if (d.projection) {
    const p = d.projection;
    train = p.train.map((q, i) => [q[0], q[1], p.train_labels[i]]);
    test = p.test.map((q, i) => [q[0], q[1], p.test_labels[i]]);
  }
  if (train.length + test.length) drawAxes(ctx, w, hgt, ext);
  const r = train.length + test.length > 600 ? 2.6 : 3.4;
  for (const [x, y, c] of train) {
    ctx.beginPath(); ctx.arc(X(x), Y(y), r, 0, 2 * Math.PI);
    ctx.fillStyle = rgb(classRgb(c)); ctx.fill();
    ctx.lineWidth = 1; ctx.strokeStyle = 'rgba(255,255,255,0.95)'; ctx.stroke();
  }
  for (const [x, y, c] of test) {
    ctx.beginPath(); ctx.arc(X(x), Y(y), r, 0, 2 * Math.PI);
    ctx.fillStyle = 'rgba(255,255,255,0.9)'; ctx.fill();
    ctx.lineWidth = 1.7; ctx.strokeStyle = rgb(classRgb(c)); ctx.stroke();
  }
  const caption = $('#plot-caption'), empty = $('#plot-empty');
  empty.hidden = true;
  if (d.projection) {
    caption.textContent = `${S.features.length} inputs: the data on its first two principal axes (of the training rows). ● train  ○ test`;
  } else if (d.train) {
    caption.textContent = `● train  ○ test${st.grid ? ' · regions: the class the network picks, paler where it is less sure' : ''}`;
  } else {
    caption.textContent = '';
    empty.hidden = false;
    empty.textContent = 'One input: no plane to draw; see the curves.';
  }
}

function drawAxes(ctx, w, hgt, [x0, x1, y0, y1]) {
  ctx.save();
  ctx.strokeStyle = 'rgba(30,41,59,0.10)';
  ctx.fillStyle = 'rgba(30,41,59,0.55)';
  ctx.font = '10px system-ui, sans-serif';
  ctx.lineWidth = 1;
  const ticks = (a, b) => {
    const step = niceStep((b - a) / 4);
    const out = [];
    for (let v = Math.ceil(a / step) * step; v <= b; v += step) out.push(+v.toFixed(10));
    return out;
  };
  for (const v of ticks(x0, x1)) {
    const x = ((v - x0) / (x1 - x0)) * w;
    ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, hgt); ctx.stroke();
    if (x > 14 && x < w - 14) { ctx.textAlign = 'center'; ctx.fillText(v, x, hgt - 4); }
  }
  for (const v of ticks(y0, y1)) {
    const y = ((y1 - v) / (y1 - y0)) * hgt;
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke();
    if (y > 12 && y < hgt - 16) { ctx.textAlign = 'left'; ctx.fillText(v, 4, y + 3); }
  }
  ctx.restore();
}
function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

function updatePlot(st) {
  const dec = $('#decision');
  dec.hidden = !st.grid;
  if (st.grid) drawDecision(st.grid);
}

function wirePlot() {
  $('#points').addEventListener('click', (ev) => {
    if (!S.config || !SYNTHETIC.includes(S.config.data.source) || !PLOT.extent) return;
    const r = ev.target.getBoundingClientRect();
    const [x0, x1, y0, y1] = PLOT.extent;
    const x = x0 + ((ev.clientX - r.left) / r.width) * (x1 - x0);
    const y = y1 - ((ev.clientY - r.top) / r.height) * (y1 - y0);
    clearError();
    ask({ type: 'add_point', x, y, label: +($('#point-class').value || 0) });
  });
  $('#clear-points')?.addEventListener('click', () => setup({ data: { points: [] } }));
}

// ---------------------------------------------------------------------------------------
// 6. Curves (train and test loss, accuracy) and the confusion matrix

const CURVE_TRAIN = '#1c74cc', CURVE_TEST = '#e8830c';

function pushHistory(st) {
  const m = st.metrics || {};
  const tr = m.train || {}, te = m.test || {};
  const H = S.history;
  if (H.length && H[H.length - 1].step === st.step) H.pop();     // the same step again (a redraw)
  H.push({ step: st.step, trL: tr.loss, teL: te.loss, trA: tr.accuracy, teA: te.accuracy });
  if (H.length > 1600) S.history = H.filter((_, i) => i % 2 === 0 || i === H.length - 1);
}

function drawCurves() {
  const H = S.history;
  drawCurve($('#curve-loss'), H, ['trL', 'teL'], null);
  if (S.task !== 'regression') drawCurve($('#curve-acc'), H, ['trA', 'teA'], [0, 1]);
}

function drawCurve(cv, H, keys, fixed) {
  const [ctx, w, hgt] = sizeCanvas(cv);
  ctx.clearRect(0, 0, w, hgt);
  const L = 40, R = 8, T = 8, B = 18;
  let lo = 0, hi = 1;
  if (!fixed) {
    hi = 0;
    for (const p of H) for (const k of keys) if (p[k] != null && Number.isFinite(p[k])) hi = Math.max(hi, p[k]);
    hi = hi > 0 ? hi * 1.05 : 1;
  } else [lo, hi] = fixed;
  const s0 = H.length ? H[0].step : 0, s1 = Math.max(s0 + 1, H.length ? H[H.length - 1].step : 1);
  const X = (v) => L + ((v - s0) / (s1 - s0)) * (w - L - R);
  const Y = (v) => T + (1 - (v - lo) / (hi - lo)) * (hgt - T - B);
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = 'rgba(30,41,59,0.55)';
  ctx.strokeStyle = 'rgba(30,41,59,0.09)';
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4, y = Y(v);
    ctx.beginPath(); ctx.moveTo(L, y); ctx.lineTo(w - R, y); ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText(fixed ? `${Math.round(v * 100)}%` : +v.toPrecision(2), L - 5, y + 3);
  }
  ctx.textAlign = 'left'; ctx.fillText(`step ${s0}`, L, hgt - 4);
  ctx.textAlign = 'right'; ctx.fillText(`${s1}`, w - R, hgt - 4);
  // at most about two points a pixel: a long run draws as fast as a short one
  const stride = Math.max(1, Math.floor(H.length / (2 * (w - L - R))));
  const picked = [];
  for (let n = 0; n < H.length; n += stride) picked.push(H[n]);
  if (H.length && picked[picked.length - 1] !== H[H.length - 1]) picked.push(H[H.length - 1]);
  keys.forEach((k, i) => {
    if (picked.length === 1 && picked[0][k] != null) {   // one point so far: a dot
      ctx.beginPath();
      ctx.arc(X(picked[0].step), Y(picked[0][k]), 2.5, 0, 2 * Math.PI);
      ctx.fillStyle = i === 0 ? CURVE_TRAIN : CURVE_TEST;
      ctx.fill();
      return;
    }
    ctx.beginPath();
    let started = false;
    for (const p of picked) {
      const v = p[k];
      if (v == null || !Number.isFinite(v)) continue;
      if (started) ctx.lineTo(X(p.step), Y(v)); else { ctx.moveTo(X(p.step), Y(v)); started = true; }
    }
    ctx.strokeStyle = i === 0 ? CURVE_TRAIN : CURVE_TEST;
    ctx.lineWidth = 1.8;
    ctx.setLineDash(i === 0 ? [] : [5, 3]);
    ctx.stroke();
    ctx.setLineDash([]);
  });
}

function updateConfusion(st) {
  const card = $('#confusion-card');
  const M = st.confusion;
  card.hidden = !M;
  if (!M) return;
  const table = $('#confusion');
  const names = S.classes || M.map((_, i) => `${i}`);
  if (table.dataset.k !== `${M.length}:${names.join('|')}`) {
    table.dataset.k = `${M.length}:${names.join('|')}`;
    const head = h('tr', {}, h('th', { class: 'corner', text: '' }), ...names.map((n) => h('th', { text: n, title: `predicted ${n}` })));
    const rows = M.map((row, a) => h('tr', {}, h('th', { text: names[a], title: `actual ${names[a]}` }),
      ...row.map((_, p) => h('td', { 'data-actual': a, 'data-predicted': p }))));
    table.replaceChildren(h('thead', {}, head), h('tbody', {}, ...rows));
  }
  M.forEach((row, a) => {
    const total = row.reduce((x, y) => x + y, 0) || 1;
    row.forEach((n, p) => {
      const td = table.querySelector(`td[data-actual="${a}"][data-predicted="${p}"]`);
      td.textContent = n;
      const t = n / total;
      td.style.background = n === 0 ? '#f3f5f8' : `rgba(${a === p ? '47,158,68' : '224,49,49'},${(0.12 + 0.6 * t).toFixed(3)})`;
    });
  });
}

// ---------------------------------------------------------------------------------------
// 7. Applying a state: a full one (after a setup) rebuilds; a step's redraws in place

function applyState(st) {
  const full = 'config' in st;
  if (!full && structureKey(st) !== NET.key) {
    // a step answered for a network the page no longer draws (an upload raced it): ask again
    ask({ type: 'state', full: true });
    return;
  }
  S.state = st;
  if (full) {
    S.config = st.config; S.data = st.data; S.classes = st.classes; S.features = st.features;
    S.example = st.example; S.task = st.data.task;
    S.history = [];
    S.selected = null;
    document.body.dataset.fullStates = +(document.body.dataset.fullStates || 0) + 1;  // the tests wait on it
    if (st.config.data.source === 'csv') { S.csvUploaded = true; S.wantCsv = false; }
    buildPicture(st);
    fillControls();
    for (const cv of $$('#points, .curve')) CSS_SIZE.delete(cv);   // the layout may have changed
    options($('#point-class'), (st.classes || ['0', '1']).map((_, i) => `${i}`),
      Object.fromEntries((st.classes || []).map((n, i) => [`${i}`, n])));
    $('#example-btn').hidden = !st.example;
    if (st.example) {
      const acts = [...new Set(st.network.layers.map((l) => l.activation))].join(' and ');
      $('#example-net').textContent = `The source's network: ${st.network.sizes.join('-')}, ${acts} neurons, ` +
        `${st.network.loss.replace(/_/g, ' ')} loss, gradient descent on its one example (η = ${st.lr}).`;
    }
    $('#acc-block').hidden = S.task === 'regression';
    for (const m of $$('.metric.acc')) m.hidden = S.task === 'regression';
    resetWhy();
    updateLink();
  }
  pushHistory(st);
  const m = st.metrics || {};
  for (const el of $$('.metric.test')) el.hidden = !m.test || (el.classList.contains('acc') && S.task === 'regression');
  $('#train-loss').textContent = fmtLoss(m.train && m.train.loss);
  $('#test-loss').textContent = fmtLoss(m.test && m.test.loss);
  $('#train-acc').textContent = fmtPct(m.train && m.train.accuracy);
  $('#test-acc').textContent = fmtPct(m.test && m.test.accuracy);
  $('#step-count').textContent = st.step;
  $('#epoch').textContent = st.epoch;
  $('#epoch').title = `batch ${st.batch} of ${st.n_batches} in this epoch`;
  const slow = $('#slow');
  slow.hidden = !st.slow;
  if (st.slow) slow.textContent = `This machine is slow for this network: ${(st.seconds_per_step * 1000).toFixed(0)} ms a step. ` +
    'Fewer neurons, points or a larger batch make it faster.';
  updateEdges(st);
  updateNodes(st);
  updatePlot(st);
  if (full) {
    drawPoints(st);
    $('#net-hint').textContent = st.grid ? 'each neuron: its output over the plane · click a neuron or an edge: why'
      : 'no plane to draw over: each neuron tinted by its bias · click a neuron or an edge: why';
  }
  drawCurves();
  updateConfusion(st);
}

// ---------------------------------------------------------------------------------------
// 8. Training: Step, Epoch, Reset, and Play (send a step, draw its reply, send the next)

function batchesPerUpdate() {
  const v = Math.round(Number($('#batches').value));
  return Number.isFinite(v) && v >= 1 ? Math.min(v, 10000) : 1;
}

function updatePlayButton() {
  const b = $('#play');
  b.classList.toggle('playing', S.playing);
  b.setAttribute('aria-pressed', S.playing ? 'true' : 'false');
  $('#rate').classList.toggle('stale', !S.playing);
}

function togglePlay() {
  if (S.playing) { S.playing = false; updatePlayButton(); return; }
  S.playing = true;
  updatePlayButton();
  if (S.loop) return;                          // the loop still running picks the play up again
  clearError();
  S.times = [];
  document.body.dataset.loop = 'running';      // the tests wait for the last reply
  S.loop = playLoop().finally(() => { S.loop = null; delete document.body.dataset.loop; });
}

// One step in flight while the page draws the one before: the server trains while the
// browser paints, and each reply is one update on the page.
async function playLoop() {
  let pending = send({ type: 'step', batches: batchesPerUpdate() });
  while (pending) {
    const reply = await pending;
    const ok = reply.type === 'state';
    pending = S.playing && ok ? send({ type: 'step', batches: batchesPerUpdate() }) : null;
    if (!ok) { showError(reply.message || `Unexpected reply ${reply.type}`); S.playing = false; }
    else { applyState(reply); tickRate(); }
  }
  S.playing = false;
  updatePlayButton();
  refreshWhy();
}

function tickRate() {
  const now = performance.now();
  const t = S.times;
  t.push(now);
  while (t.length > 2 && now - t[0] > 2000) t.shift();          // the last two seconds
  if (t.length >= 3) $('#rate').textContent = ((t.length - 1) / ((now - t[0]) / 1000)).toFixed(1);
}

async function pause() {
  S.playing = false;
  updatePlayButton();
  if (S.loop) await S.loop;
}

function wireTraining() {
  $('#play').addEventListener('click', togglePlay);
  $('#step').addEventListener('click', async () => {
    await pause();
    clearError();
    const r = await ask({ type: 'step', batches: 1 });
    if (r.type === 'state') refreshWhy();
  });
  $('#epoch-btn').addEventListener('click', async () => {
    await pause();
    clearError();
    const r = await ask({ type: 'epoch' });
    if (r.type === 'state') refreshWhy();
  });
  $('#reset').addEventListener('click', async () => {
    await pause();
    clearError();
    ask({ type: 'reset' });
  });
  document.addEventListener('keydown', (ev) => {        // space: play / pause, when not typing
    if (ev.code === 'Space' && !ev.target.closest('input, select, textarea, button')) { ev.preventDefault(); togglePlay(); }
  });
}

// ---------------------------------------------------------------------------------------
// 9. "Why": the numbers of one neuron (or one weight) in the last step, as the server's
// explain prints them; and the whole step as a trace

function resetWhy() {
  S.whyReply = null;
  $('#why').replaceChildren(h('div', { class: 'why-empty',
    text: 'Train a step, then click a neuron (or an edge) to see how backpropagation got its numbers.' }));
  markSelected();
}

async function inspect(sel) {
  S.selected = sel;
  markSelected();
  const notation = $('#why-notation').value || 'nielsen';
  const reply = await send({ type: 'inspect', layer: sel.layer, neuron: sel.neuron, notation, edge: sel.edge });
  if (reply.type === 'error') {
    showError(reply.message);
    $('#why').replaceChildren(h('div', { class: 'why-error', text: reply.message }));
    return;
  }
  S.whyReply = reply;
  renderWhy(reply);
}

function refreshWhy() {
  if (S.selected && S.whyReply) inspect(S.selected);
}

function renderWhy(r) {
  const p = r.printed;
  const m = Array.isArray(p.delta) ? p.delta.length : 1;
  const nIn = Array.isArray(p.dW) ? p.dW.length : 1;
  const step = S.state ? S.state.step : 0;
  const head = h('div', { class: 'why-title' }, h('span', { html: r.title }),
    h('span', { class: 'why-step', text: `the last step (step ${step})${m > 1 ? `, a batch of ${m}` : ''}` }));
  const lines = h('div', { class: 'why-lines' }, ...r.lines.map((l) => h('div', { class: 'why-line', html: l })));

  // the same numbers in tables, each cell findable: data-key (as in printed) and data-col
  const cell = (key, col, text, cls) => h('td', { 'data-key': key, 'data-col': col, class: cls, text });
  const list = (v) => (Array.isArray(v) ? v : [v]);
  const exRows = [['z', 'z', 'weighted input'], ['a', 'a', 'output'], ['delta', 'δ', 'error δ = ∂C/∂z']]
    .filter(([k]) => p[k] != null)
    .map(([k, sym, what]) => h('tr', {}, h('th', { text: sym, title: what }), ...list(p[k]).map((v, c) => cell(k, c, v))));
  const exTable = h('table', { class: 'why-table' },
    h('thead', {}, h('tr', {}, h('th', { text: '' }), ...Array.from({ length: m }, (_, c) => h('th', { text: m > 1 ? `example ${c + 1}` : 'value' })))),
    h('tbody', {}, ...exRows));
  const names = Array.from({ length: nIn }, (_, k) => belowName(r.layer, k).replace(/^neuron (\d+) of hidden layer (\d+)$/, 'h$2 n$1'));
  const hot = (k) => (r.edge != null && k === r.edge ? 'hot' : null);
  const wRows = [['W', 'w', 'before the step'], ['dW', '∂C/∂w', 'gradient'], ['W_new', 'w after', 'after the step']]
    .filter(([k]) => p[k] != null)
    .map(([k, sym, what]) => h('tr', {}, h('th', { text: sym, title: what }), ...list(p[k]).map((v, c) => cell(k, c, v, hot(c)))));
  const bRow = [['b', 'b'], ['db', '∂C/∂b'], ['b_new', 'b after']].filter(([k]) => p[k] != null);
  const wTable = h('table', { class: 'why-table' },
    h('thead', {}, h('tr', {}, h('th', { text: '' }), ...names.map((n, k) => h('th', { text: `from ${n}`, class: hot(k) })),
      h('th', { class: 'sep', text: 'bias' }))),
    h('tbody', {}, ...wRows.map((tr, i) => {
      const b = bRow[i];
      if (b) tr.append(cell(b[0], 0, p[b[0]], 'sep'));
      return tr;
    })));
  $('#why').replaceChildren(head, lines,
    h('div', { class: 'why-tables' }, h('div', { class: 'why-sub', text: 'this neuron, per example' }), h('div', { class: 'scroll-x' }, exTable),
      h('div', { class: 'why-sub', text: 'its weights and bias' }), h('div', { class: 'scroll-x' }, wTable)));
}

async function showTrace(example) {
  const notation = $('#why-notation').value || 'nielsen';
  const reply = await send(example ? { type: 'trace', example: true } : { type: 'trace', level: 'matrix', notation });
  if (reply.type === 'error') { showError(reply.message); return; }
  $('#trace-title').textContent = example ? 'The source\'s figures: the worked example\'s first step' : `The last step, matrix by matrix (${notation})`;
  $('#trace-frame').srcdoc = reply.html;
  const dlg = $('#trace-dialog');
  if (!dlg.open) dlg.showModal();
}

function wireWhy() {
  $('#why-notation').addEventListener('change', () => refreshWhy());
  $('#trace-btn').addEventListener('click', () => { clearError(); showTrace(false); });
  $('#example-btn').addEventListener('click', () => { clearError(); showTrace(true); });
  $('#trace-close').addEventListener('click', () => $('#trace-dialog').close());
  $('#trace-dialog').addEventListener('click', (ev) => { if (ev.target.id === 'trace-dialog') ev.target.close(); });
}

// ---------------------------------------------------------------------------------------
// 10. Files: downloads (plain links; the trace through fetch, so a refusal shows its
// message) and uploads (the raw bytes, POSTed; the reply is a full state or a message)

async function downloadTrace(ext) {
  if (!S.sid) return;
  clearError();
  const notation = $('#why-notation').value || 'nielsen';
  let res;
  try { res = await fetch(`/api/${S.sid}/trace.${ext}?notation=${encodeURIComponent(notation)}`); } catch (e) {
    showError(`The download failed: ${e.message}`); return;
  }
  if (!res.ok) { showError(await messageOf(res)); return; }
  const url = URL.createObjectURL(await res.blob());
  const a = h('a', { href: url, download: `step.${ext}` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function messageOf(res) {
  try { const j = await res.json(); if (j && j.message) return j.message; } catch (e) { /* not JSON */ }
  return `The server answered ${res.status} ${res.statusText}.`;
}

async function upload(kind, file) {
  if (!file) return;
  if (!S.sid) { showError('Not connected yet: wait a moment.'); return; }
  await pause();                               // no step may race the new setup
  clearError();
  let url = `/api/${S.sid}/upload/${kind}`;
  const target = $('#csv-target').value.trim();
  if (kind === 'csv' && target) url += `?target=${encodeURIComponent(target)}`;
  let res;
  try {
    res = await fetch(url, { method: 'POST', body: file,
      headers: { 'Content-Type': kind === 'csv' ? 'text/csv' : 'application/octet-stream' } });
  } catch (e) { showError(`The upload failed: ${e.message}`); return; }
  if (!res.ok) { showError(await messageOf(res)); return; }
  let st;
  try { st = await res.json(); } catch (e) { showError('The server\'s answer to the upload is not JSON.'); return; }
  if (kind === 'csv') { S.csvUploaded = true; S.csvName = file.name; }
  showNotice(kind === 'model' ? `Loaded ${file.name}: the network is the file's; change the network to build a new one.` : '');
  applyState(st);
}

function wireFiles() {
  for (const b of $$('[id^="download-trace-"]')) b.addEventListener('click', () => downloadTrace(b.dataset.ext));
  $('#csv-file').addEventListener('change', (ev) => { upload('csv', ev.target.files[0]); ev.target.value = ''; });
  $('#model-file').addEventListener('change', (ev) => { upload('model', ev.target.files[0]); ev.target.value = ''; });
  const zone = (el, kind) => {
    el.addEventListener('dragover', (ev) => { ev.preventDefault(); el.classList.add('over'); });
    el.addEventListener('dragleave', () => el.classList.remove('over'));
    el.addEventListener('drop', (ev) => {
      ev.preventDefault();
      ev.stopPropagation();
      el.classList.remove('over');
      upload(kind, ev.dataTransfer.files[0]);
    });
  };
  zone($('#csv-drop'), 'csv');
  zone($('#model-drop'), 'model');
  // a file dropped anywhere else: a model by its name, else a CSV (never opened by the browser)
  window.addEventListener('dragover', (ev) => ev.preventDefault());
  window.addEventListener('drop', (ev) => {
    ev.preventDefault();
    const f = ev.dataTransfer.files[0];
    if (f) upload(/\.(dpz|npz)$/i.test(f.name) ? 'model' : 'csv', f);
  });
  for (const a of $$('#download-model, #download-code')) {
    a.addEventListener('click', (ev) => { if (!S.sid) ev.preventDefault(); });
  }
}

// ---------------------------------------------------------------------------------------
// 11. The link: the whole setup (data, network, training, limits) in location.hash as
// #setup=<base64url of its JSON>, rewritten at each setup; a page opened with one sends it.

function encodeSetup(c) {
  const json = JSON.stringify({ data: c.data, network: c.network, training: c.training, limits: c.limits });
  let bin = '';
  for (const b of new TextEncoder().encode(json)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeSetup(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
}

function setupOfHash() {
  const m = /^#setup=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!m) return null;
  let c;
  try { c = decodeSetup(m[1]); } catch (e) { showError(`The link's setup cannot be read (${e.message}).`); return null; }
  if (!c || typeof c !== 'object') return null;
  const out = {};
  for (const k of ['data', 'network', 'training', 'limits']) if (c[k] && typeof c[k] === 'object') out[k] = { ...c[k] };
  if (out.data && out.data.source === 'csv') {
    // the file itself cannot travel in a link: keep the rest, and say what to do
    const target = out.data.target;
    delete out.data.source; delete out.data.target;
    showNotice(`This link was made on a CSV file, which cannot travel in a link: drop the file on the data panel${target ? ` (target ${target})` : ''} to train on it.`);
    if (target != null) $('#csv-target').value = target;
  }
  if (out.network) out.network.use_loaded = false;  // nor can a loaded model
  return out;
}

function updateLink() {
  const hash = `#setup=${encodeSetup(S.config)}`;
  S.lastHash = hash;
  if (location.hash !== hash) history.replaceState(null, '', hash);
  $('#link').value = location.href;
  const note = $('#link-note');
  const notes = [];
  if (S.config.data.source === 'csv') notes.push('CSV data cannot travel in a link: the link keeps the network and training; whoever opens it drops the file again.');
  if (S.config.network.use_loaded) notes.push('A loaded model cannot travel in a link: share its .dpz file.');
  note.hidden = !notes.length;
  note.textContent = notes.join(' ');
}

function wireLink() {
  $('#copy-link').addEventListener('click', async () => {
    const b = $('#copy-link');
    try {
      await navigator.clipboard.writeText(location.href);
      b.textContent = 'Copied ✓';
    } catch (e) {
      $('#link').select();                     // no clipboard here: the link is selected to copy by hand
      b.textContent = 'Select ⌘/Ctrl+C';
    }
    setTimeout(() => { b.textContent = 'Copy link'; }, 1600);
  });
  $('#link').addEventListener('focus', (ev) => ev.target.select());
  window.addEventListener('hashchange', () => {
    if (location.hash === S.lastHash) return;  // our own rewrite
    const c = setupOfHash();
    if (c) setup(c);
  });
}

// ---------------------------------------------------------------------------------------
// 12. Start

function start() {
  S.fromLink = setupOfHash();
  wireControls();
  wirePicture();
  wirePlot();
  wireTraining();
  wireWhy();
  wireFiles();
  wireLink();
  let pending = 0;
  window.addEventListener('resize', () => {    // lay the picture out again for the new width
    clearTimeout(pending);
    pending = setTimeout(() => {
      if (!S.state) return;
      for (const cv of $$('#points, .curve')) CSS_SIZE.delete(cv);
      buildPicture(S.state);
      updateEdges(S.state);
      updateNodes(S.state);
      drawPoints(S.state);
      drawCurves();
    }, 150);
  });
  connect();
}

start();
