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

    /// <summary>Reports a recoverable problem (bad frame, overrun); counted and shown to the owner.</summary>
    void Fault(string kind, string message);

    /// <summary>Reports that the device cannot go on; the measurement stops with reason DeviceError.</summary>
    void Fail(string message);
}
