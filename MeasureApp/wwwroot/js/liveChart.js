// Live chart updates (LiveChart.razor). Each chart keeps its window (per trace the newest `maxPoints`
// x/y values, in Float64Arrays) here; a frame from the server is appended to it and the window is drawn
// at once with one Plotly.react (a new data revision: Plotly recalculates the traces from typed-array
// views, nothing is copied into Plotly's arrays), unless the chart's previous draw has not been painted
// yet: then the frame waits, together with any later frames, and the window is drawn once in the next
// animation frame, right before that frame is painted. A browser that draws slower than frames arrive
// so draws fewer, larger updates instead of falling behind, the server is not held up by the drawing,
// and several charts still draw in separate tasks instead of all in one long frame.
// While the user has not zoomed, the x range is set to the window (no autorange over x); a zoom (drag,
// or a relayout of xaxis.range) keeps its range, a double click (autorange) follows the window again.
const charts = new Map(); // chart id → { busy, scheduled, dirty, traces, follow, gd, revision }

/**
 * Adds new points to the Plotly chart element `id`: per trace, x (seconds) and y values in time
 * order. Each trace keeps its newest `maxPoints`.
 */
export function extend(id, xs, ys, maxPoints) {
    let chart = charts.get(id);
    if (!chart) {
        chart = { busy: false, scheduled: false, dirty: false, traces: [], follow: true, gd: null, revision: 0 };
        charts.set(id, chart);
    }
    for (let i = 0; i < xs.length && i < ys.length; i++) {
        chart.traces[i] = append(chart.traces[i], xs[i], ys[i], maxPoints);
    }
    chart.dirty = true;
    if (!chart.busy) draw(id, chart);
    else if (!chart.scheduled) {
        // Drawn in the next frame, right before it is painted.
        chart.scheduled = true;
        requestAnimationFrame(() => {
            chart.scheduled = false;
            if (chart.dirty) draw(id, chart);
        });
    }
}

/**
 * All of a tab's live charts in one call (one interop round trip per drain tick instead of one per
 * chart): `extend` for each chart in turn. One chart's failure is that chart's: the answer is null when
 * every chart drew, else per chart null or the error message, so the server detaches only those that failed.
 */
export function extendMany(ids, xss, yss, maxPoints) {
    let failures = null;
    for (let i = 0; i < ids.length; i++) {
        try {
            extend(ids[i], xss[i], yss[i], maxPoints[i]);
        } catch (e) {
            failures ??= new Array(ids.length).fill(null);
            failures[i] = String(e && e.message ? e.message : e);
        }
    }
    // null when every chart drew (the common case sends nothing back but the acknowledgement).
    return failures;
}

// A trace's window: x/y in typed arrays with room for 2 × maxPoints, the window is [start, end). A full
// buffer is replaced by a new one (not compacted in place): Plotly keeps views of the old one until the
// next draw. A hidden tab paints nothing: what waits is still capped at what the chart keeps.
function append(trace, xs, ys, maxPoints) {
    const capacity = 2 * maxPoints;
    if (!trace || trace.x.length !== capacity) trace = { x: new Float64Array(capacity), y: new Float64Array(capacity), start: 0, end: 0, maxPoints };
    const count = Math.min(xs.length, ys.length);
    const first = Math.max(0, count - maxPoints); // more than a window in one frame: only its newest part
    const n = count - first;
    if (trace.end + n > capacity) {
        const keep = Math.min(trace.end - trace.start, maxPoints - n);
        const x = new Float64Array(capacity), y = new Float64Array(capacity);
        x.set(trace.x.subarray(trace.end - keep, trace.end));
        y.set(trace.y.subarray(trace.end - keep, trace.end));
        trace = { x, y, start: 0, end: keep, maxPoints };
    }
    for (let i = first; i < count; i++) {
        trace.x[trace.end] = xs[i];
        trace.y[trace.end] = ys[i];
        trace.end++;
    }
    trace.start = Math.max(trace.start, trace.end - maxPoints);
    return trace;
}

function draw(id, chart) {
    chart.dirty = false;
    const gd = document.getElementById(id);
    const plotly = window.Plotly;
    // The card went away (measurement stopped, page left): forget the chart.
    if (!gd || !gd.data || !gd.layout || !plotly) {
        charts.delete(id);
        return;
    }
    if (chart.gd !== gd) follow(chart, gd);
    const data = gd.data;
    let from = Infinity, to = -Infinity;
    for (let i = 0; i < chart.traces.length && i < data.length; i++) {
        const t = chart.traces[i];
        if (!t) continue;
        data[i].x = t.x.subarray(t.start, t.end);
        data[i].y = t.y.subarray(t.start, t.end);
        if (t.end > t.start) {
            from = Math.min(from, t.x[t.start]);
            to = Math.max(to, t.x[t.end - 1]);
        }
    }
    const layout = gd.layout;
    layout.datarevision = ++chart.revision;
    if (chart.follow && to > from) {
        // The window is the x range: no autorange over x on every draw.
        layout.xaxis = layout.xaxis || {};
        layout.xaxis.range = [from, to];
        layout.xaxis.autorange = false;
    }
    plotly.react(gd, data, layout);
    chart.busy = true;
    requestAnimationFrame(() => afterPaint(() => { chart.busy = false; }));
}

// The x range follows the window until the user zooms; autorange (double click) follows it again.
// The live draws (Plotly.react) raise no plotly_relayout, so every event here is someone else's.
function follow(chart, gd) {
    chart.gd = gd;
    chart.follow = true;
    if (!gd.on) return;
    gd.on('plotly_relayout', e => {
        if (!e) return;
        if (e['xaxis.autorange'] === true) chart.follow = true;
        else if ('xaxis.range[0]' in e || 'xaxis.range' in e) chart.follow = false;
    });
}

// Runs `then` in a task after the current frame was painted.
function afterPaint(then) {
    const channel = new MessageChannel();
    channel.port1.onmessage = then;
    channel.port2.postMessage(0);
}
