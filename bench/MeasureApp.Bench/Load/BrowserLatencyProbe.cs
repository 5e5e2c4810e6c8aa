using System.Globalization;
using System.Text.Json;

namespace MeasureApp.Bench.Load;

/// <summary>One chart update as the page saw it; times are wall-clock ms since the epoch (browser clock).</summary>
/// <param name="Id">The chart's element id (<c>chart-{measurement id:N}</c>).</param>
/// <param name="X">Newest x (seconds since sample 0) in the update, over all traces.</param>
/// <param name="Received">When the update reached <c>Plotly.extendTraces</c> or a live <c>Plotly.react</c> (the app's draw began; the interop call may have arrived earlier: js/liveChart.js draws queued frames in the next animation frame).</param>
/// <param name="Done">When <c>Plotly.extendTraces</c> or <c>Plotly.react</c> returned (Plotly redrew the SVG).</param>
/// <param name="Painted">After the frame that shows the update was painted: the task after the current animation frame when the draw ran inside one, else after the next one (rAF, then a task).</param>
/// <param name="Points">x values newer than the chart's previous update, over all traces.</param>
public sealed record ProbeUpdate(string Id, double X, double Received, double Done, double Painted, int Points);

/// <summary>
/// The script injected into the Live page (Playwright <c>AddInitScript</c>, before any page script):
/// it traps the assignment of <c>window.Plotly</c> and wraps <c>Plotly.extendTraces</c> and the live
/// <c>Plotly.react</c> (a layout with a data revision), which the Live chart's draw (js/liveChart.js:
/// react since the window is kept in the page, extendTraces before) ends in, and it marks animation-frame
/// callbacks so a draw inside one is timed to that frame's paint. The app is not changed. With <c>noop</c> the wrapper
/// records the same and does not call Plotly: the same-run baseline of "everything but drawing".
/// </summary>
public static class BrowserLatencyProbe
{
    private const string ScriptTemplate = """
        (() => {
          const noop = __NOOP__;
          const wall = () => performance.timeOrigin + performance.now();
          const rec = { noop, updates: [], since: wall() };
          rec.reset = () => { rec.updates = []; rec.since = wall(); return rec.since; };
          // Painted updates (the newest few may still wait for their frame) and the period they cover.
          rec.take = () => {
            const now = wall();
            const done = rec.updates.filter(u => u.painted > 0);
            return JSON.stringify({ since: rec.since, until: now, pending: rec.updates.length - done.length, updates: done });
          };
          rec.charts = () => new Set(rec.updates.map(u => u.id)).size;
          window.__latencyProbe = rec;
          // The app may draw inside an animation-frame callback (js/liveChart.js does): that frame is
          // the one that paints the update, so then only the task after it is awaited. Otherwise
          // the next frame paints it.
          const raf = window.requestAnimationFrame.bind(window);
          let inFrame = false;
          window.requestAnimationFrame = cb => raf(t => { inFrame = true; try { cb(t); } finally { inFrame = false; } });
          const afterTask = u => {
            const ch = new MessageChannel();
            ch.port1.onmessage = () => { u.painted = wall(); };
            ch.port2.postMessage(0);
          };
          const afterPaint = u => inFrame ? afterTask(u) : raf(() => afterTask(u));
          // Newest x and the number of x values newer than the chart's last update: extendTraces
          // gets the new points, react (js/liveChart.js) the whole window.
          const newest = {};
          const measure = (id, xs) => {
            let x = -Infinity, points = 0;
            const last = id in newest ? newest[id] : -Infinity;
            if (xs) for (const a of xs) if (a && a.length) {
              if (a[a.length - 1] > x) x = a[a.length - 1];
              for (let i = a.length - 1; i >= 0 && a[i] > last; i--) points++;
            }
            if (x > last) newest[id] = x;
            return { x, points };
          };
          const record = (gd, xs, received) => {
            const id = typeof gd === 'string' ? gd : (gd && gd.id) || '';
            const m = measure(id, xs);
            const u = { id, x: m.x, received, done: wall(), painted: 0, points: m.points };
            if (m.points > 0) { rec.updates.push(u); afterPaint(u); }
          };
          const wrap = P => {
            if (!P || P.__latencyWrapped || typeof P.extendTraces !== 'function') return P;
            const extendTraces = P.extendTraces;
            P.extendTraces = function (gd, update, indices, maxPoints) {
              const received = wall();
              const result = noop ? Promise.resolve(gd) : extendTraces.apply(this, arguments);
              record(gd, update && update.x, received);
              return result;
            };
            // A live draw by react carries a data revision (the first plot of a chart does not).
            const react = P.react;
            if (typeof react === 'function') P.react = function (gd, data, layout) {
              if (!layout || layout.datarevision === undefined || !Array.isArray(data)) return react.apply(this, arguments);
              const received = wall();
              const result = noop ? Promise.resolve(gd) : react.apply(this, arguments);
              record(gd, data.map(t => t && t.x), received);
              return result;
            };
            P.__latencyWrapped = true;
            return P;
          };
          let plotly = wrap(window.Plotly);
          Object.defineProperty(window, 'Plotly', { configurable: true, enumerable: true, get: () => plotly, set: v => { plotly = wrap(v); } });
        })();
        """;

    /// <summary>The init script; <paramref name="noop"/> makes extendTraces and the live react record without drawing.</summary>
    public static string Script(bool noop) => ScriptTemplate.Replace("__NOOP__", noop ? "true" : "false", StringComparison.Ordinal);

    /// <summary>JS expression: number of distinct charts that got at least one update.</summary>
    public const string ChartsUpdatedJs = "() => window.__latencyProbe ? window.__latencyProbe.charts() : 0";

    /// <summary>JS expression: forget what was recorded (end of the warm-up); returns the browser's wall time.</summary>
    public const string ResetJs = "() => window.__latencyProbe.reset()";

    /// <summary>JS expression: the painted updates since the reset, as JSON.</summary>
    public const string TakeJs = "() => window.__latencyProbe.take()";

    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    /// <summary>Parses the result of <see cref="TakeJs"/>.</summary>
    public static ProbeTake Parse(string json)
    {
        var take = JsonSerializer.Deserialize<ProbeTake>(json, Json)
            ?? throw new FormatException("The latency probe returned nothing.");
        return take;
    }

    /// <summary>Measurement id of a chart element id <c>chart-{guid:N}</c>.</summary>
    public static Guid MeasurementOf(string chartId)
    {
        ArgumentNullException.ThrowIfNull(chartId);
        const string prefix = "chart-";
        return chartId.StartsWith(prefix, StringComparison.Ordinal) && Guid.TryParseExact(chartId[prefix.Length..], "N", out var id)
            ? id
            : throw new FormatException(string.Create(CultureInfo.InvariantCulture, $"Not a live chart id: '{chartId}'."));
    }
}

/// <summary>What <see cref="BrowserLatencyProbe.TakeJs"/> returns.</summary>
/// <param name="Since">Browser wall time (ms) of the reset.</param>
/// <param name="Until">Browser wall time (ms) of the take.</param>
/// <param name="Pending">Updates not painted yet (left out).</param>
/// <param name="Updates">Painted updates in arrival order.</param>
public sealed record ProbeTake(double Since, double Until, int Pending, IReadOnlyList<ProbeUpdate> Updates);
