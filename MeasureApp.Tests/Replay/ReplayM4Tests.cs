using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.History;
using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Tests.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Replay;

/// <summary>
/// REPLAY decimates with the live path's M4 (first, min, max and last sample of every pixel column, at
/// their own stored times), so a recorded trace replays the way it was drawn live.
/// </summary>
public sealed class ReplayM4Tests
{
    private const int PixelWidth = 1000;

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.Postgres)]
    public async Task AReplayFrameHoldsTheFirstMinMaxAndLastSampleOfEveryPixelColumnAndTheSpikeExactly(DatabaseProvider provider)
    {
        using var factory = new AppFactory(provider);
        var owner = await Users.CreateOperatorAsync(factory.Services);
        var id = await SpikeMeasurement.CreateAsync(factory.Services, owner.Id);
        var store = factory.Services.GetRequiredService<ISampleStore>();
        var time = new FakeTimeProvider();
        await using var playback = new TabPlayback(store, factory.Services.GetRequiredService<MeasurementCatalog>(),
            new CurrentUser(null!), time, NullLogger<TabPlayback>.Instance);
        Assert.True(await playback.LoadReplayAsync(new Requester(owner.Id, owner.Email!, IsAdmin: false), id, CancellationToken.None));

        // 7 s at 1×: past the spike at 6.54321 s.
        playback.Play();
        time.Advance(TimeSpan.FromSeconds(7));
        var frame = await playback.NextFrameAsync(PixelWidth, CancellationToken.None);

        Assert.NotNull(frame);
        var times = playback.Source!.Times!;
        // 100 kHz over 1000 columns of the 10 s window: 1000 samples per column, 700 columns.
        var samples = await ReadAsync(store, id, 700_000);
        var expected = BruteForceM4(samples, samplesPerColumn: 1000);
        Assert.Equal(expected.Select(i => times.SecondsOf(i)), frame.X[0]);
        Assert.Equal(expected.Select(i => samples[i]), frame.Y[0]);
        // The one-sample spike is in the frame, at its own sample's time and value.
        var spike = frame.X[0].IndexOf(times.SecondsOf(SpikeMeasurement.SpikeIndex));
        Assert.True(spike >= 0, "the spike's sample is a point of the frame");
        Assert.Equal(SpikeMeasurement.SpikeValue, frame.Y[0][spike]);
    }

    // The M4 definition written out: per column the indices of first, min, max and last (first occurrence), once each, in order.
    private static List<long> BruteForceM4(float[] values, int samplesPerColumn)
    {
        var points = new List<long>();
        for (var start = 0; start < values.Length; start += samplesPerColumn)
        {
            var end = Math.Min(values.Length, start + samplesPerColumn);
            int min = start, max = start;
            for (var i = start; i < end; i++)
            {
                if (values[i] < values[min])
                {
                    min = i;
                }
                if (values[i] > values[max])
                {
                    max = i;
                }
            }
            points.AddRange(new long[] { start, min, max, end - 1 }.Distinct().Order());
        }
        return points;
    }

    private static async Task<float[]> ReadAsync(ISampleStore store, Guid id, int count)
    {
        var values = new float[count];
        await foreach (var segment in store.ReadRawAsync(id, 0, count, null, CancellationToken.None))
        {
            segment.Channel(0).CopyTo(values.AsSpan((int)segment.FirstIndex));
        }
        return values;
    }
}
