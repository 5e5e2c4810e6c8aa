using System.Globalization;
using System.Text.Json;

namespace MeasureApp.Bench.Load;

/// <summary>One chart update as the page saw it; times are wall-clock ms since the epoch (browser clock).</summary>
/// <param name="Id">The chart's element id (<c>chart-{measurement id:N}</c>).</param>
/// <param name="X">Newest x (seconds since sample 0) in the update, over all traces.</param>
/// <param name="Received">When js/liveChart.js began to draw the update (the interop call may have arrived earlier: it draws queued frames in the next animation frame).</param>
/// <param name="Done">When the draw returned (a rewrite of the lines' SVG paths, or a Plotly redraw at a page turn).</param>
/// <param name="Painted">After the frame that shows the update was painted: the task after the current animation frame when the draw ran inside one, else after the next one (rAF, then a task).</param>
/// <param name="Points">x values newer than the chart's previous update, over all traces.</param>
public sealed record ProbeUpdate(string Id, double X, double Received, double Done, double Painted, int Points);

/// <summary>
/// The script injected into the Live page (Playwright <c>AddInitScript</c>, before any page script):
/// it defines the hook <c>window.__liveDrawProbe</c> that js/liveChart.js reports each chart draw to (begin and
/// end; nothing is reported without it), and it marks animation-frame callbacks so a draw inside one is timed
/// to that frame's paint. With <c>noop</c> the module records the same and does not draw: the same-run baseline
/// of "everything but drawing".
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
          // Newest x and the number of x values newer than the chart's last update.
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
          // js/liveChart.js reports each draw to this hook (it exists only in this bench's pages): a draw
          // may be a Plotly redraw (a page turn, extendTraces while the user zoomed) or only a rewrite of
          // the lines' SVG paths, so the hook, not a wrapper around Plotly, times both. With noop the
          // module records and does not draw.
          window.__liveDrawProbe = {
            noop,
            received: (id, xs) => ({ id, xs, received: wall() }),
            drawn: t => record(t.id, t.xs, t.received),
          };
        })();
        """;

    /// <summary>The init script; <paramref name="noop"/> makes the live chart record its draws without drawing.</summary>
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
