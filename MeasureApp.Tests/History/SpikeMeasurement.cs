using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.History;

/// <summary>
/// A stopped 10 s, 100 kHz, one-channel measurement written through the app's own store: a ±1 V
/// 50 Hz sine with ONE sample replaced by a spike, the sample every zoom level must keep.
/// </summary>
internal static class SpikeMeasurement
{
    public const double SampleRate = 100_000;
    public const int Samples = 1_000_000;
    public const long SpikeIndex = 654_321;
    public const float SpikeValue = 7.5f;

    public static async Task<Guid> CreateAsync(IServiceProvider services, string ownerId, string name = "Spike run", string? ownerName = null)
    {
        var store = services.GetRequiredService<ISampleStore>();
        var id = Guid.CreateVersion7();
        var signal = new KnownSignal(id, 1, [.. Enumerable.Repeat(10_000, Samples / 10_000)],
            (_, i) => i == SpikeIndex ? SpikeValue : MathF.Sin(2 * MathF.PI * 50 * i / (float)SampleRate), SampleRate);
        var started = DateTimeOffset.UtcNow.AddSeconds(-20);
        var info = KnownSignal.Info(id, 1, ownerId) with { Name = name, SampleRate = SampleRate, StartedAt = started, OwnerName = ownerName ?? ownerId };
        await store.CreateMeasurementAsync(info, CancellationToken.None);
        await store.WriteChunksAsync(signal.Chunks, CancellationToken.None);
        await store.UpdateMeasurementAsync(info with
        {
            State = MeasurementState.Stopped,
            StopReason = StopReason.User,
            StoppedAt = started.AddSeconds(10),
            SampleCount = Samples,
        }, CancellationToken.None);
        return id;
    }
}
