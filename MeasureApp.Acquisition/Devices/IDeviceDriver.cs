using MeasureApp.Acquisition.Blocks;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Acquisition.Devices;

/// <summary>A kind of hardware interface (Simulated, SharedMemory, Network, later sigrok, SCPI).</summary>
public interface IDeviceDriver
{
    /// <summary>The value of <see cref="DeviceOptions.Driver"/> this driver serves.</summary>
    string Kind { get; }

    /// <summary>
    /// Starts producing blocks for one measurement on the driver's own thread or timer. Blocks go to
    /// <paramref name="sink"/>; disposing the returned handle stops production.
    /// </summary>
    IAsyncDisposable Start(DeviceOptions device, MeasurementInfo measurement, IBlockSink sink);
}

/// <summary>Where a device run delivers blocks and faults.</summary>
public interface IBlockSink
{
    /// <summary>
    /// Hands over a filled block (ownership passes to the sink). Returns false when the measurement
    /// no longer accepts data; the producer should then stop.
    /// </summary>
    bool Publish(SampleBlock block);

    /// <summary>
    /// Reports one recoverable problem of this measurement (a bad frame, a NaN value, a gap); the stream
    /// goes on. Counted by <paramref name="kind"/> on the measurement and on its device, shown to the
    /// owner at once (live card, API, <c>/metrics</c>) and logged once per burst of that kind with the
    /// burst's true count, so a flood of bad input costs a counter, not a log line each.
    /// </summary>
    void Fault(string kind, string message);

    /// <summary>
    /// Reports <paramref name="count"/> recoverable problems of one kind at once (e.g. records lost to
    /// an overrun, samples missing in a gap): counted by kind with the true count, logged once per burst.
    /// </summary>
    /// <remarks>
    /// The default reports once, with the count in the message: a loop of <paramref name="count"/> calls
    /// would hang on a corrupt header that claims billions of lost records. Sinks that count override it.
    /// </remarks>
    void Fault(string kind, string message, long count) =>
        Fault(kind, count == 1 ? message : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{message} (× {count})"));

    /// <summary>
    /// Reports a fault of the whole device that concerns this measurement too (an overrun of a shared
    /// ring, a producer restart): counted on the measurement, logged once by the device rather than
    /// once per measurement.
    /// </summary>
    void DeviceFault(string kind, string message, long count) => Fault(kind, message, count);

    /// <summary>Reports that the device cannot go on; the measurement stops with reason DeviceError.</summary>
    void Fail(string message);
}
