using System.Diagnostics;
using System.Globalization;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Annotations;
using MeasureApp.Data;
using MeasureApp.History;
using MeasureApp.Tags;

namespace MeasureApp.Bench.Load;

/// <summary>Settings of <see cref="SearchScenario"/>.</summary>
public sealed record SearchSettings
{
    /// <summary>Providers to measure, in order.</summary>
    public IReadOnlyList<BenchProvider> Providers { get; init; } = [BenchProvider.Sqlite, BenchProvider.Postgres];
    /// <summary>Admin connection string for PostgreSQL.</summary>
    public string? PostgresAdmin { get; init; }
    /// <summary>Measurements stored (of 10 owners; the searcher owns a tenth).</summary>
    public int Measurements { get; init; } = 100_000;
    /// <summary>Timed reads per query (after 2 untimed ones).</summary>
    public int Reads { get; init; } = 20;
    /// <summary>Rows per page read.</summary>
    public int PageSize { get; init; } = 25;
}

/// <summary>Timings of one query.</summary>
public sealed record SearchQueryTiming(string Label, int Matches, LatencySummary Latency);

/// <summary>What one provider measured.</summary>
public sealed record SearchResult(BenchProvider Provider, TimeSpan FillTime, long DatabaseBytes, IReadOnlyList<SearchQueryTiming> Queries);

/// <summary>
/// Search latency of the measurements list (<see cref="MeasurementCatalog.ListAsync"/>: count + first page) over many
/// measurements with tags, metadata and annotations, beside a same-run baseline: the unfiltered first page.
/// </summary>
public sealed class SearchScenario : ILoadScenario
{
    /// <inheritdoc />
    public string Name => "search";

    /// <inheritdoc />
    public string Description => "Measurements list search (name, tag, metadata, annotation text) and filters over 100,000 measurements, beside the unfiltered page";

