using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.History;
using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Tests.Export;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.History;

/// <summary>
/// A stored measurement with a 2 s gap (the store is the seam: chunks as the store writer cuts them,
/// the chunk after the gap at its own time): history reads, the detail page's zoom and replay place
/// every sample at its stored time and draw the gap as a gap, on SQLite and PostgreSQL.
/// </summary>
public sealed class HistoryGapTests
{
    private const double Rate = 1000;
    private const int Samples = 2000;
    private const int GapAt = 1000;
    private const long StartNs = 1_700_000_000_000_000_000;
    private const long GapNs = 2_000_000_000;

    private static double SecondsOf(long i) => (SampleTime.OffsetNs(i, Rate) + (i >= GapAt ? GapNs : 0)) / 1e9;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task HistoryReadsPlaceEverySampleAtItsStoredTimeAndBreakTheLineAtTheGap(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var (me, id) = await StoreAsync(factory);
        var history = factory.Services.GetRequiredService<HistoryService>();

        var runs = await factory.Services.GetRequiredService<ISampleStore>().ReadRunsAsync(id, Rate, CancellationToken.None);
        var range = await history.ReadAsync(me, id, null, null, 10_000, CancellationToken.None);

        Assert.Equal([new SampleRun(0, StartNs, false), new SampleRun(GapAt, StartNs + GapNs + 1_000_000_000, true)], runs.Runs);
        Assert.NotNull(range?.Times);
        var channel = Assert.Single(range.Channels);
        Assert.Equal(Samples, channel.Indices.Count);
        var line = range.Times.Line(channel.Indices, channel.Values).ToList();
        Assert.Equal(Samples + 1, line.Count);
        var gap = Assert.Single(line, p => float.IsNaN(p.Value));
        Assert.Equal(GapAt, line.IndexOf(gap));
        Assert.InRange(gap.Seconds, SecondsOf(GapAt - 1), SecondsOf(GapAt));
        var points = line.Where(p => !float.IsNaN(p.Value)).ToList();
        for (var i = 0; i < Samples; i++)
        {
            Assert.Equal(SecondsOf(i), points[i].Seconds);
            Assert.Equal(i, points[i].Value);
        }
        Assert.Equal(3.0, points[GapAt].Seconds);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task ZoomingIntoARangeAfterTheGapReturnsTheSamplesStoredAtThoseTimes(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var (me, id) = await StoreAsync(factory);
        var history = factory.Services.GetRequiredService<HistoryService>();

        // 3.5 s – 3.6 s lies after the gap: samples 1500–1600 (index / rate would say 3500–3600, past the end).
        var after = await history.ReadAsync(me, id, 3.5, 3.6, 10_000, CancellationToken.None);
        // Inside the gap nothing was stored.
        var inside = await history.ReadAsync(me, id, 1.5, 2.5, 10_000, CancellationToken.None);
        // Across it: both sides, with the break.
        var across = await history.ReadAsync(me, id, 0.9, 3.1, 10_000, CancellationToken.None);

        Assert.NotNull(after);
        Assert.Equal(1500, after.FromIndex);
        Assert.Equal(1601, after.ToIndex);
        Assert.Equal(Enumerable.Range(1500, 101).Select(i => (float)i), Assert.Single(after.Channels).Values);
        Assert.Equal(3.5, after.Times!.SecondsOf(after.FromIndex));
        Assert.Equal(3.6, after.Times.SecondsOf(after.ToIndex - 1));
        Assert.NotNull(inside);
        Assert.Empty(inside.Channels);
        Assert.NotNull(across);
        Assert.Equal(900, across.FromIndex);
        Assert.Equal(1101, across.ToIndex);
        var channel = Assert.Single(across.Channels);
        Assert.Single(across.Times!.Line(channel.Indices, channel.Values), p => float.IsNaN(p.Value));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task ReplayPlaysEverySampleAtItsStoredTimeAndLeavesTheGapEmpty(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var (me, id) = await StoreAsync(factory);
        var time = new FakeTimeProvider();
        await using var playback = new TabPlayback(factory.Services.GetRequiredService<ISampleStore>(), factory.Services.GetRequiredService<MeasurementCatalog>(),
            new CurrentUser(null!), time, NullLogger<TabPlayback>.Instance);
        Assert.True(await playback.LoadReplayAsync(me, id, CancellationToken.None));
        Assert.Equal(4.0, playback.Source!.DurationSeconds!.Value, 9);

        playback.Play();
        time.Advance(TimeSpan.FromSeconds(2.5));
        // 10 000 columns over the 10 s window: one sample per column, so the frames hold the raw samples.
        var beforeGap = await playback.NextFrameAsync(10_000, CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(1));
        var afterGap = await playback.NextFrameAsync(10_000, CancellationToken.None);

        // By 2.5 s only the samples before the gap (up to 0.999 s) are due.
        Assert.NotNull(beforeGap);
        Assert.Equal(Enumerable.Range(0, GapAt).Select(i => SecondsOf(i)), beforeGap.X[0]);
        Assert.Equal(Enumerable.Range(0, GapAt).Select(i => (float)i), beforeGap.Y[0]);
        // By 3.5 s: a break, then samples 1000–1500 at 3.0–3.5 s.
        Assert.NotNull(afterGap);
        Assert.True(float.IsNaN(afterGap.Y[0][0]), "the frame after the gap starts with a break");
        Assert.Equal(Enumerable.Range(GapAt, 501).Select(i => SecondsOf(i)), afterGap.X[0].Skip(1));
        Assert.Equal(Enumerable.Range(GapAt, 501).Select(i => (float)i), afterGap.Y[0].Skip(1));
    }

    // 8 chunks of 250 samples, values = index; the chunk at GapAt starts 2 s later than its run predicts.
    private static async Task<(Requester Me, Guid Id)> StoreAsync(AppFactory factory)
    {
        var owner = await Users.CreateOperatorAsync(factory.Services);
        var id = Guid.CreateVersion7();
        var signal = new KnownSignal(id, 1, [.. Enumerable.Repeat(250, Samples / 250)], (_, i) => i, Rate);
        var chunks = signal.Chunks.Select(c => c with { T0Ns = StartNs + (long)Math.Round(SecondsOf(c.FirstSampleIndex) * 1e9) }).ToList();
        await ExportFixture.StoreAsync(factory.Services, id, owner, "gap", 1, Rate, chunks);
        return (new Requester(owner.Id, owner.Email!, IsAdmin: false), id);
    }
}
