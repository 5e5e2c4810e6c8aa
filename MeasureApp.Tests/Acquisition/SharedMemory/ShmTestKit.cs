using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.SharedMemory;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MeasureApp.Tests.Acquisition.SharedMemory;

internal static class ShmTest
{
    /// <summary>Only guards against a hang; no assertion depends on how fast anything is.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);

    /// <summary>The test producers do not beat; the long default timeout keeps "stalled" out of tests not about it.</summary>
    public static DeviceOptions Device(string path, int heartbeatTimeoutMilliseconds = 600_000) =>
        new() { Id = "shm", Driver = SharedMemoryDriver.DriverKind, Path = path, HeartbeatTimeoutMilliseconds = heartbeatTimeoutMilliseconds };

    public static SharedMemoryDriver CreateDriver(DeviceOptions device, TimeProvider? time = null) =>
        new(time ?? TimeProvider.System, Options.Create(new AcquisitionOptions { Devices = [device], BlockMilliseconds = 5 }), NullLogger<SharedMemoryDriver>.Instance);

    public static MeasurementInfo Info(int channels, double rate, string owner = "user-1") => new()
    {
        Id = Guid.NewGuid(),
        OwnerId = owner,
        OwnerName = owner + "@example.com",
        Name = "shm test",
        DeviceId = "shm",
        Channels = [.. Enumerable.Range(0, channels).Select(i => new ChannelInfo($"ch{i + 1}", "V"))],
        SampleRate = rate,
        State = MeasurementState.Starting,
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    /// <summary>
    /// Waits for a condition outside any sink (e.g. a command in the producer's ring): checks it about
    /// every millisecond until it holds or the hang guard fails the test.
    /// </summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(HangGuard);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1));
        while (!condition())
        {
            try
            {
                await timer.WaitForNextTickAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"Timed out waiting for {what}.");
            }
        }
    }
}

/// <summary>A ring file under /dev/shm (tmpfs, like production) or the temp directory, deleted afterwards.</summary>
internal sealed class ShmFiles : IDisposable
{
    private readonly List<string> _paths = [];

    public string NewPath()
    {
        var dir = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        var path = Path.Combine(dir, $"measureapp-test-{Guid.NewGuid():N}");
        _paths.Add(path);
        return path;
    }

    public void Dispose()
    {
        foreach (var p in _paths)
        {
            File.Delete(p);
        }
    }
}

/// <summary>Keeps copies of delivered values and counts faults; every event wakes waiters.</summary>
internal sealed class ShmSink : IBlockSink
{
    private readonly Lock _gate = new();
    private readonly List<float>[] _channels = [.. Enumerable.Range(0, 8).Select(_ => new List<float>())];
    private readonly List<(long T0Ns, int Count, double Rate)> _blocks = [];
    private readonly Dictionary<string, int> _faults = new(StringComparer.Ordinal);
    private readonly List<string> _messages = [];
    private readonly SemaphoreSlim _changed = new(0);

    public string? Failure { get; private set; }

    public int Samples
    {
        get
        {
            lock (_gate)
            {
                return _channels[0].Count;
            }
        }
    }

    public List<(long T0Ns, int Count, double Rate)> Blocks
    {
        get
        {
            lock (_gate)
            {
                return [.. _blocks];
            }
        }
    }

    public float[] Channel(int c)
    {
        lock (_gate)
        {
            return [.. _channels[c]];
        }
    }

    public int Faults(string kind)
    {
        lock (_gate)
        {
            return _faults.GetValueOrDefault(kind);
        }
    }

    public int FaultTotal
    {
        get
        {
            lock (_gate)
            {
                return _faults.Values.Sum();
            }
        }
    }

    public string Describe()
    {
        lock (_gate)
        {
            return $"{_channels[0].Count} samples; faults: {string.Join(", ", _faults.Select(f => $"{f.Key}={f.Value}"))}; messages: {string.Join(" | ", _messages.Distinct())}";
        }
    }

    public bool Publish(SampleBlock block)
    {
        try
        {
            lock (_gate)
            {
                for (var c = 0; c < block.ChannelCount; c++)
                {
                    _channels[c].AddRange(block.Channel(c));
                }
                _blocks.Add((block.T0Ns, block.Count, block.SampleRate));
            }
            return true;
        }
        finally
        {
            block.Release();
            _changed.Release();
        }
    }

    public void Fault(string kind, string message)
    {
        lock (_gate)
        {
            _faults[kind] = _faults.GetValueOrDefault(kind) + 1;
            _messages.Add($"{kind}: {message}");
        }
        _changed.Release();
    }

    public void Fail(string message)
    {
        Failure = message;
        _changed.Release();
    }

    /// <summary>Waits until the condition holds; re-checked after every block or fault.</summary>
    public async Task WaitUntilAsync(Func<ShmSink, bool> condition, string what)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!condition(this))
        {
            var left = ShmTest.HangGuard - waited.Elapsed;
            if (left <= TimeSpan.Zero || !await _changed.WaitAsync(left))
            {
                throw new TimeoutException($"Timed out waiting for {what}. Sink: {Describe()}");
            }
        }
    }
}
