// Annotations on a Plotly chart, by the div's id: a range is a shaded band, a point a vertical line,
// each labelled with its title. Shapes are named "ann-<id>", so the cursors (named "cursor-…") and
// the chart's own code keep theirs; the chart may replace its layout (zoom re-renders), so the
// shapes are put back after every plot where they are missing.

const states = new Map();

export function show(id, items) {
    let state = states.get(id);
    if (!state) {
        state = { id, items: [], gd: null, frames: 0, onAfterPlot: null };
        states.set(id, state);
    }
    state.items = items || [];
    state.frames = 0;
    waitAndDraw(state);
}

export function detach(id) {
    const state = states.get(id);
    if (!state) return;
    states.delete(id);
    if (state.gd && state.gd.removeListener && state.onAfterPlot) state.gd.removeListener('plotly_afterplot', state.onAfterPlot);
}

function waitAndDraw(state) {
    const gd = document.getElementById(state.id);
    if (!gd || !gd._fullLayout || !gd.on) {
        // Plotly draws after the first render; keep looking for a few seconds of frames.
        if (states.get(state.id) === state && state.frames++ < 600) requestAnimationFrame(() => waitAndDraw(state));
        return;
    }
    if (state.gd !== gd) {
        if (state.gd && state.gd.removeListener && state.onAfterPlot) state.gd.removeListener('plotly_afterplot', state.onAfterPlot);
        state.gd = gd;
        state.onAfterPlot = () => { if (!drawn(state)) draw(state); };
        gd.on('plotly_afterplot', state.onAfterPlot);
    }
    draw(state);
}

function wanted(state) {
    return state.items.map(a => a.to === null || a.to === undefined
        ? {
            name: `ann-${a.id}`, type: 'line', xref: 'x', yref: 'paper', x0: a.from, x1: a.from, y0: 0, y1: 1,
            line: { color: '#fb8c00', width: 1.5 },
            label: { text: a.title, textposition: 'end', textangle: 0, xanchor: 'left', font: { size: 11, color: '#e65100' } },
        }
        : {
            name: `ann-${a.id}`, type: 'rect', xref: 'x', yref: 'paper', x0: a.from, x1: a.to, y0: 0, y1: 1,
            fillcolor: 'rgba(251, 140, 0, 0.14)', line: { width: 0 }, layer: 'below',
            label: { text: a.title, textposition: 'top left', font: { size: 11, color: '#e65100' } },
        });
}

function drawn(state) {
    const mine = (state.gd.layout.shapes || []).filter(s => (s.name || '').startsWith('ann-')).map(s => s.name);
    return mine.length === state.items.length && state.items.every(a => mine.includes(`ann-${a.id}`));
}

function draw(state) {
    const gd = state.gd;
    if (!gd || !window.Plotly) return;
    const others = (gd.layout.shapes || []).filter(s => !(s.name || '').startsWith('ann-'));
    window.Plotly.relayout(gd, { shapes: others.concat(wanted(state)) });
}
