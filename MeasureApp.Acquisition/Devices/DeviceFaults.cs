using System.Collections.Concurrent;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Extensions.Logging;

namespace MeasureApp.Acquisition.Devices;

/// <summary>
/// Fault counts per device, by kind: every fault of the device's measurements, plus the faults that
/// belong to no measurement (records of a measurement that is not running, a corrupt ring header, a
/// collector without a token). A device-wide fault that may have cost the running measurements data
/// (an overrun, a producer restart) is also counted on each of them (<see cref="IBlockSink.DeviceFault"/>),
/// but logged once, here, per burst with its true count.
/// </summary>
public sealed class DeviceFaults(TimeProvider time, ILogger<DeviceFaults> logger)
{
    private readonly ConcurrentDictionary<string, FaultTally> _devices = new(StringComparer.Ordinal);

    /// <summary>A fault of the device itself: counted and logged once per burst with its true count.</summary>
    public void Report(string deviceId, string kind, long count, string message)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        Tally(deviceId).Add(kind, count, message, time.GetTimestamp());
    }

    /// <summary>Counts a fault a measurement of the device reported (logged with the measurement, not again here).</summary>
    public void Count(string deviceId, string kind, long count)
    {
        ArgumentNullException.ThrowIfNull(deviceId);
        Tally(deviceId).Add(kind, count, "", time.GetTimestamp(), logged: false);
    }

    /// <summary>Counts by kind of one device (empty when it had none).</summary>
    public IReadOnlyDictionary<string, long> Of(string deviceId) =>
        _devices.TryGetValue(deviceId, out var t) ? t.Snapshot() : new Dictionary<string, long>();

    /// <summary>Counts by kind of every device that had a fault.</summary>
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, long>> All() =>
        _devices.ToDictionary(d => d.Key, d => d.Value.Snapshot(), StringComparer.Ordinal);

    /// <summary>Logs the device bursts that ended, each once with its true count (the engine calls this a few times a second).</summary>
    public void LogEndedBursts(bool all = false)
    {
        var now = time.GetTimestamp();
        foreach (var (device, tally) in _devices)
        {
            foreach (var b in tally.EndBursts(now, time, all))
            {
                logger.LogWarning("Device {Device}: {Kind} × {Count} in {Seconds:0.###} s ({Total} in all): {Message}",
                    device, b.Kind, b.Count, b.Span.TotalSeconds, b.Total, b.LastMessage);
            }
        }
    }

    private FaultTally Tally(string deviceId) => _devices.GetOrAdd(deviceId, _ => new FaultTally());
}