    /// <inheritdoc />
    public string Usage => """
        --providers LIST   sqlite,postgres (default both)
        --postgres CS      admin connection string (default: env MEASUREAPP_TEST_POSTGRES)
        --measurements N   stored measurements (default 100000; 3 tags, 2 metadata entries each, an annotation on every 5th)
        --reads N          timed reads per query (default 20), after 2 warm-up reads
        --write            update this run's section in docs/benchmarks.md   --doc PATH
        """;

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var providers = BenchDatabase.ProvidersFromOptions(options);
        var settings = new SearchSettings
        {
            Providers = providers,
            PostgresAdmin = providers.Contains(BenchProvider.Postgres) ? BenchDatabase.PostgresFromOptions(options) : null,
            Measurements = options.GetInt("measurements", 100_000),
            Reads = options.GetInt("reads", 20),
        };
        var results = new List<SearchResult>();
        foreach (var provider in settings.Providers)
        {
            results.Add(await RunAsync(settings, provider, progress, cancellationToken));
        }
        return ToReport(settings, results);
    }

    /// <summary>Fills a fresh database of one provider and times the queries; used by the command line and the smoke test.</summary>
    public static async Task<SearchResult> RunAsync(SearchSettings settings, BenchProvider provider, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Reads, 1);
        await using var db = await BenchDatabase.CreateAsync(provider, settings.PostgresAdmin, cancellationToken);
        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{provider}: storing {settings.Measurements:N0} measurements with tags, metadata and annotations…"));
        var fill = Stopwatch.StartNew();
        await FillAsync(db, settings.Measurements, cancellationToken);
        fill.Stop();
        var bytes = await db.SizeBytesAsync(cancellationToken);
        var catalog = new MeasurementCatalog(db);
        var me = new Requester("owner-0", "owner-0", IsAdmin: false);
        var admin = new Requester("admin", "admin", IsAdmin: true);
        var queries = new (string Label, Requester Who, MeasurementQuery Query)[]
        {
            ("baseline: own, unfiltered first page", me, new()),
            ("baseline: admin, unfiltered first page", admin, new()),
            ("search name (\"run 0042\")", me, new() { Search = "run 0042" }),
            ("filter tag (\"thermal\")", me, new() { Tag = "thermal" }),
            ("search tag text (\"therm\")", me, new() { Search = "therm" }),
            ("search metadata (\"sn-00420\")", me, new() { Search = "sn-00420" }),
            ("search annotation text (\"brown-out\")", me, new() { Search = "brown-out" }),
            ("search, no match (\"zzz-nothing\")", me, new() { Search = "zzz-nothing" }),
            ("admin search, no match", admin, new() { Search = "zzz-nothing" }),
            ("tag + state + device", me, new() { Tag = "rev-b", State = MeasurementState.Stopped, Device = "scope" }),
        };
        var timings = new List<SearchQueryTiming>();
        foreach (var (label, who, query) in queries)
        {
            var (summary, page) = await TimedCalls.RunAsync(2, settings.Reads, () => catalog.ListAsync(who, query with { PageSize = settings.PageSize }, cancellationToken));
            var matches = page.Total;
            timings.Add(new SearchQueryTiming(label, matches, summary));
            await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"  {label,-42} {matches,7} matches: p50 {summary.PercentileNs(0.5) / 1e6:F2} ms, p95 {summary.PercentileNs(0.95) / 1e6:F2} ms"));
        }
        return new SearchResult(provider, fill.Elapsed, bytes, timings);
    }

    // Rows as the app stores them (folded copies from MeasurementLabelService.Fold), written in batches.
    private static async Task FillAsync(BenchDatabase database, int count, CancellationToken cancellationToken)
    {
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        const int Batch = 5_000;
        for (var first = 0; first < count; first += Batch)
        {
            await using var db = database.CreateDbContext();
            db.ChangeTracker.AutoDetectChangesEnabled = false;
            for (var i = first; i < Math.Min(count, first + Batch); i++)
            {
                var started = start.AddSeconds(i * 30);
                var id = Guid.CreateVersion7(started);
                var owner = string.Create(CultureInfo.InvariantCulture, $"owner-{i % 10}");
                db.Measurements.Add(new MeasurementRecord
                {
                    Id = id, OwnerId = owner, OwnerName = owner, Name = string.Create(CultureInfo.InvariantCulture, $"Run {i:D5}"), DeviceId = i % 3 == 0 ? "scope" : "sim",
                    ChannelsJson = "[]", ChannelCount = 1, SampleRate = 1000, State = i % 50 == 0 ? MeasurementState.Running : MeasurementState.Stopped,
                    StartedAt = started, SampleCount = 1000,
                });
                foreach (var tag in new[] { i % 7 == 0 ? "Thermal" : "ambient", i % 11 == 0 ? "rev-B" : "rev-A", string.Create(CultureInfo.InvariantCulture, $"batch-{i % 100}") })
                {
                    db.MeasurementTags.Add(new MeasurementTagRecord { MeasurementId = id, Tag = tag, Normalized = MeasurementLabelService.Fold(tag) });
                }
                foreach (var (key, value) in new[] { ("operator", i % 5 == 0 ? "Ada Lovelace" : "Grace Hopper"), ("serial number", string.Create(CultureInfo.InvariantCulture, $"SN-{i:D5}")) })
                {
                    db.MeasurementMetadata.Add(new MeasurementMetadataRecord { MeasurementId = id, Key = key, Value = value, Normalized = MeasurementLabelService.Fold($"{key}: {value}") });
                }
                if (i % 5 == 0)
                {
                    db.Annotations.Add(new AnnotationRecord
                    {
                        Id = Guid.CreateVersion7(started), MeasurementId = id, AuthorId = owner, AuthorName = owner, FromSeconds = 1,
                        Title = i % 17 == 0 ? "Supply dip" : "Checked", Text = i % 17 == 0 ? "Brown-out during the relay test" : "Nothing unusual", CreatedAt = started, UpdatedAt = started,
                    });
                }
            }
            await db.SaveChangesAsync(cancellationToken);
        }
    }

    private static LoadReport ToReport(SearchSettings settings, IReadOnlyList<SearchResult> results)
    {
        var report = new LoadReport("search", "search", "Measurements search (MeasurementCatalog.ListAsync)");
        foreach (var r in results)
        {
            report.Add($"{r.Provider}: fill", settings.Measurements / r.FillTime.TotalSeconds, "measurements/s",
                string.Create(CultureInfo.InvariantCulture, $"{settings.Measurements:N0} measurements, {r.DatabaseBytes / 1e6:F0} MB on disk"));
            var baseline = r.Queries[0].Latency.PercentileNs(0.5) / 1e6;
            foreach (var q in r.Queries)
            {
                var p50 = q.Latency.PercentileNs(0.5) / 1e6;
                report.Add($"{r.Provider} {q.Label} p50", p50, "ms",
                    string.Create(CultureInfo.InvariantCulture, $"p95 {q.Latency.PercentileNs(0.95) / 1e6:F1} ms, {q.Matches:N0} matches"),
                    string.Create(CultureInfo.InvariantCulture, $"{p50 / baseline:F1}× own unfiltered page"));
            }
        }
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"{settings.Measurements:N0} measurements of 10 owners (the searcher, an operator, owns {settings.Measurements / 10:N0}); each with 3 tags and 2 metadata entries, every 5th with an annotation. Timed: ListAsync (COUNT + first page of {settings.PageSize}, newest first) in-process, {settings.Reads} reads per query after 2 untimed ones; no HTTP or rendering."));
        report.Notes.Add("Substring search is a scan of the owner's measurements (LIKE/instr over name, tags, metadata and annotations, no trigram index); the tag filter is an equality on the folded tag (index (normalized, measurement_id)).");
        report.Notes.Add($"Load average at the end (1/5/15 min): {StoreScenario.LoadAverage()}.");
        return report;
    }
}
