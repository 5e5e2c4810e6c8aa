// Live chart updates (LiveChart.razor through LiveDrawBatch, ReplayChart.razor directly). A frame from the server is drawn at once with one
// Plotly.extendTraces call, unless the chart's previous draw has not been painted yet: then it
// waits, together with any later frames, and is drawn as one update in the next animation frame,
// right before that frame is painted. A browser that draws slower than frames arrive so draws
// fewer, larger updates instead of falling behind, the server is not held up by the drawing, and
// several charts still draw in separate tasks instead of all in one long frame.
//
// Paging (issue 14): a Plotly redraw costs a fixed 10–20 ms of main-thread work per chart whatever the
// number of points (docs/benchmarks.md, part 3), so a frame is not drawn with a redraw when it can be
// helped. The chart's axes are set with headroom to the right (PAGE_HEADROOM of the window) and stand
// still while the newest points move into it: such a frame only appends to the traces' data and rewrites
// each line's SVG path with the axes' own mapping (a few hundred µs). A frame that leaves the axes (the
// headroom is used up, a value outside the y range) turns the page: the data is trimmed to maxPoints and
// Plotly redraws once with new ranges. While the user has zoomed or panned, every frame is drawn as before
// (extendTraces keeps their range); a double-click (autorange) brings the paging back.
const PAGE_HEADROOM = 0.2;
const charts = new Map(); // chart id → { busy, scheduled, queued, userView, listening }

/**
 * Adds new points to the Plotly chart element `id`: per trace, x (seconds) and y values in time
 * order. Each trace keeps its newest `maxPoints`.
 */
