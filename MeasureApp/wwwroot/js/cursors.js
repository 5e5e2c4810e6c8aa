// Measurement cursors on any Plotly chart, by the div's id: two vertical cursors (click places the
// first, then the second, then moves the nearer one; drag a line to move it), two horizontal level
// cursors (Shift+click), arrow keys nudge the active vertical cursor by one sample. Cursors snap to
// the nearest stored sample on the measurement's time line: runs of [first index, ns of that sample
// since second 0, samples] (−1 samples: the last run is open, the measurement grows). After a gap
// or a producer restart samples do not lie at index / rate, so the grid alone would put a cursor
// between samples; nudging steps sample by sample and jumps a gap to the next run.
// Positions go to .NET through OnCursorsChanged(t1, t2, y1, y2).
// The chart's own code may replace its layout (zoom re-renders): the lines are put back after every plot.
// With reportView the module also tells .NET the chart's visible time range (OnViewChanged(from, to)): a
// live or replay chart has no zoom state on the server, so the readout asks the chart what it shows.
// Detaching removes the lines (a live chart that resumes scrolling must not keep them).

const states = new Map();

export function attach(id, dotnet, sampleRate, runs, open, reportView) {
    detach(id);
    const state = { id, dotnet, rate: sampleRate > 0 ? sampleRate : 1, runs: runs || [], open: !!open, reportView: !!reportView, view: null, t: [null, null], i: [null, null], y: [null, null], active: 0, gd: null, frames: 0, handlers: [] };
    states.set(id, state);
    waitForPlot(state);
}

export function detach(id) {
    const state = states.get(id);
    if (!state) return;
    states.delete(id);
    for (const [target, type, fn] of state.handlers) target.removeEventListener(type, fn);
    if (state.gd && state.gd.removeListener) {
        state.gd.removeListener('plotly_relayout', state.onRelayout);
        state.gd.removeListener('plotly_afterplot', state.onAfterPlot);
        if (document.body.contains(state.gd) && window.Plotly) {
            const others = (state.gd.layout.shapes || []).filter(s => !(s.name || '').startsWith('cursor-'));
            window.Plotly.relayout(state.gd, { shapes: others });
        }
    }
}

// Sets cursors from .NET (null clears); no callback.
export function setCursors(id, t1, t2, y1, y2) {
    const state = states.get(id);
    if (!state) return;
    [t1, t2].forEach((t, k) => place(state, k, nearest(state, t)));
    state.y = [y1, y2];
    draw(state);
}

