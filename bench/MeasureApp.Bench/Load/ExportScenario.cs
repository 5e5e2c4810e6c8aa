using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.Export;

namespace MeasureApp.Bench.Load;

/// <summary>Settings of <see cref="ExportScenario"/>.</summary>
public sealed record ExportSettings
{
    /// <summary>Rows (samples per channel) per export.</summary>
    public long Rows { get; init; } = 10_000_000;
    /// <summary>Channels exported.</summary>
    public int Channels { get; init; } = 1;
    /// <summary>Samples per stored chunk (one segment each, as the store streams them).</summary>
    public int ChunkSamples { get; init; } = 10_000;
    /// <summary>Timed passes of each writer; writers and baselines alternate.</summary>
    public int Rounds { get; init; } = 3;
    /// <summary>Sample rate, Hz.</summary>
    public double SampleRate { get; init; } = 100_000;
}

/// <summary>One writer (or baseline) over all its passes.</summary>
public sealed record ExportCase(string Name, long Values, long Bytes, TimeSpan Elapsed, TimeSpan Cpu, long AllocatedBytes, IReadOnlyList<double> PassRates)
{
    /// <summary>float32 values per CPU-second of the process: the figure least moved by other load on the machine.</summary>
    public double ValuesPerCpuSecond => Values / Cpu.TotalSeconds;

    /// <summary>float32 values (rows × channels) per second.</summary>
    public double ValuesPerSecond => Values / Elapsed.TotalSeconds;
}

/// <summary>
/// SPEC §9 export speed: <see cref="CsvExportWriter"/> and <see cref="ParquetExportWriter"/> writing an
/// export of pre-generated segments (the shape <c>DbSampleStore.ReadRawAsync</c> streams: one per chunk)
/// into a byte-counting sink, beside same-run baselines — CSV: the same floats formatted with
/// <c>float.TryFormat</c> into UTF-8 and written with <c>Stream.Write</c> (no time column); Parquet: the
/// same number of bytes as the raw columns (int64 time + float32 per channel) copied into a buffer and
/// written with <c>Stream.Write</c>. The database read is not part of it (see the storage benchmarks).
/// </summary>
public sealed class ExportScenario : ILoadScenario
{
    /// <inheritdoc />
    public string Name => "export";

    /// <inheritdoc />
    public string Description => "CSV and Parquet export writers vs same-run baselines (SPEC §9: Parquet ≥ 50 M, CSV ≥ 10 M values/s)";

    /// <inheritdoc />
    public string Usage => """
        --rows N       rows (samples per channel) per export (default 10M)
        --channels N   exported channels (default 1)
        --chunk N      samples per segment/chunk (default 10000)
        --rounds N     timed passes per writer, alternating with the baselines (default 3)
        --write        update this run's section in docs/benchmarks.md   --doc PATH
        """;

    private const double ParquetGoal = 50e6;
    private const double CsvGoal = 10e6;

