using System.Collections.Concurrent;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Acquisition;

/// <summary>Only guards against a hang; no test relies on it to pass.</summary>
internal static class TestTimeouts
{
    public static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The acquisition engine as the host wires it, with fake time, an in-memory store and the real
/// simulated device (observed, so a test can wait for samples instead of sleeping).
/// </summary>
internal sealed class EngineHarness : IAsyncDisposable
{
    public const string DeviceId = "sim1";

    public static readonly Requester Alice = new("alice-id", "alice@example.com", IsAdmin: false);
    public static readonly Requester Bob = new("bob-id", "bob@example.com", IsAdmin: false);
    public static readonly Requester AnAdmin = new("admin-id", "admin@example.com", IsAdmin: true);

    /// <summary>A harness whose hosted services are not started yet (see <see cref="StartNewAsync"/>).</summary>
    public EngineHarness(IEnumerable<DeviceOptions>? extraDevices = null, IEnumerable<IDeviceDriver>? extraDrivers = null, long storeQueueBytes = 512L * 1024 * 1024,
        DeviceFaults? deviceFaults = null, FakeTimeProvider? time = null, Microsoft.Extensions.Logging.ILoggerFactory? loggers = null, TimeProvider? writerTime = null)
    {
        Time = time ?? new FakeTimeProvider();
        var options = Options.Create(new AcquisitionOptions
        {
            Devices = [new DeviceOptions { Id = DeviceId, Seed = 5, SpikeProbability = 0 }, .. extraDevices ?? []],
            BlockMilliseconds = 5,
            StoreQueueBytes = storeQueueBytes,
        });
        Driver = new ObservedDriver(new SimulatedDriver(Time, options, NullLogger<SimulatedDriver>.Instance));
        Writer = new StoreWriter(Store, options, writerTime ?? Time, NullLogger<StoreWriter>.Instance);
        Engine = new MeasurementEngine(options, [Driver, .. extraDrivers ?? []], Hub, Writer, Store, Limits, Time,
            loggers is null ? NullLogger<MeasurementEngine>.Instance : Microsoft.Extensions.Logging.LoggerFactoryExtensions.CreateLogger<MeasurementEngine>(loggers), deviceFaults: deviceFaults);
    }

    public FakeTimeProvider Time { get; }
    public InMemorySampleStore Store { get; } = new();
    public InProcessLimitCoordinator Limits { get; } = new();
    public LiveHub Hub { get; } = new();
    public StoreWriter Writer { get; }
    public ObservedDriver Driver { get; }
    public MeasurementEngine Engine { get; }

    public static StartRequest Request(string name = "run", int channels = 1, double rate = 1000, TimeSpan? duration = null) =>
        new() { DeviceId = DeviceId, Name = name, Channels = channels, SampleRate = rate, Duration = duration };

    /// <summary>A harness whose hosted services run (store writer first, as the host starts them).</summary>
    public static async Task<EngineHarness> StartNewAsync(IEnumerable<DeviceOptions>? extraDevices = null, IEnumerable<IDeviceDriver>? extraDrivers = null,
        DeviceFaults? deviceFaults = null, FakeTimeProvider? time = null, Microsoft.Extensions.Logging.ILoggerFactory? loggers = null, TimeProvider? writerTime = null)
    {
        var h = new EngineHarness(extraDevices, extraDrivers, deviceFaults: deviceFaults, time: time, loggers: loggers, writerTime: writerTime);
        await h.Writer.StartAsync(CancellationToken.None);
        await h.Engine.StartAsync(CancellationToken.None);
        return h;
    }

    public async Task<MeasurementInfo> StartMeasurementAsync(Requester requester, StartRequest request, UserLimits? limits = null)
    {
        var result = await Engine.StartAsync(requester, limits ?? new UserLimits(), request, CancellationToken.None);
        Assert.True(result.Succeeded, result.Error);
        return result.Measurement!;
    }

