using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Scpi;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Acquisition.Scpi;

/// <summary>Shared setup of the Scpi driver tests: a driver on a fake clock, measurements, a recording sink.</summary>
internal static class ScpiTestKit
{
    /// <summary>Guards against hangs only; a passing test never waits this long.</summary>
    public static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    public static readonly DateTimeOffset Epoch = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    public static long EpochNs => (Epoch - DateTimeOffset.UnixEpoch).Ticks * 100;

    public static ScpiDriver Driver(TimeProvider time, int blockMilliseconds = 50) =>
        new(time, Options.Create(new AcquisitionOptions { Devices = [], BlockMilliseconds = blockMilliseconds }), NullLogger<ScpiDriver>.Instance);

    public static FakeTimeProvider Clock() => new(Epoch);

    public static MeasurementInfo Measurement(int channels, double rate) => new()
    {
        Id = Guid.CreateVersion7(),
        OwnerId = "alice-id",
        OwnerName = "alice@lab.test",
        Name = "bench",
        DeviceId = "dmm",
        Channels = [.. Enumerable.Range(0, channels).Select(i => new ChannelInfo($"ch{i + 1}", "V"))],
        SampleRate = rate,
        State = MeasurementState.Running,
        StartedAt = Epoch,
    };

    /// <summary>Waits until <paramref name="condition"/> holds (checked about every millisecond, hang-guarded).</summary>
    public static Task WaitUntilAsync(Func<bool> condition, string what) => SharedMemory.ShmTest.EventuallyAsync(condition, what);
}

/// <summary>A copy of one published block.</summary>
internal sealed record ReceivedBlock(long T0Ns, double SampleRate, int Count, float[][] Channels);

/// <summary>Records what a driver run delivers; tests await conditions on it.</summary>
internal sealed class RecordingSink : IBlockSink
{
    private readonly Lock _gate = new();
    private readonly List<ReceivedBlock> _blocks = [];
    private readonly List<(string Kind, string Message)> _faults = [];
    private readonly TaskCompletionSource<string> _failed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Accept { get; set; } = true;

    public List<ReceivedBlock> Blocks
    {
        get
        {
            lock (_gate)
            {
                return [.. _blocks];
            }
        }
    }

    public List<(string Kind, string Message)> Faults
    {
        get
        {
            lock (_gate)
            {
                return [.. _faults];
            }
        }
    }

    public long Samples => Blocks.Sum(b => (long)b.Count);

    public Task<string> Failed => _failed.Task;

    public bool Publish(SampleBlock block)
    {
        var copy = new ReceivedBlock(block.T0Ns, block.SampleRate, block.Count,
            [.. Enumerable.Range(0, block.ChannelCount).Select(c => block.Channel(c).ToArray())]);
        block.Release();
        lock (_gate)
        {
            _blocks.Add(copy);
        }
        return Accept;
    }

    public void Fault(string kind, string message)
    {
        lock (_gate)
        {
            _faults.Add((kind, message));
        }
    }

    public void Fail(string message) => _failed.TrySetResult(message);
}
