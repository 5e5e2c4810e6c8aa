using System.Diagnostics;
using System.Globalization;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Storage;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;

namespace MeasureApp.Bench.Load;

/// <summary>Settings of <see cref="StoreScenario"/>.</summary>
public sealed record StoreSettings
{
    /// <summary>Providers to measure, in order.</summary>
    public IReadOnlyList<BenchProvider> Providers { get; init; } = [BenchProvider.Sqlite, BenchProvider.Postgres];
    /// <summary>Admin connection string for PostgreSQL (CREATE DATABASE runs on it).</summary>
    public string? PostgresAdmin { get; init; }
    /// <summary>Chunk shapes (channels × samples per channel) to measure.</summary>
    public IReadOnlyList<(int Channels, int Samples)> Shapes { get; init; } = [(8, 10_000), (1, 8192)];
    /// <summary>float32 values written per timed pass (rounded down to whole batches of chunks).</summary>
    public long ValuesPerPass { get; init; } = 32_000_000;
    /// <summary>Chunks per WriteChunksAsync call / per baseline transaction.</summary>
    public int BatchChunks { get; init; } = 32;
    /// <summary>Passes per (provider, shape); baseline and store alternate, the first pass of each order swapped.</summary>
    public int Rounds { get; init; } = 2;
}

/// <summary>One (provider, shape, writer) measurement summed over its passes.</summary>
public sealed record StoreCase(BenchProvider Provider, int Channels, int Samples, string Writer, long Values, TimeSpan Elapsed, IReadOnlyList<double> PassRates)
{
    /// <summary>float32 values per second over all passes.</summary>
    public double ValuesPerSecond => Values / Elapsed.TotalSeconds;

    /// <summary>Samples per channel per second.</summary>
    public double SamplesPerSecond => ValuesPerSecond / Channels;

    /// <summary>Encoded pyramid bytes per chunk (pyramid CPU case only).</summary>
    public long PyramidBytesPerChunk { get; init; }
}

/// <summary>
/// SPEC §9 storage throughput: sustained values/s through the real <see cref="DbSampleStore.WriteChunksAsync"/>
/// (raw chunk + min/max pyramid) into a fresh PostgreSQL database and a fresh SQLite file, beside a
/// raw baseline in the same run on the same database: PostgreSQL plain binary COPY of
/// (uuid, bigint, bytea) rows into a table with a primary key and EXTERNAL (uncompressed) storage;
/// SQLite one transaction of prepared inserts of the same rows.
/// </summary>
public sealed class StoreScenario : ILoadScenario
{
    /// <inheritdoc />
    public string Name => "store";

    /// <inheritdoc />
    public string Description => "DbSampleStore.WriteChunksAsync into PostgreSQL/SQLite vs raw COPY/insert baseline (SPEC §9, goal ≥ 20 M samples/s, ≥ 50 % of baseline)";

