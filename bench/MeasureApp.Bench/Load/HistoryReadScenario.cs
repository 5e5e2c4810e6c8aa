using System.Diagnostics;
using System.Globalization;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Storage;

namespace MeasureApp.Bench.Load;

/// <summary>Settings of <see cref="HistoryReadScenario"/>.</summary>
public sealed record HistoryReadSettings
{
    /// <summary>Providers to measure, in order.</summary>
    public IReadOnlyList<BenchProvider> Providers { get; init; } = [BenchProvider.Sqlite, BenchProvider.Postgres];
    /// <summary>Admin connection string for PostgreSQL.</summary>
    public string? PostgresAdmin { get; init; }
    /// <summary>Length of the stored measurement.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(60);
    /// <summary>Samples per second per channel.</summary>
    public double SampleRate { get; init; } = 100_000;
    /// <summary>Channels.</summary>
    public int Channels { get; init; } = 8;
    /// <summary>Chart width asked for.</summary>
    public int Pixels { get; init; } = 2000;
    /// <summary>Timed reads per zoom level (after <see cref="WarmupReads"/> untimed ones).</summary>
    public int Reads { get; init; } = 30;
    /// <summary>Untimed reads per zoom level first.</summary>
    public int WarmupReads { get; init; } = 2;
    /// <summary>Chunks per WriteChunksAsync call while filling the database.</summary>
    public int BatchChunks { get; init; } = 64;
    /// <summary>
    /// Visible spans to read; spans longer than the data are read as the whole measurement once.
    /// 50, 13 and 3 min are there because they sit just below a pyramid level switch at 2000 px, so
    /// they read the most rows: 3 min is the last level-2 zoom, 13 min the last level-3 one (one row per
    /// chunk up to 8,000 chunks ≈ 13.3 min), 50 min the last level-4 one (4 chunks per row up to ≈ 53 min).
    /// (Before the pyramid's upper levels went from groups of 16 to groups of 4, 50 min read 30,000 level-3 rows.)
    /// </summary>
    public IReadOnlyList<TimeSpan> Zooms { get; init; } =
        [TimeSpan.FromHours(1), TimeSpan.FromMinutes(50), TimeSpan.FromMinutes(13), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(3), TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(10)];

    /// <summary>Samples per channel in one chunk: 0.1 s, as the store writer cuts them.</summary>
    public int ChunkSamples => (int)Math.Max(512, SampleRate / 10);
}

/// <summary>Timings of one zoom level.</summary>
public sealed record HistoryZoom(string Label, long SpanSamples, LatencySummary Latency, int Level, long SummaryRowsRead, long RawSamplesRead, int Columns)
{
    /// <summary>
    /// Exact statistics of the same span at random positions, all channels, timed as the stats API works:
    /// seconds → indices on the stored time line (read once, see <see cref="HistoryReadResult.TimeLine"/>) + <see cref="DbSampleStore.ReadStatisticsAsync"/>.
    /// </summary>
    public LatencySummary? Statistics { get; init; }

    /// <summary>Pyramid rows the last statistics read used.</summary>
    public long StatisticsRows { get; init; }

    /// <summary>Raw samples per channel the last statistics read used (the partial chunks at the ends).</summary>
    public long StatisticsRawSamples { get; init; }
}

/// <summary>What one provider measured.</summary>
public sealed record HistoryReadResult(BenchProvider Provider, long StoredSamples, long ChunksStored, TimeSpan WriteTime, long DatabaseBytes, IReadOnlyList<HistoryZoom> Zooms)
{
    /// <summary>Reads of the stored time line (<see cref="DbSampleStore.ReadRunsAsync"/>), once per measurement in the app.</summary>
    public LatencySummary? TimeLine { get; init; }
}

/// <summary>
/// SPEC §9 history read: <see cref="DbSampleStore.ReadDecimatedAsync"/> of a stored 100 kHz × 8 channel
/// measurement at 2000 pixels, timed in-process (database round trips + decimation; no network or
/// rendering) at several zoom levels, each read at random positions.
/// </summary>
public sealed class HistoryReadScenario : ILoadScenario
{
    /// <inheritdoc />
    public string Name => "history-read";

