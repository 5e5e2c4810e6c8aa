using System.Globalization;
using System.Net;
using System.Text.Json;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Analysis;
using MeasureApp.Tests.Export;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Analysis;

/// <summary>
/// Statistics, spectrum, edges and cursor values on the stored time line of a measurement with a gap
/// (2.0003 s: the samples after it lie 0.3 of a period off the index / rate grid), on SQLite and PostgreSQL.
/// A from/to means the samples the export of the same from/to writes; an FFT never joins samples across the
/// gap; no edge or period is timed across it.
/// </summary>
public sealed class AnalysisGapTests
{
    private const double Rate = 1000;
    private const int Samples = 8000;
    internal const int GapAt = 3000;
    private const long GapNs = 2_000_300_000;
    private const long StartNs = 1_700_000_000_000_000_000;

    // Before the gap 50 Hz, after it 125 Hz with an offset; channel 1 a deterministic scramble.
    private static float Value(int channel, long i) => channel == 0
        ? (float)(i < GapAt ? 2 * Math.Sin(2 * Math.PI * 50 * i / Rate) : 0.5 + Math.Sin(2 * Math.PI * 125 * i / Rate))
        : ((i * 7919) % 1009 / 100f) - 5;

    internal static double SecondsOf(long i) => (SampleTime.OffsetNs(i, Rate) + (i >= GapAt ? GapNs : 0)) / 1e9;