// Saves text as a file (the readout's CSV).
export function download(fileName, text) {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = fileName;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// Test and keyboard helper: the data x of a client pixel position, null outside the plot area.
export function dataX(id, clientX) {
    const state = states.get(id);
    return state && state.gd ? toData(state, clientX, 0)?.x ?? null : null;
}

function waitForPlot(state) {
    const gd = document.getElementById(state.id);
    if (!gd || !gd._fullLayout || !gd.on) {
        // Plotly draws after the first render; keep looking for a few seconds of frames.
        if (states.get(state.id) === state && state.frames++ < 600) requestAnimationFrame(() => waitForPlot(state));
        return;
    }
    state.gd = gd;
    if (!gd.hasAttribute('tabindex')) gd.setAttribute('tabindex', '0');
    // A click that ends a zoom drag is not a cursor placement.
    let down = null;
    const onDown = e => { down = [e.clientX, e.clientY]; };
    const onClick = e => {
        const p = toData(state, e.clientX, e.clientY);
        const moved = down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4;
        if (!p || e.detail > 1 || moved) return;
        if (e.shiftKey) {
            const k = state.y[0] === null ? 0 : state.y[1] === null ? 1 : nearer(state.y, p.y);
            state.y[k] = p.y;
        } else {
            const s = nearest(state, p.x);
            if (!s) return;
            const k = state.t[0] === null ? 0 : state.t[1] === null ? 1 : nearer(state.t, s.t);
            place(state, k, s);
            state.active = k;
        }
        draw(state);
        notify(state);
    };
    const onKey = e => {
        if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
        const k = state.active;
        if (state.t[k] === null) return;
        e.preventDefault();
        const step = (e.key === 'ArrowLeft' ? -1 : 1) * (e.shiftKey ? 10 : 1);
        place(state, k, step > 0 ? forward(state, state.i[k], step) : backward(state, state.i[k], -step));
        draw(state);
        notify(state);
    };
    gd.addEventListener('mousedown', onDown, true);
    gd.addEventListener('click', onClick);
    gd.addEventListener('keydown', onKey);
    state.handlers.push([gd, 'mousedown', onDown], [gd, 'click', onClick], [gd, 'keydown', onKey]);
    // A dragged line (editable shape) ends in a relayout naming it.
    state.onRelayout = ev => {
        const keys = Object.keys(ev || {}).filter(k => k.startsWith('shapes['));
        if (keys.length === 0) return;
        const shapes = gd.layout.shapes || [];
        let changed = false;
        shapes.forEach(s => {
            const k = s.name === 'cursor-t1' ? 0 : s.name === 'cursor-t2' ? 1 : -1;
            const h = s.name === 'cursor-y1' ? 0 : s.name === 'cursor-y2' ? 1 : -1;
            if (k >= 0) { place(state, k, nearest(state, Number(s.x0))); state.active = k; changed = true; }
            if (h >= 0) { state.y[h] = Number(s.y0); changed = true; }
        });
        if (changed) { draw(state); notify(state); }
    };
    state.onAfterPlot = () => {
        reportView(state);
        const names = (gd.layout.shapes || []).map(s => s.name);
        const want = wanted(state).map(s => s.name);
        if (want.some(n => !names.includes(n))) draw(state);
    };
    gd.on('plotly_relayout', state.onRelayout);
    gd.on('plotly_afterplot', state.onAfterPlot);
    draw(state);
    reportView(state);
}

// The visible x range, rounded to whole ns and clipped at 0, when it changed (only with reportView): the
// server maps it on the stored time line like any from/to.
function reportView(state) {
    if (!state.reportView || !state.gd || !state.gd._fullLayout) return;
    const range = state.gd._fullLayout.xaxis.range;
    if (!range || !isFinite(range[0]) || !isFinite(range[1])) return;
    const from = Math.max(0, Math.round(range[0] * 1e9) / 1e9);
    const to = Math.max(from, Math.round(range[1] * 1e9) / 1e9);
    if (state.view && state.view[0] === from && state.view[1] === to) return;
    state.view = [from, to];
    state.dotnet.invokeMethodAsync('OnViewChanged', from, to).catch(() => { });
}

function toData(state, clientX, clientY) {
    const gd = state.gd;
    const layout = gd._fullLayout;
    const xa = layout.xaxis, ya = layout.yaxis;
    const box = gd.getBoundingClientRect();
    const px = clientX - box.left - layout._size.l;
    const py = clientY - box.top - layout._size.t;
    if (px < 0 || px > layout._size.w || py < 0 || py > layout._size.h) return null;
    return { x: xa.p2d(px), y: ya.p2d(py) };
}

// Sets (or clears, with null) vertical cursor k at sample s = { i, t }.
function place(state, k, s) {
    state.i[k] = s ? s.i : null;
    state.t[k] = s ? s.t : null;
}

// ns from a run's first sample to sample i of it: round(i·10⁹/rate) from the measurement's index 0, as the server does.
function offsetNs(state, i) {
    return Math.round(i * 1e9 / state.rate);
}

function count(state, r) {
    const n = state.runs[r][2];
    return n < 0 || (state.open && r === state.runs.length - 1) ? Infinity : n;
}

// Sample j of run r as { i: index, t: seconds }.
function sampleOf(state, r, j) {
    const [first, ns] = state.runs[r];
    return { i: first + j, t: (ns + offsetNs(state, first + j) - offsetNs(state, first)) / 1e9 };
}

// The stored sample nearest t (seconds); without a time line (nothing stored yet) the index / rate grid from 0.
function nearest(state, t) {
    if (t === null || t === undefined || !isFinite(t)) return null;
    const runs = state.runs;
    if (runs.length === 0) {
        const i = Math.max(0, Math.round(t * state.rate));
        return { i, t: i / state.rate };
    }
    const ns = t * 1e9;
    let lo = 0, hi = runs.length - 1, r = -1;
    while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (runs[mid][1] <= ns) { r = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    let best = null;
    for (const c of [r, r + 1]) {
        if (c < 0 || c >= runs.length) continue;
        const n = count(state, c);
        if (n <= 0) continue;
        const j = Math.min(n - 1, Math.max(0, Math.round((ns - runs[c][1]) * state.rate / 1e9)));
        // The grid guess can be one off by the ns rounding: look at the neighbours too.
        for (const jj of [j - 1, j, j + 1]) {
            if (jj < 0 || jj >= n) continue;
            const s = sampleOf(state, c, jj);
            if (!best || Math.abs(s.t - t) < Math.abs(best.t - t)) best = s;
        }
    }
    return best;
}

// The run holding index i (-1 before the first); i may lie in an index gap after that run.
function runOf(state, i) {
    const runs = state.runs;
    let lo = 0, hi = runs.length - 1, r = -1;
    while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (runs[mid][0] <= i) { r = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return r;
}

// step samples after index i, jumping gaps, stopping at the last stored sample.
function forward(state, i, step) {
    if (state.runs.length === 0) return { i: i + step, t: (i + step) / state.rate };
    let r = Math.max(0, runOf(state, i));
    let j = i - state.runs[r][0] + step;
    while (j >= count(state, r) && r + 1 < state.runs.length) { j -= count(state, r); r++; }
    return sampleOf(state, r, Math.min(j, count(state, r) - 1));
}

// step samples before index i, jumping gaps, stopping at the first stored sample.
function backward(state, i, step) {
    if (state.runs.length === 0) { const k = Math.max(0, i - step); return { i: k, t: k / state.rate }; }
    let r = Math.max(0, runOf(state, i));
    let j = Math.min(i - state.runs[r][0], count(state, r) - 1) - step;
    while (j < 0 && r > 0) { r--; j += count(state, r); }
    return sampleOf(state, r, Math.max(0, j));
}

function nearer(pair, v) {
    return Math.abs(pair[0] - v) <= Math.abs(pair[1] - v) ? 0 : 1;
}

function wanted(state) {
    const shapes = [];
    state.t.forEach((t, k) => {
        if (t !== null) shapes.push({ name: `cursor-t${k + 1}`, type: 'line', xref: 'x', yref: 'paper', x0: t, x1: t, y0: 0, y1: 1, editable: true, line: { color: k === 0 ? '#d81b60' : '#1e88e5', width: 2, dash: 'dot' } });
    });
    state.y.forEach((y, k) => {
        if (y !== null) shapes.push({ name: `cursor-y${k + 1}`, type: 'line', xref: 'paper', yref: 'y', x0: 0, x1: 1, y0: y, y1: y, editable: true, line: { color: '#43a047', width: 1.5, dash: 'dash' } });
    });
    return shapes;
}

function draw(state) {
    const gd = state.gd;
    if (!gd || !window.Plotly) return;
    const others = (gd.layout.shapes || []).filter(s => !(s.name || '').startsWith('cursor-'));
    window.Plotly.relayout(gd, { shapes: others.concat(wanted(state)) });
}

function notify(state) {
    state.dotnet.invokeMethodAsync('OnCursorsChanged', state.t[0], state.t[1], state.y[0], state.y[1]).catch(() => { });
}
