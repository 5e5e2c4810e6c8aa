// Live chart updates (LiveChart.razor). A frame from the server is drawn at once with one
// Plotly.extendTraces call, unless the chart's previous draw has not been painted yet: then it
// waits, together with any later frames, and is drawn as one update in the next animation frame,
// right before that frame is painted. A browser that draws slower than frames arrive so draws
// fewer, larger updates instead of falling behind, the server is not held up by the drawing, and
// several charts still draw in separate tasks instead of all in one long frame.
const charts = new Map(); // chart id → { busy, queued }

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
    plotly.extendTraces(gd, { x: queued.x, y: queued.y }, queued.x.map((_, i) => i), queued.maxPoints);
    chart.busy = true;
    requestAnimationFrame(() => afterPaint(() => { chart.busy = false; }));
}

// Runs `then` in a task after the current frame was painted.
function afterPaint(then) {
    const channel = new MessageChannel();
    channel.port1.onmessage = then;
    channel.port2.postMessage(0);
}