    /// <summary>Completes with the measurement's snapshot once the engine reports it stopped.</summary>
    public Task<MeasurementInfo> WhenStopped(string ownerId, Guid measurementId)
    {
        var stopped = new TaskCompletionSource<MeasurementInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        var watch = Engine.Watch(ownerId, info =>
        {
            if (info.Id == measurementId && info.State == MeasurementState.Stopped)
            {
                stopped.TrySetResult(info);
            }
        });
        return Finish();

        async Task<MeasurementInfo> Finish()
        {
            try
            {
                return await stopped.Task.WaitAsync(TestTimeouts.HangGuard);
            }
            finally
            {
                watch.Dispose();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        // The host stops in reverse order: the engine (stopping and flushing measurements), then the writer.
        await Engine.StopAsync(CancellationToken.None);
        await Writer.StopAsync(CancellationToken.None);
        Engine.Dispose();
        Writer.Dispose();
    }
}

/// <summary>
/// Wraps a driver and counts the samples the engine accepted per measurement, so a test can await
/// "n samples acquired" instead of sleeping.
/// </summary>
internal sealed class ObservedDriver(IDeviceDriver inner) : IDeviceDriver
{
    private readonly ConcurrentDictionary<Guid, Counter> _counters = new();

    public string Kind => inner.Kind;

    public IAsyncDisposable Start(DeviceOptions device, MeasurementInfo measurement, IBlockSink sink) =>
        inner.Start(device, measurement, new CountingSink(sink, CounterOf(measurement.Id)));

    /// <summary>Completes when the engine refused a block of the measurement.</summary>
    public Task WaitForRefusalAsync(Guid measurementId) => CounterOf(measurementId).Refused.WaitAsync(TestTimeouts.HangGuard);

    /// <summary>Completes when at least <paramref name="samples"/> samples of the measurement were accepted.</summary>
    public Task WaitForSamplesAsync(Guid measurementId, long samples) =>
        CounterOf(measurementId).WaitFor(samples).WaitAsync(TestTimeouts.HangGuard);

    private Counter CounterOf(Guid id) => _counters.GetOrAdd(id, _ => new Counter());

    private sealed class Counter
    {
        private readonly Lock _gate = new();
        private readonly List<(long Target, TaskCompletionSource Done)> _waiters = [];
        private readonly TaskCompletionSource _refused = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _samples;

        public Task Refused => _refused.Task;

        public void Refuse() => _refused.TrySetResult();

        public void Add(long samples)
        {
            lock (_gate)
            {
                _samples += samples;
                foreach (var w in _waiters.Where(w => _samples >= w.Target))
                {
                    w.Done.TrySetResult();
                }
                _waiters.RemoveAll(w => w.Done.Task.IsCompleted);
            }
        }

        public Task WaitFor(long target)
        {
            lock (_gate)
            {
                if (_samples >= target)
                {
                    return Task.CompletedTask;
                }
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((target, done));
                return done.Task;
            }
        }
    }

    private sealed class CountingSink(IBlockSink inner, Counter counter) : IBlockSink
    {
        public bool Publish(SampleBlock block)
        {
            // Count before handing over: the sink owns (and may release) the block afterwards.
            var count = block.Count;
            var accepted = inner.Publish(block);
            if (accepted)
            {
                counter.Add(count);
            }
            else
            {
                counter.Refuse();
            }
            return accepted;
        }

        public void Fault(string kind, string message) => inner.Fault(kind, message);

        public void Fault(string kind, string message, long count) => inner.Fault(kind, message, count);

        public void DeviceFault(string kind, string message, long count) => inner.DeviceFault(kind, message, count);

        public void Fail(string message) => inner.Fail(message);
    }
}

/// <summary>A driver whose hardware cannot be opened: Start throws.</summary>
internal sealed class BrokenDriver : IDeviceDriver
{
    public const string DeviceId = "broken1";

    public static readonly DeviceOptions Device = new() { Id = DeviceId, Driver = "Broken" };

    public string Kind => "Broken";

    public IAsyncDisposable Start(DeviceOptions device, MeasurementInfo measurement, IBlockSink sink) =>
        throw new IOException("The device is not connected.");
}

/// <summary>A device that reports a failure while it is still starting (a race the engine must survive).</summary>
internal sealed class FailsWhileStartingDriver : IDeviceDriver
{
    public const string DeviceId = "flaky1";

    public static readonly DeviceOptions Device = new() { Id = DeviceId, Driver = "FailsWhileStarting" };

    private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string Kind => "FailsWhileStarting";

    /// <summary>Completes when the engine stopped the device run.</summary>
    public Task Disposed => _disposed.Task;

    public IAsyncDisposable Start(DeviceOptions device, MeasurementInfo measurement, IBlockSink sink)
    {
        sink.Fail("Lost the connection during start.");
        return new Handle(_disposed);
    }

    private sealed class Handle(TaskCompletionSource disposed) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            disposed.TrySetResult();
            return ValueTask.CompletedTask;
        }
    }
}
