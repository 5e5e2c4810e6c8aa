// Measurement cursors on any Plotly chart, by the div's id: two vertical cursors (click places the
// first, then the second, then moves the nearer one; drag a line to move it), two horizontal level
// cursors (Shift+click), arrow keys nudge the active vertical cursor by one sample. Cursors snap to
// the sample grid (index / rate). Positions go to .NET through OnCursorsChanged(t1, t2, y1, y2).
// The chart's own code may replace its layout (zoom re-renders): the lines are put back after every plot.
// With reportView the module also tells .NET the chart's visible time range (OnViewChanged(from, to)): a
// live or replay chart has no zoom state on the server, so the readout asks the chart what it shows.
// Detaching removes the lines (a live chart that resumes scrolling must not keep them).

const states = new Map();

export function attach(id, dotnet, sampleRate, maxTime, reportView) {
    detach(id);
    const state = { id, dotnet, rate: sampleRate > 0 ? sampleRate : 1, maxTime, reportView: !!reportView, view: null, t: [null, null], y: [null, null], active: 0, gd: null, frames: 0, handlers: [] };
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
    state.t = [snap(state, t1), snap(state, t2)];
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
            const t = snap(state, p.x);
            const k = state.t[0] === null ? 0 : state.t[1] === null ? 1 : nearer(state.t, t);
            state.t[k] = t;
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
        state.t[k] = snap(state, state.t[k] + step / state.rate);
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
            if (k >= 0) { state.t[k] = snap(state, Number(s.x0)); state.active = k; changed = true; }
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

// The visible x range, rounded to samples and clipped at 0, when it changed (only with reportView).
function reportView(state) {
    if (!state.reportView || !state.gd || !state.gd._fullLayout) return;
    const range = state.gd._fullLayout.xaxis.range;
    if (!range || !isFinite(range[0]) || !isFinite(range[1])) return;
    const from = Math.max(0, Math.ceil(range[0] * state.rate) / state.rate);
    const to = Math.max(from, Math.floor(range[1] * state.rate) / state.rate);
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

function snap(state, t) {
    if (t === null || t === undefined || !isFinite(t)) return null;
    let i = Math.round(t * state.rate);
    if (i < 0) i = 0;
    if (state.maxTime > 0) i = Math.min(i, Math.round(state.maxTime * state.rate));
    return i / state.rate;
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