    private static string Text(double seconds) => seconds.ToString("0.#########", CultureInfo.InvariantCulture);

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task StatisticsOfRangesAroundAGapEqualABruteForcePassOverTheSamplesTheExportReturns(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var (client, _, id) = await StoreAsync(factory);

        // After the gap (index / rate would put 6.2 s at sample 6200, the export has sample 4199 there), across
        // it, starting and ending inside it, between sample times, inside one chunk, the whole measurement.
        (string? From, string? To)[] ranges =
        [
            ("6.2", "8.5"), ("2.5", "6.0"), ("1.5", "4.0"), ("5.0001", "5.2"), ("0.4", "4.5"), ("5.50035", "5.50235"),
            ("5.0003", "5.0003"), ("9.9", null), (null, "2.0"), (Text(SecondsOf(GapAt - 1)), Text(SecondsOf(GapAt))), (null, null),
        ];
        foreach (var (from, to) in ranges)
        {
            var query = (from is null ? "" : $"&from={from}") + (to is null ? "" : $"&to={to}");
            var rows = await ExportAsync(client, id, query);
            var stats = await ApiJson.GetAsync(client, $"/api/measurements/{id}/stats?channels=0,1{query}");

            Assert.True(rows.Count > 0, query);
            Assert.Equal(rows[0].Seconds, stats.GetProperty("fromSeconds").GetDouble(), 9);
            Assert.Equal(rows[^1].Seconds, stats.GetProperty("toSeconds").GetDouble(), 9);
            for (var c = 0; c < 2; c++)
            {
                var values = rows.Select(r => (double)r.Values[c]).ToArray();
                var s = stats.GetProperty("channels")[c];
                Assert.Equal(values.Length, s.GetProperty("count").GetInt64());
                Assert.Equal(values.Min(), s.GetProperty("min").GetDouble());
                Assert.Equal(values.Max(), s.GetProperty("max").GetDouble());
                var mean = values.Average();
                var rms = Math.Sqrt(values.Sum(v => v * v) / values.Length);
                AssertClose(mean, s.GetProperty("mean").GetDouble(), $"{query} ch{c} mean");
                AssertClose(rms, s.GetProperty("rms").GetDouble(), $"{query} ch{c} rms");
            }
        }

        // Inside the gap nothing was stored: a clear 400, as for any range without samples.
        var inside = await client.GetAsync($"/api/measurements/{id}/stats?from=3.5&to=4.5");
        Assert.Equal(HttpStatusCode.BadRequest, inside.StatusCode);
        Assert.Contains("no sample", await inside.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task ASpectrumOverASpanWithAGapIsOfItsLongestGapFreeRunAndSaysSo(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var (client, me, id) = await StoreAsync(factory);
        var analysis = factory.Services.GetRequiredService<AnalysisService>();

        var whole = await ApiJson.GetAsync(client, $"/api/measurements/{id}/spectrum?channel=0&window=flat-top&scale=linear");
        // Only the run after the gap (5,000 samples of 125 Hz), not 3,000 samples of 50 Hz joined to it.
        Assert.Equal(1, whole.GetProperty("gaps").GetInt32());
        Assert.Equal(Samples - GapAt, whole.GetProperty("samples").GetInt32());
        Assert.Equal(SecondsOf(GapAt), whole.GetProperty("fromSeconds").GetDouble(), 9);
        Assert.Equal(SecondsOf(Samples - 1), whole.GetProperty("toSeconds").GetDouble(), 9);
        var note = whole.GetProperty("note").GetString()!;
        Assert.Contains("1 gap", note, StringComparison.Ordinal);
        Assert.Contains($"{Text(SecondsOf(GapAt - 1))}–{Text(SecondsOf(GapAt))} s", note, StringComparison.Ordinal);
        var peak = whole.GetProperty("peaks")[0];
        Assert.True(Math.Abs(peak.GetProperty("frequencyHz").GetDouble() - 125) <= whole.GetProperty("resolutionHz").GetDouble(), $"peak at {peak}");
        Assert.Equal(1, peak.GetProperty("magnitude").GetDouble(), 2);
        Assert.DoesNotContain(whole.GetProperty("peaks").EnumerateArray(), p => Math.Abs(p.GetProperty("frequencyHz").GetDouble() - 50) < 2);

        // A span inside the run after the gap: the samples the export has there (index / rate would read 6.0–7.0 s
        // as samples 6000–7000), no gap, no note.
        var rows = await ExportAsync(client, id, "&from=6.0&to=7.0");
        var after = await analysis.SpectrumAsync(me, id, "6.0", "7.0", "0", "hann", "linear", 4096, CancellationToken.None);
        Assert.NotNull(after);
        Assert.Equal(rows.Count, after.Samples);
        Assert.Equal(0, after.Gaps);
        Assert.Null(after.Note);
        Assert.Equal(rows[0].Seconds, after.FromSeconds!.Value, 9);
        var expected = SpectrumAnalyzer.Compute([.. rows.Select(r => r.Values[0])], Rate, SpectrumWindow.Hann, SpectrumScale.Linear, 4096);
        Assert.Equal(expected.Magnitude, after.Magnitude);

        // A spectrogram's frames after the gap sit at their stored times.
        var spectrogram = await analysis.SpectrogramAsync(me, id, null, null, "0", null, null, "256", null, null, CancellationToken.None);
        Assert.NotNull(spectrogram);
        Assert.All(spectrogram.TimeSeconds, t => Assert.True(t < SecondsOf(GapAt - 1) || t > SecondsOf(GapAt), $"frame at {t} s lies in the gap"));
        Assert.Equal(SecondsOf(GapAt) + (128 / Rate), spectrogram.TimeSeconds.First(t => t > SecondsOf(GapAt)), 9);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task EdgesOverASpanWithAGapAreThoseOfTheExportedSamplesWithNothingTimedAcrossTheGap(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var (client, me, id) = await StoreAsync(factory);
        var analysis = factory.Services.GetRequiredService<AnalysisService>();

        foreach (var (from, to) in new[] { ("6.0", "8.0"), ("2.0", "6.0"), ("0", "10") })
        {
            var rows = await ExportAsync(client, id, $"&from={from}&to={to}");
            var gapRow = rows.FindIndex(r => r.Seconds >= SecondsOf(GapAt));
            int[] runStarts = gapRow > 0 ? [gapRow] : [];
            var expected = EdgeAnalyzer.Analyze(0, [.. rows.Select(r => r.Values[0])], Rate, runStarts);

            var edges = await analysis.EdgesAsync(me, id, from, to, "0", CancellationToken.None);

            Assert.Equal(expected, edges);
        }
        var across = await analysis.EdgesAsync(me, id, "2.0", "6.0", "0", CancellationToken.None);
        Assert.Equal(1, across!.Gaps);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task ACursorAfterTheGapReadsTheSampleStoredAtThatTime(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var (_, me, id) = await StoreAsync(factory);
        var analysis = factory.Services.GetRequiredService<AnalysisService>();

        var at = await analysis.ValuesAtAsync(me, id, SecondsOf(4500), CancellationToken.None);
        var near = await analysis.ValuesAtAsync(me, id, SecondsOf(4500) + (0.4 / Rate), CancellationToken.None);
        var inGap = await analysis.ValuesAtAsync(me, id, 4.0, CancellationToken.None);
        var times = await analysis.TimeLineAsync(me, id, CancellationToken.None);

        Assert.Equal(4500, at!.Value.Index);
        Assert.Equal([Value(0, 4500), Value(1, 4500)], at.Value.Values);
        Assert.Equal(4500, near!.Value.Index);
        Assert.Empty(inGap!.Value.Values);
        Assert.NotNull(times);
        // What the cursors snap to: the nearest stored sample; in the gap the nearer side.
        Assert.Equal((4500L, SecondsOf(4500)), AnalysisRange.Nearest(times, 6.5004));
        Assert.Equal((GapAt - 1L, SecondsOf(GapAt - 1)), AnalysisRange.Nearest(times, 3.5));
        Assert.Equal(((long)GapAt, SecondsOf(GapAt)), AnalysisRange.Nearest(times, 4.6));
        Assert.Equal((Samples - 1L, SecondsOf(Samples - 1)), AnalysisRange.Nearest(times, 50));
    }

    private static void AssertClose(double expected, double actual, string what) =>
        Assert.True(Math.Abs(actual - expected) <= 1e-9 * Math.Max(1, Math.Abs(expected)), $"{what}: {actual} vs brute force {expected}");

    private static async Task<(HttpClient Client, Requester Me, Guid Id)> StoreAsync(AppFactory factory)
    {
        var owner = await Users.CreateOperatorAsync(factory.Services);
        var client = await HttpLogin.LoggedInClientAsync(factory, owner.Email!, Users.Password);
        var id = await StoreGapMeasurementAsync(factory.Services, owner);
        return (client, new Requester(owner.Id, owner.Email!, IsAdmin: false), id);
    }

    /// <summary>
    /// Stores the measurement of these tests for <paramref name="owner"/>: 8,000 samples × 2 channels at 1 kHz in
    /// chunks of uneven sizes (range ends fall inside chunks), the chunk at sample 3,000 stamped 2.0003 s late.
    /// </summary>
    internal static async Task<Guid> StoreGapMeasurementAsync(IServiceProvider services, MeasureApp.Data.AppUser owner)
    {
        var id = Guid.CreateVersion7();
        var random = new Random(15);
        var sizes = new List<int>();
        foreach (var length in new[] { GapAt, Samples - GapAt })
        {
            for (var left = length; left > 0;)
            {
                var n = Math.Min(left, random.Next(40, 400));
                sizes.Add(n);
                left -= n;
            }
        }
        var signal = new KnownSignal(id, 2, sizes, Value, Rate);
        var chunks = signal.Chunks.Select(c => c with { T0Ns = StartNs + SampleTime.OffsetNs(c.FirstSampleIndex, Rate) + (c.FirstSampleIndex >= GapAt ? GapNs : 0) }).ToList();
        Assert.Contains(chunks, c => c.FirstSampleIndex == GapAt);
        await ExportFixture.StoreAsync(services, id, owner, "Run with a gap", 2, Rate, chunks);
        return id;
    }

    private static async Task<List<(double Seconds, float[] Values)>> ExportAsync(HttpClient client, Guid id, string range)
    {
        var response = await client.GetAsync($"/api/measurements/{id}/export?format=csv&time=seconds{range}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"export{range}: {body}");
        return [.. body.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(line =>
        {
            var parts = line.Split(',');
            return (double.Parse(parts[0], CultureInfo.InvariantCulture), parts.Skip(1).Select(p => float.Parse(p, CultureInfo.InvariantCulture)).ToArray());
        })];
    }
}
