using System.Diagnostics;
using System.Globalization;
using System.Net;
using MeasureApp.Tests.Infrastructure;
using Xunit.Abstractions;

namespace MeasureApp.Tests.Export;

/// <summary>
/// A 10 M-sample export in both formats while the server's live managed memory is measured (full
/// collections between reads): it must stay bounded and not grow with the amount sent. Runs alone so
/// no other test's allocations are counted. Speeds are printed, never asserted.
/// </summary>
[Collection(nameof(MeasureApp.Tests.Infrastructure.ProcessMemoryCollection))]
public sealed class ExportMemoryTests(ITestOutputHelper output) : IDisposable
{
    private const long Rows = 10_000_000;
    private const int ChunkRows = 100_000;
    private const double Rate = 100_000;
    private const long MaxLiveGrowth = 112L << 20;

    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);

    private static float Value(long i) => (i % 1000) * 0.5f;

    [Fact]
    public async Task ATenMillionSampleExportStreamsInBoundedMemoryInBothFormats()
    {
        var owner = await Users.CreateOperatorAsync(_factory.Services);
        var id = Guid.CreateVersion7();
        var chunks = Enumerable.Range(0, (int)(Rows / ChunkRows))
            .Select(s => ExportFixture.Chunk(id, s, (long)s * ChunkRows, ChunkRows, Rate, Value));
        await ExportFixture.StoreAsync(_factory.Services, id, owner, "big", 1, Rate, [.. chunks.Take(0)]);
        foreach (var batch in chunks.Chunk(10))
        {
            await ExportFixture.StoreAsync(_factory.Services, id, owner, "big", 1, Rate, batch, create: false);
        }
        using var client = await HttpLogin.LoggedInClientAsync(_factory, owner.Email!, Users.Password);

        var url = $"/api/measurements/{id}/export?";
        // A fifth of the data first: constant memory means the whole export needs no more than that.
        var csvFifth = await MeasureAsync(client, url + "format=csv&time=seconds&to=19.99999", sampleEvery: 8 << 20);
        var csv = await MeasureAsync(client, url + "format=csv&time=seconds", sampleEvery: 32 << 20);
        var parquetFifth = await MeasureAsync(client, url + "format=parquet&to=19.99999", sampleEvery: 2 << 20);
        var parquet = await MeasureAsync(client, url + "format=parquet", sampleEvery: 8 << 20);

        Assert.Equal(Rows + 1, csv.Lines);
        Assert.EndsWith(string.Create(CultureInfo.InvariantCulture, $"99.999990000,{Value(Rows - 1)}\n"), csv.Tail, StringComparison.Ordinal);
        Assert.EndsWith("PAR1", parquet.Tail, StringComparison.Ordinal);
        foreach (var (name, run, fifth) in new[] { ("CSV", csv, csvFifth), ("Parquet", parquet, parquetFifth) })
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name} (2 M rows): {fifth.Bytes / 1e6:F1} MB, live memory growth peak {fifth.PeakGrowth / 1e6:F1} MB over {fifth.Samples} samples"));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name}: {run.Bytes / 1e6:F1} MB in {run.Elapsed.TotalSeconds:F2} s = {Rows / run.Elapsed.TotalSeconds / 1e6:F1} M values/s; live memory growth peak {run.PeakGrowth / 1e6:F1} MB, first half {run.FirstHalfPeak / 1e6:F1} MB, second half {run.SecondHalfPeak / 1e6:F1} MB over {run.Samples} samples"));
            Assert.True(run.Samples >= 4, $"{name}: too few memory samples ({run.Samples}).");
            Assert.True(run.PeakGrowth < MaxLiveGrowth, $"{name}: live memory grew by {run.PeakGrowth} bytes while sending {run.Bytes}.");
            // Constant, not merely small: five times the data needs no more memory than a fifth of it.
            Assert.True(run.PeakGrowth < fifth.PeakGrowth + (24L << 20), $"{name}: 10 M rows held {run.PeakGrowth} bytes, 2 M rows {fifth.PeakGrowth}.");
        }
        // CSV holds one stored page and the pipe's window: a few MB against 177 MB sent.
        Assert.True(csv.PeakGrowth < csv.Bytes / 8, $"CSV: memory ({csv.PeakGrowth}) is not far below the export ({csv.Bytes}).");
        // Parquet must hold a whole row group (1M rows) per column before writing it, plus the writer's
        // encoding buffers: tens of MB whatever the size, below the 120 MB of raw values of this export.
        Assert.True(parquet.PeakGrowth < Rows * (sizeof(long) + sizeof(float)) * 3 / 4, $"Parquet: memory ({parquet.PeakGrowth}) is not below the raw data.");
    }

    private sealed record Run(long Bytes, long Lines, string Tail, TimeSpan Elapsed, long PeakGrowth, long FirstHalfPeak, long SecondHalfPeak, int Samples);

    private static async Task<Run> MeasureAsync(HttpClient client, string url, int sampleEvery)
    {
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        var watch = Stopwatch.StartNew();
        using var response = await client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[1 << 20];
        var tail = new byte[64];
        var tailLength = 0;
        long bytes = 0, lines = 0, nextSample = sampleEvery;
        var held = new List<long>();
        int read;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            bytes += read;
            lines += buffer.AsSpan(0, read).Count((byte)'\n');
            var keep = Math.Min(read, tail.Length);
            if (tailLength + keep > tail.Length)
            {
                var drop = tailLength + keep - tail.Length;
                tail.AsSpan(drop, tailLength - drop).CopyTo(tail);
                tailLength -= drop;
            }
            buffer.AsSpan(read - keep, keep).CopyTo(tail.AsSpan(tailLength));
            tailLength += keep;
            if (bytes >= nextSample)
            {
                held.Add(GC.GetTotalMemory(forceFullCollection: true));
                nextSample += sampleEvery;
            }
        }
        watch.Stop();
        // Growth is counted from the lower of the live memory before the request and after it ended: whatever
        // else the process held at the first reading (another test's host still shutting down) and let go
        // during the export is not the export's, and would otherwise read as negative growth.
        await body.DisposeAsync();
        response.Dispose();
        var floor = Math.Min(baseline, GC.GetTotalMemory(forceFullCollection: true));
        var growth = held.ConvertAll(m => m - floor);
        var half = growth.Count / 2;
        return new Run(bytes, lines, System.Text.Encoding.ASCII.GetString(tail, 0, tailLength), watch.Elapsed,
            growth.DefaultIfEmpty(0).Max(), growth.Take(half).DefaultIfEmpty(0).Max(), growth.Skip(half).DefaultIfEmpty(0).Max(), growth.Count);
    }

    public void Dispose() => _factory.Dispose();
}