    /// <inheritdoc />
    public string Description => "DbSampleStore.ReadDecimatedAsync of 100 kHz × 8 ch at 2000 px, full → 10 ms zoom (SPEC §9, goal ≤ 100 ms)";

    /// <inheritdoc />
    public string Usage => """
        --providers LIST   sqlite,postgres (default both)
        --postgres CS      admin connection string (default: env MEASUREAPP_TEST_POSTGRES)
        --minutes N        length of the stored measurement (default 60 = 2.88 G values, 11.5 GB per provider)
        --rate HZ (100k)   --channels N (8)   --pixels N (2000)
        --reads N          timed reads per zoom level at random positions (default 30), after 2 warm-up reads
        --batch N          chunks per WriteChunksAsync call while filling (default 64)
        --write            update this run's section in docs/benchmarks.md   --doc PATH
        """;

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var providers = BenchDatabase.ProvidersFromOptions(options);
        var settings = new HistoryReadSettings
        {
            Providers = providers,
            PostgresAdmin = providers.Contains(BenchProvider.Postgres) ? BenchDatabase.PostgresFromOptions(options) : null,
            Duration = TimeSpan.FromMinutes(options.GetDouble("minutes", 60)),
            SampleRate = options.GetDouble("rate", 100_000),
            Channels = options.GetInt("channels", 8),
            Pixels = options.GetInt("pixels", 2000),
            Reads = options.GetInt("reads", 30),
            BatchChunks = options.GetInt("batch", 64),
        };
        var results = new List<HistoryReadResult>();
        foreach (var provider in settings.Providers)
        {
            results.Add(await RunAsync(settings, provider, progress, cancellationToken));
        }
        return ToReport(settings, results);
    }

    /// <summary>Fills a fresh database of one provider and times the reads; used by the command line and the smoke test.</summary>
    public static async Task<HistoryReadResult> RunAsync(HistoryReadSettings settings, BenchProvider provider, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Reads, 1);
        await using var db = await BenchDatabase.CreateAsync(provider, settings.PostgresAdmin, cancellationToken);
        var store = new DbSampleStore(db);
        var id = Guid.NewGuid();
        var chunkSamples = settings.ChunkSamples;
        var chunkCount = Math.Max(1, (long)(settings.Duration.TotalSeconds * settings.SampleRate / chunkSamples));
        var stored = chunkCount * chunkSamples;
        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"history-read: {provider} {db.Location}: writing {chunkCount} chunks of {settings.Channels}×{chunkSamples} ({stored * settings.Channels / 1e6:F0} M values, {stored * settings.Channels * 4 / 1e9:F2} GB)"));

        // Fill through the real writer so the pyramid is the one production builds.
        var payloads = BenchDatabase.RandomPayloads(16, settings.Channels, chunkSamples, seed: 42);
        var write = Stopwatch.StartNew();
        var batch = new List<StoredChunk>(settings.BatchChunks);
        var lastReport = Stopwatch.StartNew();
        for (var seq = 0L; seq < chunkCount; seq++)
        {
            batch.Add(BenchDatabase.Chunk(id, seq, settings.Channels, chunkSamples, payloads[seq % payloads.Length], settings.SampleRate));
            if (batch.Count == settings.BatchChunks || seq == chunkCount - 1)
            {
                await store.WriteChunksAsync(batch, cancellationToken);
                batch.Clear();
                if (lastReport.Elapsed > TimeSpan.FromSeconds(15))
                {
                    lastReport.Restart();
                    await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                        $"  {seq + 1}/{chunkCount} chunks, {(seq + 1) * chunkSamples * settings.Channels / write.Elapsed.TotalSeconds / 1e6:F1} M values/s"));
                }
            }
        }
        write.Stop();
        var bytes = await db.SizeBytesAsync(cancellationToken);
        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"  written in {write.Elapsed.TotalSeconds:F1} s ({stored * settings.Channels / write.Elapsed.TotalSeconds / 1e6:F1} M values/s), database {bytes / 1e9:F2} GB"));

        // The stored time line (seconds → indices): read once per measurement, as AnalysisService keeps a stopped
        // measurement's; timed on its own, a few times.
        var (timeLine, times) = await TimedCalls.RunAsync(1, 5, () => store.ReadRunsAsync(id, settings.SampleRate, cancellationToken));
        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"  time line (ReadRunsAsync, {times.Runs.Count} run(s) of {chunkCount} chunks): p50 {timeLine.PercentileNs(0.5) / 1e6:F1} ms, max {timeLine.MaxNs / 1e6:F1} ms"));

        var zooms = new List<HistoryZoom>();
        var random = new Random(7);
        var doneFull = false;
        foreach (var zoom in settings.Zooms)
        {
            var span = (long)(zoom.TotalSeconds * settings.SampleRate);
            if (span >= stored)
            {
                // Longer than the data: that is the "whole measurement" view; read it once, labelled by the data length.
                if (doneFull)
                {
                    continue;
                }
                doneFull = true;
                span = stored;
            }
            var (summary, last) = await TimedCalls.RunAsync(settings.WarmupReads, settings.Reads, () =>
            {
                var from = span == stored ? 0 : random.NextInt64(0, stored - span);
                return store.ReadDecimatedAsync(id, from, from + span, settings.Pixels, null, cancellationToken);
            });
            var label = Label(span / settings.SampleRate);
            // Statistics of the same span, at random positions that start and end inside chunks.
            var (stats, lastStats) = await TimedCalls.RunAsync(settings.WarmupReads, settings.Reads, () =>
            {
                var from = span == stored ? 0 : random.NextInt64(0, stored - span);
                // What AnalysisService does for GET …/stats?from=&to=: seconds → indices on the (kept) stored
                // time line, then the statistics; both are timed (the random position and this check too: nanoseconds).
                var fromIndex = times.FirstAtOrAfter(times.SecondsOf(from));
                var toIndex = times.EndAtOrBefore(times.SecondsOf(from + span - 1));
                if (fromIndex != from || toIndex != from + span)
                {
                    throw new InvalidOperationException($"The time line mapped [{from}, {from + span}) to [{fromIndex}, {toIndex}).");
                }
                return store.ReadStatisticsAsync(id, fromIndex, toIndex, null, cancellationToken);
            });
            zooms.Add(new HistoryZoom(label, span, summary, last.Level, last.SummaryRowsRead, last.RawSamplesRead, last.ColumnStarts.Count)
            {
                Statistics = stats,
                StatisticsRows = lastStats.SummaryRowsRead,
                StatisticsRawSamples = lastStats.RawSamplesRead,
            });
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"  {label,-8} level {last.Level}, {last.SummaryRowsRead} summary rows, {last.RawSamplesRead} raw samples, {last.ColumnStarts.Count} columns: p50 {summary.PercentileNs(0.5) / 1e6:F2} ms, p95 {summary.PercentileNs(0.95) / 1e6:F2} ms, max {summary.MaxNs / 1e6:F2} ms"));
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"  {label,-8} statistics: {lastStats.SummaryRowsRead} rows with sums, {lastStats.RawSamplesRead} raw samples, {lastStats.RoundTrips} round trips: p50 {stats.PercentileNs(0.5) / 1e6:F2} ms, p95 {stats.PercentileNs(0.95) / 1e6:F2} ms, max {stats.MaxNs / 1e6:F2} ms"));
        }
        return new HistoryReadResult(provider, stored, chunkCount, write.Elapsed, bytes, zooms) { TimeLine = timeLine };
    }

    private static string Label(double seconds) => seconds switch
    {
        >= 60 => string.Create(CultureInfo.InvariantCulture, $"{seconds / 60:0.##} min"),
        >= 1 => string.Create(CultureInfo.InvariantCulture, $"{seconds:0.##} s"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{seconds * 1000:0.##} ms"),
    };

    private static LoadReport ToReport(HistoryReadSettings settings, IReadOnlyList<HistoryReadResult> results)
    {
        var report = new LoadReport("history-read", "history-read", "History read (DbSampleStore.ReadDecimatedAsync)");
        foreach (var r in results)
        {
            var values = r.StoredSamples * settings.Channels;
            report.Add($"{r.Provider}: fill through WriteChunksAsync", values / r.WriteTime.TotalSeconds, "values/s",
                string.Create(CultureInfo.InvariantCulture, $"{values / 1e6:F0} M values, {r.DatabaseBytes / 1e9:F2} GB on disk"));
            if (r.TimeLine is { } tl)
            {
                report.Add($"{r.Provider}: stored time line (ReadRunsAsync, once per measurement)", tl.PercentileNs(0.5) / 1e6, "ms",
                    string.Create(CultureInfo.InvariantCulture, $"max {tl.MaxNs / 1e6:F1} ms over {r.ChunksStored} chunks"));
            }
            foreach (var z in r.Zooms)
            {
                var p95 = z.Latency.PercentileNs(0.95) / 1e6;
                report.Add($"{r.Provider} {z.Label} p50", z.Latency.PercentileNs(0.5) / 1e6, "ms",
                    string.Create(CultureInfo.InvariantCulture, $"level {z.Level}, {z.SummaryRowsRead} summary rows, {z.RawSamplesRead} raw samples/channel read, {z.Columns} columns"));
                report.Add($"{r.Provider} {z.Label} p95 / max", p95, "ms",
                    string.Create(CultureInfo.InvariantCulture, $"max {z.Latency.MaxNs / 1e6:F1} ms; goal ≤ 100 ms"),
                    p95 <= 100 ? string.Create(CultureInfo.InvariantCulture, $"met ({p95 / 100:F2}× goal)") : string.Create(CultureInfo.InvariantCulture, $"MISSED by {p95 - 100:F0} ms"));
                if (z.Statistics is { } st)
                {
                    var sp95 = st.PercentileNs(0.95) / 1e6;
                    report.Add($"{r.Provider} {z.Label} statistics p50 / p95", st.PercentileNs(0.5) / 1e6, "ms",
                        string.Create(CultureInfo.InvariantCulture, $"p95 {sp95:F1} ms, max {st.MaxNs / 1e6:F1} ms; {z.StatisticsRows} rows with sums + {z.StatisticsRawSamples} raw samples/channel; goal ≤ 50 ms"),
                        sp95 <= 50 ? string.Create(CultureInfo.InvariantCulture, $"met ({sp95 / 50:F2}× goal)") : string.Create(CultureInfo.InvariantCulture, $"MISSED by {sp95 - 50:F0} ms"));
                }
            }
        }
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"Stored measurement: {settings.Duration.TotalMinutes:0.##} min × {settings.SampleRate:F0} Hz × {settings.Channels} channels in 0.1 s chunks ({settings.ChunkSamples} samples), random float payloads, written through DbSampleStore.WriteChunksAsync in batches of {settings.BatchChunks} chunks into a fresh database."));
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"Each zoom: {settings.WarmupReads} untimed + {settings.Reads} timed reads of all channels at {settings.Pixels} px, each at a random start (the whole-measurement view always from 0); time = Stopwatch around ReadDecimatedAsync in-process (connection from pool, SQL, decode, M4 grid), no network or rendering. Level/rows/raw samples are from the last read."));
        report.Notes.Add("Statistics: the same number of reads of the same span at other random starts (both ends inside chunks), all channels; time = Stopwatch around the seconds → indices mapping on the stored time line (read once per measurement and kept, as AnalysisService keeps a stopped measurement's) + ReadStatisticsAsync.");
        report.Notes.Add($"Load average at the end (1/5/15 min): {StoreScenario.LoadAverage()}.");
        return report;
    }
}