    /// <inheritdoc />
    public string Usage => """
        --providers LIST   sqlite,postgres (default both)
        --postgres CS      admin connection string (default: env MEASUREAPP_TEST_POSTGRES); a fresh database is created and dropped
        --values N         float32 values per timed pass (default 32M = 128 MB)
        --batch N          chunks per WriteChunksAsync call / baseline transaction (default 32)
        --rounds N         passes of each writer per provider and chunk shape (default 2)
        --write            update this run's section in docs/benchmarks.md   --doc PATH
        """;

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var providers = BenchDatabase.ProvidersFromOptions(options);
        var settings = new StoreSettings
        {
            Providers = providers,
            PostgresAdmin = providers.Contains(BenchProvider.Postgres) ? BenchDatabase.PostgresFromOptions(options) : null,
            ValuesPerPass = (long)options.GetDouble("values", 32_000_000),
            BatchChunks = options.GetInt("batch", 32),
            Rounds = options.GetInt("rounds", 2),
        };
        var cases = await RunAsync(settings, progress, cancellationToken);
        return ToReport(settings, cases);
    }

    /// <summary>Runs every (provider, shape) with both writers; used by the command line and the smoke test.</summary>
    public static async Task<IReadOnlyList<StoreCase>> RunAsync(StoreSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(progress);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.BatchChunks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(settings.Rounds, 1);
        var cases = new List<StoreCase>();
        foreach (var provider in settings.Providers)
        {
            await using var db = await BenchDatabase.CreateAsync(provider, settings.PostgresAdmin, cancellationToken);
            await progress.WriteLineAsync($"store: {provider} fresh database {db.Location}");
            await CreateBaselineTableAsync(db, cancellationToken);
            var store = new DbSampleStore(db);
            foreach (var (channels, samples) in settings.Shapes)
            {
                var payloads = BenchDatabase.RandomPayloads(8, channels, samples, seed: channels * 7919 + samples);
                var chunksPerPass = Math.Max(1, settings.ValuesPerPass / ((long)channels * samples));
                var baseline = new List<(long Values, TimeSpan Elapsed)>();
                var real = new List<(long Values, TimeSpan Elapsed)>();
                for (var round = 0; round < settings.Rounds; round++)
                {
                    // Alternate the order so neither writer always runs on a warmer (or fuller) database.
                    var order = round % 2 == 0 ? new[] { false, true } : [true, false];
                    foreach (var useStore in order)
                    {
                        var id = Guid.NewGuid();
                        var chunks = Enumerable.Range(0, (int)chunksPerPass)
                            .Select(s => BenchDatabase.Chunk(id, s, channels, samples, payloads[s % payloads.Length], 100_000))
                            .ToList();
                        var sw = Stopwatch.StartNew();
                        foreach (var batch in chunks.Chunk(settings.BatchChunks))
                        {
                            if (useStore)
                            {
                                await store.WriteChunksAsync(batch, cancellationToken);
                            }
                            else
                            {
                                await WriteBaselineAsync(db, batch, cancellationToken);
                            }
                        }
                        sw.Stop();
                        var values = chunksPerPass * channels * samples;
                        (useStore ? real : baseline).Add((values, sw.Elapsed));
                        await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                            $"  {provider} {channels}×{samples} round {round + 1} {(useStore ? "DbSampleStore" : "baseline"),-13}: {values / sw.Elapsed.TotalSeconds / 1e6,7:F1} M values/s ({chunksPerPass} chunks, {sw.Elapsed.TotalSeconds:F2} s)"));
                    }
                }
                cases.Add(Summarize(provider, channels, samples, BaselineName(provider), baseline));
                cases.Add(Summarize(provider, channels, samples, "DbSampleStore", real));
                cases.Add(TimePyramidCpu(provider, channels, samples, payloads, chunksPerPass));
            }
        }
        return cases;
    }

    /// <summary>
    /// The pyramid rows WriteChunksAsync computes and encodes per chunk, on one thread without any I/O:
    /// the share of the store's cost that the baseline does not pay.
    /// </summary>
    private static StoreCase TimePyramidCpu(BenchProvider provider, int channels, int samples, byte[][] payloads, long chunkCount)
    {
        var id = Guid.NewGuid();
        var chunks = Enumerable.Range(0, (int)chunkCount).Select(s => BenchDatabase.Chunk(id, s, channels, samples, payloads[s % payloads.Length], 100_000)).ToList();
        var bytes = 0L;
        var sw = Stopwatch.StartNew();
        foreach (var chunk in chunks)
        {
            var (fine, coarse, whole) = SamplePyramid.BuildChunkRows(chunk);
            bytes += fine.EncodeEntries().Length + coarse.EncodeEntries().Length + whole.EncodeEntries().Length;
        }
        sw.Stop();
        return new StoreCase(provider, channels, samples, PyramidCpu, chunkCount * channels * samples, sw.Elapsed, [chunkCount * channels * samples / sw.Elapsed.TotalSeconds])
        {
            PyramidBytesPerChunk = bytes / chunkCount,
        };
    }

    private const string PyramidCpu = "pyramid rows, CPU only";

    private static string BaselineName(BenchProvider provider) =>
        provider == BenchProvider.Postgres ? "baseline: binary COPY" : "baseline: prepared inserts";

    private static StoreCase Summarize(BenchProvider provider, int channels, int samples, string writer, List<(long Values, TimeSpan Elapsed)> passes) =>
        new(provider, channels, samples, writer, passes.Sum(p => p.Values), TimeSpan.FromTicks(passes.Sum(p => p.Elapsed.Ticks)),
            [.. passes.Select(p => p.Values / p.Elapsed.TotalSeconds)]);

    private static async Task CreateBaselineTableAsync(BenchDatabase db, CancellationToken ct)
    {
        if (db.Provider == BenchProvider.Postgres)
        {
            await using var c = new NpgsqlConnection(db.ConnectionString);
            await c.OpenAsync(ct);
            await using var cmd = new NpgsqlCommand(
                "CREATE TABLE raw_copy (measurement_id uuid, seq bigint, payload bytea, PRIMARY KEY (measurement_id, seq)); ALTER TABLE raw_copy ALTER COLUMN payload SET STORAGE EXTERNAL;", c);
            await cmd.ExecuteNonQueryAsync(ct);
        }
        else
        {
            await using var c = new SqliteConnection(db.ConnectionString);
            await c.OpenAsync(ct);
            await using var cmd = c.CreateCommand();
            cmd.CommandText = "CREATE TABLE raw_insert (measurement_id TEXT, seq INTEGER, payload BLOB, PRIMARY KEY (measurement_id, seq))";
            await cmd.ExecuteNonQueryAsync(ct);
        }
    }

    private static async Task WriteBaselineAsync(BenchDatabase db, StoredChunk[] batch, CancellationToken ct)
    {
        if (db.Provider == BenchProvider.Postgres)
        {
            await using var c = new NpgsqlConnection(db.ConnectionString);
            await c.OpenAsync(ct);
            await using var w = await c.BeginBinaryImportAsync("COPY raw_copy (measurement_id, seq, payload) FROM STDIN (FORMAT BINARY)", ct);
            foreach (var chunk in batch)
            {
                await w.StartRowAsync(ct);
                await w.WriteAsync(chunk.MeasurementId, NpgsqlDbType.Uuid, ct);
                await w.WriteAsync(chunk.Sequence, NpgsqlDbType.Bigint, ct);
                await w.WriteAsync(chunk.Payload, NpgsqlDbType.Bytea, ct);
            }
            await w.CompleteAsync(ct);
        }
        else
        {
            await using var c = new SqliteConnection(db.ConnectionString);
            await c.OpenAsync(ct);
            await using var tx = (SqliteTransaction)await c.BeginTransactionAsync(ct);
            await using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO raw_insert VALUES ($m, $s, $p)";
            var m = cmd.Parameters.Add("$m", SqliteType.Text);
            var s = cmd.Parameters.Add("$s", SqliteType.Integer);
            var p = cmd.Parameters.Add("$p", SqliteType.Blob);
            await cmd.PrepareAsync(ct);
            foreach (var chunk in batch)
            {
                m.Value = chunk.MeasurementId.ToString().ToUpperInvariant();
                s.Value = chunk.Sequence;
                p.Value = chunk.Payload;
                await cmd.ExecuteNonQueryAsync(ct);
            }
            await tx.CommitAsync(ct);
        }
    }

    private static LoadReport ToReport(StoreSettings settings, IReadOnlyList<StoreCase> cases)
    {
        var report = new LoadReport("store", "store", "Storage write throughput (DbSampleStore vs raw baseline)");
        foreach (var group in cases.GroupBy(c => (c.Provider, c.Channels, c.Samples)))
        {
            var baseline = group.First(c => c.Writer.StartsWith("baseline", StringComparison.Ordinal));
            var cpu = group.First(c => c.Writer == PyramidCpu);
            var real = group.First(c => c.Writer == "DbSampleStore");
            var shape = string.Create(CultureInfo.InvariantCulture, $"{group.Key.Provider} {group.Key.Channels}×{group.Key.Samples}");
            report.Add($"{shape} {baseline.Writer}", baseline.ValuesPerSecond, "values/s", Spread(baseline));
            var ratio = real.ValuesPerSecond / baseline.ValuesPerSecond;
            report.Add($"{shape} DbSampleStore", real.ValuesPerSecond, "values/s",
                "goal ≥ 20 M; " + Spread(real), Verdict(real.ValuesPerSecond, 20e6));
            report.Add($"{shape} DbSampleStore / baseline", ratio * 100, "%", "goal ≥ 50 %", ratio >= 0.5 ? "met" : string.Create(CultureInfo.InvariantCulture, $"missed by {(0.5 - ratio) * 100:F0} points"));
            report.Add($"{shape} {PyramidCpu}", cpu.ValuesPerSecond, "values/s", string.Create(CultureInfo.InvariantCulture, $"1 thread; {cpu.PyramidBytesPerChunk} B of pyramid rows per chunk"));
        }
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"{settings.Rounds} passes of each writer per provider and shape, alternating order; ~{settings.ValuesPerPass / 1e6:F0} M values ({settings.ValuesPerPass * 4 / 1e6:F0} MB) per pass in batches of {settings.BatchChunks} chunks, a new measurement id per pass; the value is total values / total time over the passes, the range is per pass."));
        report.Notes.Add("\"values\" are float32 samples × channels (for 1-channel chunks values = samples); samples/s per channel of an 8-channel chunk is values/s ÷ 8.");
        report.Notes.Add("DbSampleStore: real WriteChunksAsync (min/max pyramid levels computed in-process, payload + min_max + 3 pyramid rows per chunk + upper levels; PostgreSQL: advisory lock + existence check + 2 binary COPYs; SQLite: INSERT OR IGNORE). Baseline: PostgreSQL binary COPY of (uuid, bigint, bytea) into a table with a primary key, payload STORAGE EXTERNAL; SQLite one transaction of prepared INSERTs of the same rows. Both open a pooled connection per batch, both in the same fresh database.");
        report.Notes.Add($"Load average at the end (1/5/15 min): {LoadAverage()}.");
        return report;
    }

    private static string Spread(StoreCase c) => string.Create(CultureInfo.InvariantCulture,
        $"passes {c.PassRates.Min() / 1e6:F1}–{c.PassRates.Max() / 1e6:F1} M");

    internal static string Verdict(double value, double goal) => value >= goal
        ? string.Create(CultureInfo.InvariantCulture, $"met ({value / goal:F2}× goal)")
        : string.Create(CultureInfo.InvariantCulture, $"MISSED by {(1 - value / goal) * 100:F0} %");

    internal static string LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return string.Join(' ', parts.Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }
}
