using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition.Devices.SharedMemory;

/// <summary>
/// The kernel interface: an external acquisition engine writes records into a memory-mapped ring
/// (docs/shared-memory.md) and reads start/stop commands from a second ring. Measurements on the
/// same file share one reader thread, which routes each record by its measurement id; records of
/// other measurements are counted and never delivered. Bad input is counted through
/// <see cref="IBlockSink.Fault"/> and never stops the stream.
/// </summary>
public sealed class SharedMemoryDriver(TimeProvider time, IOptions<AcquisitionOptions> options, ILogger<SharedMemoryDriver> logger, DeviceFaults? deviceFaults = null) : IDeviceDriver
{
    /// <summary>The <see cref="DeviceOptions.Driver"/> value of shared-memory devices.</summary>
    public const string DriverKind = "SharedMemory";

    private readonly Lock _gate = new();
    private readonly Dictionary<string, SharedMemoryReader> _readers = new(StringComparer.Ordinal);

    /// <inheritdoc />
    public string Kind => DriverKind;

    /// <summary>
    /// Registers the measurement with the reader of the device's file (starting it when needed) and
    /// writes the start command, which tells the producer the measurement id to tag records with.
    /// </summary>
    public IAsyncDisposable Start(DeviceOptions device, MeasurementInfo measurement, IBlockSink sink)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(measurement);
        ArgumentNullException.ThrowIfNull(sink);
        if (string.IsNullOrWhiteSpace(device.Path))
        {
            sink.Fail($"Device '{device.Id}' has no shared-memory file: set Acquisition:Devices:N:Path.");
            return NothingToStop.Instance;
        }
        if (measurement.Channels.Count is < 1 or > SharedMemoryLayout.MaxChannels)
        {
            sink.Fail($"A shared-memory record carries 1 to {SharedMemoryLayout.MaxChannels} channels, not {measurement.Channels.Count}.");
            return NothingToStop.Instance;
        }
        if (!BitConverter.IsLittleEndian)
        {
            sink.Fail("The shared-memory layout is little-endian; this machine is not.");
            return NothingToStop.Instance;
        }

        var path = Path.GetFullPath(device.Path);
        while (true)
        {
            SharedMemoryReader? reader;
            var created = false;
            lock (_gate)
            {
                if (!_readers.TryGetValue(path, out reader) || reader.IsStopping)
                {
                    reader = new SharedMemoryReader(path, time, TimeSpan.FromMilliseconds(options.Value.BlockMilliseconds),
                        TimeSpan.FromMilliseconds(device.HeartbeatTimeoutMilliseconds), logger, deviceFaults, device.Id);
                    _readers[path] = reader;
                    created = true;
                }
            }
            if (created)
            {
                reader.Begin();
            }
            // Not under _gate: adding waits for the reader's lock, and the reader thread may need _gate
            // (a sink that stops its measurement disposes the run from that thread).
            if (reader.TryAdd(measurement, sink, out var subscription))
            {
                return new Run(this, path, reader, subscription!);
            }
        }
    }

    /// <summary>Counters of the reader of <paramref name="path"/>, or null when no measurement reads it.</summary>
    public SharedMemoryStatistics? GetStatistics(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        lock (_gate)
        {
            return _readers.TryGetValue(Path.GetFullPath(path), out var reader) ? reader.Statistics : null;
        }
    }

    private void Forget(string path, SharedMemoryReader reader)
    {
        lock (_gate)
        {
            if (_readers.TryGetValue(path, out var current) && current == reader)
            {
                _readers.Remove(path);
            }
        }
    }

    private sealed class Run(SharedMemoryDriver driver, string path, SharedMemoryReader reader, Subscription subscription) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            // Synchronous under the reader's lock: after this the sink is never called again.
            if (reader.Remove(subscription))
            {
                driver.Forget(path, reader);
                await reader.StopAsync();
            }
        }
    }

    private sealed class NothingToStop : IAsyncDisposable
    {
        public static readonly NothingToStop Instance = new();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