export function extend(id, xs, ys, maxPoints) {
    let chart = charts.get(id);
    if (!chart) {
        chart = { busy: false, scheduled: false, queued: null };
        charts.set(id, chart);
    }
    if (!chart.queued) chart.queued = { x: xs.map(() => []), y: ys.map(() => []), maxPoints };
    const queued = chart.queued;
    for (let i = 0; i < xs.length && i < queued.x.length; i++) {
        append(queued.x[i], xs[i], maxPoints);
        append(queued.y[i], ys[i], maxPoints);
    }
    if (!chart.busy) draw(id, chart);
    else if (!chart.scheduled) {
        // Drawn in the next frame, right before it is painted.
        chart.scheduled = true;
        requestAnimationFrame(() => {
            chart.scheduled = false;
            if (chart.queued) draw(id, chart);
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

/**
 * Forgets what waits for the chart `id` (its element is about to be drawn anew under the same id, as the
 * replay chart is after a seek): nothing of the old plot is drawn into the new one.
 */
export function forget(id) {
    const chart = charts.get(id);
    if (chart) chart.queued = null;
    charts.delete(id);
}

// A hidden tab paints nothing: what waits is capped at what the chart would keep.
function append(target, values, maxPoints) {
    for (const v of values) target.push(v);
    if (target.length > maxPoints) target.splice(0, target.length - maxPoints);
}

function draw(id, chart) {
    const queued = chart.queued;
    chart.queued = null;
    const gd = document.getElementById(id);
    const plotly = window.Plotly;
    // The card went away (measurement stopped, page left): forget the chart.
    if (!gd || !gd.data || !plotly) {
        charts.delete(id);
        return;
    }
    // The browser-latency bench's hook (bench/MeasureApp.Bench/Load/BrowserLatencyProbe.cs); absent otherwise.
    const probe = window.__liveDrawProbe;
    const timing = probe ? probe.received(id, queued.x) : null;
    // With the bench's no-op baseline nothing is drawn; the pacing below stays the same.
    if (!(probe && probe.noop)) drawFrame(gd, chart, plotly, queued);
    if (probe) probe.drawn(timing);
    chart.busy = true;
    requestAnimationFrame(() => afterPaint(() => { chart.busy = false; }));
}

// Draws the queued points: inside the page by rewriting the lines, else with a page turn; extendTraces while the user has zoomed.
function drawFrame(gd, chart, plotly, queued) {
    listen(gd, chart);
    if (chart.userView || gd.data.length !== queued.x.length) {
        plotly.extendTraces(gd, { x: queued.x, y: queued.y }, queued.x.map((_, i) => i), queued.maxPoints);
        return;
    }
    for (let i = 0; i < queued.x.length; i++) {
        const trace = gd.data[i];
        if (!Array.isArray(trace.x)) trace.x = Array.from(trace.x || []);
        if (!Array.isArray(trace.y)) trace.y = Array.from(trace.y || []);
        for (const v of queued.x[i]) trace.x.push(v);
        for (const v of queued.y[i]) trace.y.push(v);
    }
    if (!redrawPath(gd, queued)) turnPage(gd, plotly, queued.maxPoints);
}

// Runs `then` in a task after the current frame was painted.
function afterPaint(then) {
    const channel = new MessageChannel();
    channel.port1.onmessage = then;
    channel.port2.postMessage(0);
}

// A zoom or pan by the user (a relayout naming an axis range) stops the paging until autorange is asked for again.
function listen(gd, chart) {
    if (chart.listening === gd || typeof gd.on !== 'function') return;
    chart.listening = gd;
    gd.on('plotly_relayout', e => {
        if (!e) return;
        if (e['xaxis.autorange'] === true) {
            chart.userView = false;
            return;
        }
        if (Object.keys(e).some(k => k.startsWith('xaxis.range') || k.startsWith('yaxis.range'))) chart.userView = true;
    });
}

// Rewrites each trace's line from its data when the new points lie inside the axes; false when the page must turn.
function redrawPath(gd, queued) {
    const full = gd._fullLayout;
    const xa = full && full.xaxis, ya = full && full.yaxis;
    const layout = gd.layout || {};
    // Only pages this module set stand still (not Plotly's autorange of the first, empty plot).
    if (!xa || !ya || !layout.xaxis || layout.xaxis.autorange !== false || !layout.yaxis || layout.yaxis.autorange !== false) return false;
    const [x0, x1] = xa.range, [y0, y1] = ya.range;
    for (let i = 0; i < queued.x.length; i++) {
        const xs = queued.x[i], ys = queued.y[i];
        for (let k = 0; k < xs.length; k++) {
            if (xs[k] > x1 || xs[k] < x0) return false;
            const y = ys[k];
            if (y !== null && isFinite(y) && (y > y1 || y < y0)) return false;
        }
    }
    const traces = gd.querySelectorAll('.scatterlayer .trace');
    const lines = new Array(gd.data.length).fill(null);
    for (const t of traces) {
        const cd = t.__data__;
        const index = cd && cd[0] && cd[0].trace ? cd[0].trace.index : -1;
        if (index >= 0 && index < lines.length) lines[index] = t.querySelector('path.js-line');
    }
    // A trace that had no line at the last redraw (no points then, or hidden) needs Plotly.
    for (let i = 0; i < gd.data.length; i++) {
        if (gd.data[i].visible !== 'legendonly' && gd.data[i].visible !== false && !lines[i] && gd.data[i].x.length > 1) return false;
    }
    for (let i = 0; i < gd.data.length; i++) {
        if (lines[i]) lines[i].setAttribute('d', pathOf(gd.data[i].x, gd.data[i].y, xa, ya));
    }
    return true;
}

// The SVG path of a line through (xs, ys) in the subplot's pixels; a missing value (a gap) breaks the line.
// Within one screen pixel column only the lowest and highest point are kept, in their time order (the
// column's vertical extent is what the eye sees), and the last point before a gap and the newest point are
// kept exactly: the server sends up to four points per column of its own, and the browser's paint time
// grows with the path's points.
function pathOf(xs, ys, xa, ya) {
    const parts = [];
    let move = true;
    let column = NaN, loX = 0, loY = 0, hiX = 0, hiY = 0, lastX = 0, lastY = 0;
    const point = (x, y) => {
        parts.push((move ? 'M' : 'L') + x.toFixed(1) + ',' + y.toFixed(1));
        move = false;
    };
    const flush = exactEnd => {
        if (column !== column) return;
        const loFirst = loX <= hiX;
        const [ax, ay, bx, by] = loFirst ? [loX, loY, hiX, hiY] : [hiX, hiY, loX, loY];
        point(ax, ay);
        if (bx !== ax || by !== ay) point(bx, by);
        if (exactEnd && (lastX !== bx || lastY !== by)) point(lastX, lastY);
        column = NaN;
    };
    for (let k = 0; k < xs.length; k++) {
        const y = ys[k];
        if (y === null || y === undefined || !isFinite(y)) {
            flush(true);
            move = true;
            continue;
        }
        const px = xa.c2p(xs[k]), py = ya.c2p(y);
        const c = Math.floor(px);
        if (c !== column) {
            flush(false);
            column = c;
            loX = hiX = px;
            loY = hiY = py;
        } else {
            // Screen y grows downwards: the lowest value has the largest py.
            if (py > loY) { loX = px; loY = py; }
            if (py < hiY) { hiX = px; hiY = py; }
        }
        lastX = px;
        lastY = py;
    }
    flush(true);
    return parts.length ? parts.join('') : 'M0,0';
}

// Trims every trace to its newest maxPoints and redraws with axes that leave room for the next points.
function turnPage(gd, plotly, maxPoints) {
    let xMin = Infinity, xMax = -Infinity, yMin = Infinity, yMax = -Infinity;
    for (const trace of gd.data) {
        if (trace.x.length > maxPoints) {
            trace.x.splice(0, trace.x.length - maxPoints);
            trace.y.splice(0, trace.y.length - maxPoints);
        }
        if (trace.x.length > 0) {
            xMin = Math.min(xMin, trace.x[0]);
            xMax = Math.max(xMax, trace.x[trace.x.length - 1]);
        }
        for (const y of trace.y) {
            if (y !== null && isFinite(y)) {
                if (y < yMin) yMin = y;
                if (y > yMax) yMax = y;
            }
        }
    }
    if (!isFinite(xMin) || !isFinite(yMin)) {
        plotly.redraw(gd);
        return;
    }
    const span = Math.max(xMax - xMin, 1e-3);
    const ySpan = yMax - yMin;
    const yPad = ySpan > 0 ? ySpan * 0.1 : Math.max(Math.abs(yMax) * 0.1, 1);
    const layout = gd.layout;
    layout.xaxis = Object.assign(layout.xaxis || {}, { autorange: false, range: [xMin, xMax + span * PAGE_HEADROOM] });
    layout.yaxis = Object.assign(layout.yaxis || {}, { autorange: false, range: [yMin - yPad, yMax + yPad] });
    plotly.redraw(gd);
}
