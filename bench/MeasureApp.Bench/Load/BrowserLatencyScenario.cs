using System.Globalization;
using Microsoft.Playwright;

namespace MeasureApp.Bench.Load;

/// <summary>One measured configuration: <see cref="Charts"/> measurements of this rate and channel count on one Live page.</summary>
/// <param name="SampleRate">Samples per second per channel.</param>
/// <param name="Channels">Channels per measurement.</param>
/// <param name="Charts">Measurements (charts) on the page at once.</param>
public sealed record BrowserLatencyCase(double SampleRate, int Channels, int Charts)
{
    /// <summary>Short label, e.g. "10 kHz × 4 ch × 4 charts".</summary>
    public string Label => string.Create(CultureInfo.InvariantCulture,
        $"{(SampleRate >= 1000 ? $"{SampleRate / 1000:0.###} kHz" : $"{SampleRate:0.###} Hz")} × {Channels} ch × {Charts} chart{(Charts == 1 ? "" : "s")}");
}

/// <summary>Settings of <see cref="BrowserLatencyScenario"/>.</summary>
public sealed record BrowserLatencySettings
{
    /// <summary>Configurations, each measured with the real chart and with the no-op baseline.</summary>
    public IReadOnlyList<BrowserLatencyCase> Cases { get; init; } = Matrix(DefaultRates, DefaultCounts, DefaultCounts);

    private static readonly double[] DefaultRates = [1_000, 10_000, 100_000];
    private static readonly int[] DefaultCounts = [1, 4];

    /// <summary>Every combination, charts outermost, then channels, then rate.</summary>
    public static IReadOnlyList<BrowserLatencyCase> Matrix(IEnumerable<double> rates, IEnumerable<int> channels, IEnumerable<int> charts) =>
        [.. from n in charts from ch in channels from r in rates select new BrowserLatencyCase(r, ch, n)];

    /// <summary>Measured time per phase (after the warm-up).</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time after every chart drew its first update before recording starts.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Also run each case with the chart's draw replaced by a no-op (the same-run baseline).</summary>
    public bool Baseline { get; init; } = true;

    /// <summary>Chromium executable (Debian's; never a downloaded browser).</summary>
    public string ChromiumPath { get; init; } = Environment.GetEnvironmentVariable("MEASUREAPP_TEST_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";
}

/// <summary>What one phase (one case, real chart or no-op) measured.</summary>
public sealed record BrowserLatencyPhase
{
    /// <summary>The configuration.</summary>
    public required BrowserLatencyCase Case { get; init; }
    /// <summary>True when the chart's draw was a no-op (baseline).</summary>
    public required bool Noop { get; init; }
    /// <summary>Painted updates recorded, over all charts.</summary>
    public required IReadOnlyList<ProbeUpdate> Updates { get; init; }
    /// <summary>Charts that got updates during the recording.</summary>
    public required int ChartsSeen { get; init; }
    /// <summary>Browser time the recording covered.</summary>
    public required TimeSpan Recorded { get; init; }
    /// <summary>Sample time → painted (ns), over all charts' updates.</summary>
    public required LatencySummary Latency { get; init; }
    /// <summary>Sample time → update arrived in the page (ns).</summary>
    public required LatencySummary ToBrowser { get; init; }
    /// <summary>Update arrived → draw returned (ns).</summary>
    public required LatencySummary Draw { get; init; }
    /// <summary>draw returned → next frame painted (ns).</summary>
    public required LatencySummary ToPaint { get; init; }
    /// <summary>Device clock start minus <c>StartedAt</c> (ms), largest over the phase's measurements.</summary>
    public required double DeviceStartAfterStartedAtMs { get; init; }

    /// <summary>Updates per second per chart (achieved fps).</summary>
    public double FramesPerSecond => Updates.Count / Recorded.TotalSeconds / Math.Max(1, Case.Charts);
}

/// <summary>
/// SPEC §9 browser-visible latency: sample time → drawn in the browser, on the real Live page of
/// the app (Kestrel on loopback, Chromium via Playwright). A script injected before the
/// page loads defines the hook js/liveChart.js reports each draw to; for every update it records the newest x drawn and
/// the wall time after the next painted frame. x (seconds since sample 0) becomes wall time with
/// the device clock's start read from the hub, so latency = painted − (sample 0 + x). Browser and
/// server run on one machine and read the same system clock. Same-run baseline: the same page
/// with the chart's draw replaced by a no-op (pipeline without drawing).
/// </summary>
public sealed class BrowserLatencyScenario : ILoadScenario
{
    /// <inheritdoc />
    public string Name => "browser-latency";

    /// <inheritdoc />
    public string Description => "Live page in Chromium: sample time → painted, p50/p95/p99 and fps (SPEC §9: p50 ≤ 25 ms, p99 ≤ 60 ms at 60 Hz)";

    /// <inheritdoc />
    public string Usage => """
        --seconds N        recorded time per phase (default 10)   --warmup-s N  (2)
        --rates LIST       sample rates per channel (1k,10k,100k)
        --channels LIST    channels per measurement (1,4)
        --charts LIST      charts (measurements) on the page (1,4; at most 4)
        --no-baseline      skip the no-op draw baseline
        --chromium PATH    browser (MEASUREAPP_TEST_CHROMIUM or /usr/bin/chromium)
        --write            update this run's section in docs/benchmarks.md   --doc PATH
        """;

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var defaults = new BrowserLatencySettings();
        var rates = ParseList(options.GetString("rates", "1k,10k,100k"), "rates");
        var channels = ParseList(options.GetString("channels", "1,4"), "channels");
        var charts = ParseList(options.GetString("charts", "1,4"), "charts");
        if (charts.Any(c => c is < 1 or > 4))
        {
            throw new ArgumentException("--charts values must be 1 to 4 (the Live page shows at most 4 charts).", nameof(options));
        }
        var settings = defaults with
        {
            Cases = BrowserLatencySettings.Matrix(rates, channels.Select(c => (int)c), charts.Select(c => (int)c)),
            Duration = TimeSpan.FromSeconds(options.GetDouble("seconds", 10)),
            Warmup = TimeSpan.FromSeconds(options.GetDouble("warmup-s", 2)),
            Baseline = !options.Has("no-baseline"),
            ChromiumPath = options.GetString("chromium", defaults.ChromiumPath),
        };
        var phases = await RunAsync(settings, progress, cancellationToken);
        return ToReport(settings, phases);
    }

    /// <summary>Runs every case (real chart, then or before the no-op baseline, alternating) and returns the phases in run order.</summary>
    public static async Task<IReadOnlyList<BrowserLatencyPhase>> RunAsync(BrowserLatencySettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(progress);
        var phases = new List<BrowserLatencyPhase>();
        await using var host = await BrowserLatencyHost.StartAsync(settings.ChromiumPath, cancellationToken);
        progress.WriteLine($"App on {host.BaseAddress}, Chromium {settings.ChromiumPath}");
        for (var i = 0; i < settings.Cases.Count; i++)
        {
            var @case = settings.Cases[i];
            // Alternate which variant goes first so slow drift of the machine load does not favour one.
            bool[] variants = !settings.Baseline ? [false] : i % 2 == 0 ? [false, true] : [true, false];
            foreach (var noop in variants)
            {
                var phase = await RunPhaseAsync(host, @case, noop, settings, cancellationToken);
                phases.Add(phase);
                progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{@case.Label,-28} {(noop ? "no-op" : "chart"),-5}  p50 {Ms(phase.Latency.PercentileNs(0.5)),6:F1}  p95 {Ms(phase.Latency.PercentileNs(0.95)),6:F1}  p99 {Ms(phase.Latency.PercentileNs(0.99)),6:F1} ms  {phase.FramesPerSecond,5:F1} fps/chart  {phase.Updates.Count} updates  load {StoreScenario.LoadAverage()}"));
            }
        }
        return phases;
    }

    private static async Task<BrowserLatencyPhase> RunPhaseAsync(BrowserLatencyHost host, BrowserLatencyCase @case, bool noop, BrowserLatencySettings settings, CancellationToken ct)
    {
        var started = new List<Acquisition.Measurements.MeasurementInfo>();
        var sampleZero = new Dictionary<Guid, long>();
        try
        {
            double deviceLagMs = 0;
            for (var c = 0; c < @case.Charts; c++)
            {
                var m = await host.StartMeasurementAsync($"latency {@case.Label} #{c + 1}", @case.SampleRate, @case.Channels, ct);
                started.Add(m);
                var zero = await host.SampleZeroTimeNsAsync(m.Id, ct);
                sampleZero[m.Id] = zero;
                deviceLagMs = Math.Max(deviceLagMs, (zero - (m.StartedAt - DateTimeOffset.UnixEpoch).Ticks * 100) / 1e6);
            }
            await using var context = await host.NewContextAsync(BrowserLatencyProbe.Script(noop));
            var page = await context.NewPageAsync();
            await page.GotoAsync("/live");
            await page.WaitForSelectorAsync("#interactive", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
            await page.WaitForFunctionAsync($"n => ({BrowserLatencyProbe.ChartsUpdatedJs})() >= n", @case.Charts,
                new PageWaitForFunctionOptions { Timeout = 60_000 });
            await Task.Delay(settings.Warmup, ct);
            await page.EvaluateAsync<double>(BrowserLatencyProbe.ResetJs);
            await Task.Delay(settings.Duration, ct);
            var take = BrowserLatencyProbe.Parse(await page.EvaluateAsync<string>(BrowserLatencyProbe.TakeJs));
            await context.CloseAsync();
            return Summarize(@case, noop, take, sampleZero, deviceLagMs);
        }
        finally
        {
            foreach (var m in started)
            {
                await host.StopMeasurementAsync(m.Id);
            }
        }
    }

    /// <summary>Turns the page's records into latencies; updates of charts not started here are an error.</summary>
    public static BrowserLatencyPhase Summarize(BrowserLatencyCase @case, bool noop, ProbeTake take, IReadOnlyDictionary<Guid, long> sampleZeroNs, double deviceLagMs)
    {
        ArgumentNullException.ThrowIfNull(@case);
        ArgumentNullException.ThrowIfNull(take);
        ArgumentNullException.ThrowIfNull(sampleZeroNs);
        LatencyRecorder latency = new(), toBrowser = new(), draw = new(), toPaint = new();
        foreach (var u in take.Updates)
        {
            var id = BrowserLatencyProbe.MeasurementOf(u.Id);
            if (!sampleZeroNs.TryGetValue(id, out var zeroNs))
            {
                throw new InvalidOperationException($"The page drew measurement {id}, which this phase did not start.");
            }
            // ms since the epoch of the newest sample in the update (x = seconds since sample 0).
            var sampledMs = zeroNs / 1e6 + u.X * 1000;
            latency.Record(Ns(u.Painted - sampledMs));
            toBrowser.Record(Ns(u.Received - sampledMs));
            draw.Record(Ns(u.Done - u.Received));
            toPaint.Record(Ns(u.Painted - u.Done));
        }
        return new BrowserLatencyPhase
        {
            Case = @case,
            Noop = noop,
            Updates = take.Updates,
            ChartsSeen = take.Updates.Select(u => u.Id).Distinct(StringComparer.Ordinal).Count(),
            Recorded = TimeSpan.FromMilliseconds(take.Until - take.Since),
            Latency = LatencySummary.From([latency]),
            ToBrowser = LatencySummary.From([toBrowser]),
            Draw = LatencySummary.From([draw]),
            ToPaint = LatencySummary.From([toPaint]),
            DeviceStartAfterStartedAtMs = deviceLagMs,
        };
    }

    /// <summary>The figures of a run: per case p50/p95/p99 against the goal and the no-op baseline, fps and a breakdown.</summary>
    public static LoadReport ToReport(BrowserLatencySettings settings, IReadOnlyList<BrowserLatencyPhase> phases)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(phases);
        var report = new LoadReport("browser-latency", "browser-latency", "Browser latency (sample time → painted, Live page in Chromium)");
        foreach (var @case in settings.Cases)
        {
            var real = phases.First(p => p.Case == @case && !p.Noop);
            var noop = phases.FirstOrDefault(p => p.Case == @case && p.Noop);
            var p50 = Ms(real.Latency.PercentileNs(0.5));
            var p95 = Ms(real.Latency.PercentileNs(0.95));
            var p99 = Ms(real.Latency.PercentileNs(0.99));
            report.Add($"{@case.Label} p50", p50, "ms", "goal ≤ 25 ms" + Baseline(noop, 0.5), Verdict(p50, 25) + Ratio(p50, noop, 0.5));
            report.Add($"{@case.Label} p95", p95, "ms", Baseline(noop, 0.95).TrimStart(';', ' '), Ratio(p95, noop, 0.95).TrimStart(';', ' '));
            report.Add($"{@case.Label} p99", p99, "ms", "goal ≤ 60 ms" + Baseline(noop, 0.99), Verdict(p99, 60) + Ratio(p99, noop, 0.99));
            report.Add($"{@case.Label} fps per chart", real.FramesPerSecond, "updates/s",
                "goal 60" + (noop is null ? "" : string.Create(CultureInfo.InvariantCulture, $"; no-op {noop.FramesPerSecond:F1}")),
                string.Create(CultureInfo.InvariantCulture, $"{real.Updates.Count} updates, {real.ChartsSeen} charts"));
            report.Add($"{@case.Label} sample→page p50", Ms(real.ToBrowser.PercentileNs(0.5)), "ms",
                string.Create(CultureInfo.InvariantCulture,
                    $"then draw p50 {Ms(real.Draw.PercentileNs(0.5)):F1} / p99 {Ms(real.Draw.PercentileNs(0.99)):F1} ms, then paint p50 {Ms(real.ToPaint.PercentileNs(0.5)):F1} ms; {real.Updates.Sum(u => u.Points) / Math.Max(1, real.Updates.Count)} x values per update"));
        }
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"Each phase: start the measurement(s) on the simulated device (sim-1, 5 ms blocks) through the engine, open /live in a fresh logged-in Chromium page (1400×900, headless, software rendering), wait until every chart drew, {settings.Warmup.TotalSeconds:0.#} s warm-up, then record {settings.Duration.TotalSeconds:0.#} s; the chart shows the session's default 10 s window on 1000 px (10 ms columns); measurements stopped after each phase."));
        report.Notes.Add("Latency = wall time after the browser painted the frame following the chart's draw (js/liveChart.js: a rewrite of the lines' SVG paths, or a Plotly redraw when the page turns) (requestAnimationFrame, then a MessageChannel task) − wall time of the newest sample in that update (sample 0 from the hub: a one-sample-per-column subscription gives index and time stamp of the newest sample; + x). Percentiles pool all charts' updates. Browser (performance.timeOrigin + performance.now()) and server (DateTimeOffset.UtcNow) read the same machine clock, assumed to agree within ~1 ms.");
        report.Notes.Add("Baseline (same run, same page, alternating order): the chart's draw (js/liveChart.js) replaced by a no-op that still records and waits for the next painted frame — everything but drawing the chart (device block, 10 ms M4 column, ≤ 60 Hz drain loop, SignalR, interop). Ratio = chart / no-op.");
        var lag = phases.Select(p => p.DeviceStartAfterStartedAtMs).DefaultIfEmpty(0).Max();
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"The device clock started up to {lag:F1} ms after the measurement's StartedAt (the measurement row is written first); latencies use the device clock, so this is not in them."));
        report.Notes.Add($"Load average at the end (1/5/15 min): {StoreScenario.LoadAverage()}.");
        return report;
    }

    private static string Baseline(BrowserLatencyPhase? noop, double fraction) => noop is null ? "" :
        string.Create(CultureInfo.InvariantCulture, $"; no-op baseline {Ms(noop.Latency.PercentileNs(fraction)):F1} ms");

    private static string Ratio(double value, BrowserLatencyPhase? noop, double fraction)
    {
        var baseline = noop is null ? 0 : Ms(noop.Latency.PercentileNs(fraction));
        return baseline <= 0 ? "" : string.Create(CultureInfo.InvariantCulture, $"; {value / baseline:F2}× no-op");
    }

    private static string Verdict(double value, double goal) => value <= goal
        ? string.Create(CultureInfo.InvariantCulture, $"met ({value / goal:F2}× goal)")
        : string.Create(CultureInfo.InvariantCulture, $"MISSED by {value - goal:F1} ms");

    private static double[] ParseList(string text, string name)
    {
        var values = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            values.Add(LoadOptions.From((name, part)).GetDouble(name, double.NaN));
        }
        return values.Count > 0 && values.All(v => v > 0)
            ? [.. values]
            : throw new ArgumentException($"--{name} needs a comma-separated list of positive numbers, got '{text}'.", nameof(text));
    }

    private static long Ns(double ms) => (long)Math.Round(ms * 1e6);

    private static double Ms(long ns) => ns / 1e6;
}