    /// <inheritdoc />
    public async Task<LoadReport> RunAsync(LoadOptions options, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        var settings = new ExportSettings
        {
            Rows = (long)options.GetDouble("rows", 10_000_000),
            Channels = options.GetInt("channels", 1),
            ChunkSamples = options.GetInt("chunk", 10_000),
            Rounds = options.GetInt("rounds", 3),
        };
        var cases = await RunAsync(settings, progress, cancellationToken);
        var report = new LoadReport(Name, "export", "Export writers (CSV, Parquet)");
        ExportCase Get(string name) => cases.Single(c => c.Name == name);
        foreach (var (writer, baseline, goal) in new[]
        {
            ("CSV iso", "CSV baseline: float.TryFormat + Stream.Write", CsvGoal),
            ("CSV seconds", "CSV baseline: float.TryFormat + Stream.Write", CsvGoal),
            ("Parquet", "Parquet baseline: raw column bytes, Stream.Write", ParquetGoal),
        })
        {
            var w = Get(writer);
            var b = Get(baseline);
            var rates = string.Join(", ", w.PassRates.Select(r => (r / 1e6).ToString("F1", CultureInfo.InvariantCulture)));
            report.Add($"{writer} writer", w.ValuesPerSecond, "values/s", $"goal ≥ {goal / 1e6:F0} M; passes {rates} M",
                w.ValuesPerSecond >= goal ? $"met ({w.ValuesPerSecond / goal:F2}× goal)" : $"MISSED ({w.ValuesPerSecond / goal:F2}× goal)");
            report.Add($"{writer} writer per CPU-second", w.ValuesPerCpuSecond, "values/CPU-s", $"baseline {b.ValuesPerCpuSecond / 1e6:F1} M values/CPU-s");
            report.Add($"{writer} / baseline time", w.Elapsed.TotalSeconds / b.Elapsed.TotalSeconds, "×",
                $"CPU time ratio {w.Cpu.TotalSeconds / b.Cpu.TotalSeconds:F2}; baseline {b.ValuesPerSecond / 1e6:F1} M values/s, {b.Bytes / (double)b.Values:F1} B/value");
            report.Add($"{writer} output", w.Bytes / (double)w.Values, "B/value", $"allocated {w.AllocatedBytes / (double)w.PassRates.Count / 1e6:F1} MB per export");
        }
        report.Notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"{settings.Rows / 1e6:F1} M rows × {settings.Channels} channel(s) per export in {settings.ChunkSamples}-sample segments at {settings.SampleRate / 1e3:F0} kHz; values = rows × channels (the time column is not counted); {settings.Rounds} passes per writer, alternating with the baselines; a value is the total over the passes."));
        report.Notes.Add("Input: pre-generated segments (sine + noise, full-precision floats), as DbSampleStore.ReadRawAsync yields them; output: a byte-counting null stream (CSV through PipeWriter.Create). The database read is not included.");
        report.Notes.Add("Baselines: CSV = the same values formatted with float.TryFormat into UTF-8 (',' / newline separated, no time column) and written with Stream.Write in 64 KB blocks; Parquet = as many bytes as the raw columns (int64 + float32 per channel per row) copied from the segments and written with Stream.Write.");
        report.Notes.Add($"Load average at the end (1/5/15 min): {StoreScenario.LoadAverage()}.");
        return report;
    }

    /// <summary>Runs every writer and baseline; public for the smoke test.</summary>
    public static async Task<IReadOnlyList<ExportCase>> RunAsync(ExportSettings settings, TextWriter progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(progress);
        var input = new ExportInput(settings);
        var runners = new (string Name, Func<CountingStream, Task> Run)[]
        {
            ("CSV baseline: float.TryFormat + Stream.Write", sink => CsvBaselineAsync(sink, input, cancellationToken)),
            ("CSV iso", sink => CsvExportWriter.WriteAsync(PipeWriter.Create(sink), input.Plan(ExportFormat.Csv, ExportTimeStyle.Iso), input.Segments(cancellationToken), cancellationToken)),
            ("CSV seconds", sink => CsvExportWriter.WriteAsync(PipeWriter.Create(sink), input.Plan(ExportFormat.Csv, ExportTimeStyle.Seconds), input.Segments(cancellationToken), cancellationToken)),
            ("Parquet baseline: raw column bytes, Stream.Write", sink => RawBaselineAsync(sink, input, cancellationToken)),
            ("Parquet", sink => ParquetExportWriter.WriteAsync(sink, input.Plan(ExportFormat.Parquet, ExportTimeStyle.Iso), input.Segments(cancellationToken), cancellationToken)),
        };
        var totals = runners.ToDictionary(r => r.Name, _ => (Bytes: 0L, Elapsed: TimeSpan.Zero, Cpu: TimeSpan.Zero, Allocated: 0L, Rates: new List<double>()));
        using var process = Process.GetCurrentProcess();
        // One untimed warm-up pass of everything on a tenth of the rows: JIT, pools.
        var warm = new ExportInput(settings with { Rows = Math.Max(1, settings.Rows / 10) });
        await CsvExportWriter.WriteAsync(PipeWriter.Create(new CountingStream()), warm.Plan(ExportFormat.Csv, ExportTimeStyle.Iso), warm.Segments(cancellationToken), cancellationToken);
        await ParquetExportWriter.WriteAsync(new CountingStream(), warm.Plan(ExportFormat.Parquet, ExportTimeStyle.Iso), warm.Segments(cancellationToken), cancellationToken);
        for (var round = 0; round < settings.Rounds; round++)
        {
            var order = round % 2 == 0 ? runners : [.. runners.Reverse()];
            foreach (var (name, run) in order)
            {
                var sink = new CountingStream();
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                process.Refresh();
                var cpu = process.TotalProcessorTime;
                var watch = Stopwatch.StartNew();
                await run(sink);
                watch.Stop();
                process.Refresh();
                cpu = process.TotalProcessorTime - cpu;
                allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
                var t = totals[name];
                t.Rates.Add(input.Values / watch.Elapsed.TotalSeconds);
                totals[name] = (t.Bytes + sink.Length, t.Elapsed + watch.Elapsed, t.Cpu + cpu, t.Allocated + allocated, t.Rates);
                await progress.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                    $"round {round + 1}: {name,-50} {input.Values / watch.Elapsed.TotalSeconds / 1e6,8:F1} M values/s  {sink.Length / 1e6,8:F1} MB  {allocated / 1e6,7:F1} MB allocated"));
            }
        }
        return [.. runners.Select(r => totals[r.Name]).Zip(runners, (t, r) =>
            new ExportCase(r.Name, input.Values * settings.Rounds, t.Bytes, t.Elapsed, t.Cpu, t.Allocated, t.Rates))];
    }

    private static async Task CsvBaselineAsync(Stream sink, ExportInput input, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(80 * 1024);
        try
        {
            var n = 0;
            await foreach (var segment in input.Segments(cancellationToken))
            {
                var channels = segment.Channels.Count;
                for (var row = 0; row < segment.Count; row++)
                {
                    if (n > 64 * 1024)
                    {
                        await sink.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
                        n = 0;
                    }
                    n += FormatRow(buffer.AsSpan(n), segment.Values, segment.Count, channels, row);
                }
            }
            await sink.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int FormatRow(Span<byte> span, float[] values, int count, int channels, int row)
    {
        var n = 0;
        for (var k = 0; k < channels; k++)
        {
            values[(k * count) + row].TryFormat(span[n..], out var w, default, CultureInfo.InvariantCulture);
            n += w;
            span[n++] = (byte)(k == channels - 1 ? '\n' : ',');
        }
        return n;
    }

    private static async Task RawBaselineAsync(Stream sink, ExportInput input, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            await foreach (var segment in input.Segments(cancellationToken))
            {
                // A time column (8 bytes per row) and the channel columns, as Parquet's PLAIN encoding would lay them out.
                var times = buffer.AsSpan(0, segment.Count * sizeof(long));
                var t0 = segment.TimeOfSampleNs(0, input.Settings.SampleRate);
                MemoryMarshal.Cast<byte, long>(times).Fill(t0);
                var floats = MemoryMarshal.AsBytes(segment.Values.AsSpan());
                floats.CopyTo(buffer.AsSpan(times.Length));
                await sink.WriteAsync(buffer.AsMemory(0, times.Length + floats.Length), cancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The export's input: a few distinct value blocks reused for every chunk of the range.</summary>
    private sealed class ExportInput
    {
        private const int DistinctBlocks = 16;
        private readonly float[][] _blocks;
        private readonly int[] _channels;
        private readonly MeasurementRecord _measurement;
        private readonly long _t0Ns = new DateTimeOffset(2026, 11, 24, 1, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;

        public ExportInput(ExportSettings settings)
        {
            Settings = settings;
            _channels = [.. Enumerable.Range(0, settings.Channels)];
            var random = new Random(42);
            _blocks = [.. Enumerable.Range(0, DistinctBlocks).Select(b =>
            {
                var values = new float[settings.ChunkSamples * settings.Channels];
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = (float)((2.5 * Math.Sin((b * settings.ChunkSamples + i) * 0.002)) + (0.01 * random.NextDouble()));
                }
                return values;
            })];
            _measurement = new MeasurementRecord
            {
                Id = Guid.CreateVersion7(),
                OwnerId = "bench",
                OwnerName = "bench",
                Name = "export bench",
                DeviceId = "sim",
                ChannelsJson = "[]",
                ChannelCount = settings.Channels,
                SampleRate = settings.SampleRate,
                State = MeasurementState.Stopped,
                StartedAt = DateTimeOffset.FromUnixTimeMilliseconds(_t0Ns / 1_000_000),
            };
        }

        public ExportSettings Settings { get; }

        public long Values => Settings.Rows * Settings.Channels;

        public ExportPlan Plan(ExportFormat format, ExportTimeStyle time) => new()
        {
            Measurement = _measurement,
            AllChannels = ExportPlan.ParseChannels(_measurement),
            Channels = _channels,
            FromIndex = 0,
            ToIndex = Settings.Rows,
            StartNs = _t0Ns,
            Format = format,
            Time = time,
        };

        public async IAsyncEnumerable<SampleSegment> Segments([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            var chunk = Settings.ChunkSamples;
            for (long first = 0, seq = 0; first < Settings.Rows; first += chunk, seq++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var count = (int)Math.Min(chunk, Settings.Rows - first);
                var block = _blocks[seq % DistinctBlocks];
                var values = count == chunk ? block : Trim(block, chunk, count);
                yield return new SampleSegment
                {
                    MeasurementId = _measurement.Id,
                    FirstIndex = first,
                    Count = count,
                    ChunkFirstIndex = first,
                    ChunkT0Ns = _t0Ns + (long)(first * 1e9 / Settings.SampleRate),
                    Channels = _channels,
                    Values = values,
                };
            }
            await Task.CompletedTask;
        }

        private float[] Trim(float[] block, int chunk, int count)
        {
            var values = new float[count * _channels.Length];
            for (var k = 0; k < _channels.Length; k++)
            {
                block.AsSpan(k * chunk, count).CopyTo(values.AsSpan(k * count));
            }
            return values;
        }
    }

    /// <summary>Write-only stream that counts and drops what it is given.</summary>
    private sealed class CountingStream : Stream
    {
        private long _length;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position
        {
            get => _length;
            set => throw new NotSupportedException();
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => _length += count;
        public override void Write(ReadOnlySpan<byte> buffer) => _length += buffer.Length;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _length += buffer.Length;
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            _length += count;
            return Task.CompletedTask;
        }
    }
}
