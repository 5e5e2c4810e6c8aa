using System.Runtime.InteropServices;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace MeasureApp.Bench.Load;

/// <summary>Database provider a storage scenario runs against.</summary>
public enum BenchProvider
{
    /// <summary>A temp SQLite file in WAL mode.</summary>
    Sqlite,

    /// <summary>A fresh database on the server given by --postgres or MEASUREAPP_TEST_POSTGRES.</summary>
    Postgres,
}

/// <summary>
/// A fresh, migrated database for one storage scenario run (a new PostgreSQL database or a temp
/// SQLite file), dropped or deleted on dispose so repeated runs never measure each other's data.
/// </summary>
public sealed class BenchDatabase : IAsyncDisposable, IDbContextFactory<AppDbContext>
{
    private readonly string? _adminConnectionString;
    private readonly string? _databaseName;
    private readonly string? _sqliteFile;

    private BenchDatabase(BenchProvider provider, string connectionString, string? admin, string? databaseName, string? sqliteFile)
    {
        Provider = provider;
        ConnectionString = connectionString;
        _adminConnectionString = admin;
        _databaseName = databaseName;
        _sqliteFile = sqliteFile;
    }

    /// <summary>Provider of this database.</summary>
    public BenchProvider Provider { get; }

    /// <summary>Connection string of the fresh database.</summary>
    public string ConnectionString { get; }

    /// <summary>Where the data lives, for the report (database name or file path).</summary>
    public string Location => _databaseName ?? _sqliteFile ?? "";

    /// <summary>The PostgreSQL admin connection string from --postgres or MEASUREAPP_TEST_POSTGRES; throws when neither is set.</summary>
    public static string PostgresFromOptions(LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var cs = options.GetString("postgres", Environment.GetEnvironmentVariable("MEASUREAPP_TEST_POSTGRES") ?? "");
        return cs.Length > 0
            ? cs
            : throw new ArgumentException("PostgreSQL needs --postgres <connection string> or MEASUREAPP_TEST_POSTGRES (source /tmp/devenv.sh), or use --providers sqlite.", nameof(options));
    }

    /// <summary>Parses --providers sqlite,postgres (default both).</summary>
    public static IReadOnlyList<BenchProvider> ProvidersFromOptions(LoadOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var text = options.GetString("providers", "sqlite,postgres");
        return [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => p.ToUpperInvariant() switch
        {
            "SQLITE" => BenchProvider.Sqlite,
            "POSTGRES" or "PG" or "POSTGRESQL" => BenchProvider.Postgres,
            _ => throw new ArgumentException($"Unknown provider '{p}' (sqlite, postgres).", nameof(options)),
        })];
    }

    /// <summary>Creates and migrates a fresh database.</summary>
    /// <param name="provider">Provider.</param>
    /// <param name="postgresAdmin">Admin connection string (PostgreSQL only; CREATE DATABASE runs on it).</param>
    /// <param name="cancellationToken">Cancels creation.</param>
    public static async Task<BenchDatabase> CreateAsync(BenchProvider provider, string? postgresAdmin, CancellationToken cancellationToken)
    {
        var name = "measureapp_bench_" + Guid.NewGuid().ToString("N")[..12];
        BenchDatabase db;
        if (provider == BenchProvider.Postgres)
        {
            ArgumentException.ThrowIfNullOrEmpty(postgresAdmin);
            await using (var admin = new NpgsqlConnection(postgresAdmin))
            {
                await admin.OpenAsync(cancellationToken);
                await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
                await create.ExecuteNonQueryAsync(cancellationToken);
            }
            var cs = new NpgsqlConnectionStringBuilder(postgresAdmin) { Database = name, Pooling = true }.ConnectionString;
            db = new BenchDatabase(provider, cs, postgresAdmin, name, null);
        }
        else
        {
            var file = Path.Combine(Path.GetTempPath(), name + ".db");
            var cs = new SqliteConnectionStringBuilder { DataSource = file, Pooling = true }.ConnectionString;
            db = new BenchDatabase(provider, cs, null, null, file);
        }
        await using (var context = db.CreateDbContext())
        {
            await context.Database.MigrateAsync(cancellationToken);
            if (provider == BenchProvider.Sqlite)
            {
                // As DatabaseInitializer does: WAL lets the writer append while readers read.
                await context.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
            }
        }
        return db;
    }

    /// <inheritdoc />
    public AppDbContext CreateDbContext() => Provider == BenchProvider.Postgres
        ? new PostgresAppDbContext(new DbContextOptionsBuilder<PostgresAppDbContext>().UseNpgsql(ConnectionString).Options)
        : new SqliteAppDbContext(new DbContextOptionsBuilder<SqliteAppDbContext>().UseSqlite(ConnectionString).Options);

    /// <summary>Bytes the database occupies on disk now (PostgreSQL: pg_database_size; SQLite: file + WAL).</summary>
    public async Task<long> SizeBytesAsync(CancellationToken cancellationToken)
    {
        if (Provider == BenchProvider.Postgres)
        {
            await using var c = new NpgsqlConnection(ConnectionString);
            await c.OpenAsync(cancellationToken);
            await using var cmd = new NpgsqlCommand("SELECT pg_database_size(current_database())", c);
            return (long)(await cmd.ExecuteScalarAsync(cancellationToken))!;
        }
        return new[] { _sqliteFile!, _sqliteFile + "-wal" }.Where(File.Exists).Sum(f => new FileInfo(f).Length);
    }

    /// <summary>Drops the PostgreSQL database or deletes the SQLite files.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Provider == BenchProvider.Postgres)
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(_adminConnectionString);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_databaseName} WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }
        else
        {
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(_sqliteFile + suffix);
            }
        }
    }

    /// <summary>
    /// <paramref name="count"/> distinct channel-major payloads of random floats (random floats do not
    /// compress, so neither database gets an easy ride), cycled through by the chunk builders.
    /// </summary>
    public static byte[][] RandomPayloads(int count, int channels, int samples, int seed)
    {
        var random = new Random(seed);
        var payloads = new byte[count][];
        for (var p = 0; p < count; p++)
        {
            payloads[p] = new byte[channels * samples * sizeof(float)];
            var floats = MemoryMarshal.Cast<byte, float>(payloads[p].AsSpan());
            for (var i = 0; i < floats.Length; i++)
            {
                floats[i] = (float)(random.NextDouble() * 2 - 1);
            }
        }
        return payloads;
    }

    /// <summary>A chunk as the store writer hands it over: sequence from 0, contiguous sample indices, per-channel min/max.</summary>
    public static StoredChunk Chunk(Guid measurementId, long sequence, int channels, int samples, byte[] payload, double sampleRate)
    {
        ArgumentNullException.ThrowIfNull(payload);
        var floats = MemoryMarshal.Cast<byte, float>(payload.AsSpan());
        var min = new float[channels];
        var max = new float[channels];
        for (var c = 0; c < channels; c++)
        {
            var values = floats.Slice(c * samples, samples);
            var lo = float.MaxValue;
            var hi = float.MinValue;
            foreach (var v in values)
            {
                lo = Math.Min(lo, v);
                hi = Math.Max(hi, v);
            }
            min[c] = lo;
            max[c] = hi;
        }
        var first = sequence * samples;
        return new StoredChunk
        {
            MeasurementId = measurementId,
            Sequence = sequence,
            FirstSampleIndex = first,
            T0Ns = 1_700_000_000_000_000_000 + (long)(first * 1e9 / sampleRate),
            SampleCount = samples,
            ChannelCount = channels,
            Payload = payload,
            Min = min,
            Max = max,
        };
    }
}
