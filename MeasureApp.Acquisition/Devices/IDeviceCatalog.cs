using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition.Devices;

/// <summary>
/// Where the engine finds devices. The engine asks at the start of each measurement, so devices added,
/// edited or removed at run time (the web host keeps them in its database) apply without a restart; a
/// running measurement keeps the settings it started with.
/// </summary>
public interface IDeviceCatalog
{
    /// <summary>The devices as last known (for lists and pickers; may lag another instance's edit).</summary>
    IReadOnlyList<DeviceOptions> Devices { get; }

    /// <summary>The current settings of one device, read fresh at start time; null when there is none.</summary>
    ValueTask<DeviceOptions?> FindAsync(string deviceId, CancellationToken cancellationToken);
}

/// <summary>The devices of <c>Acquisition:Devices</c>, fixed for the process (the engine's default).</summary>
public sealed class OptionsDeviceCatalog(IOptions<AcquisitionOptions> options) : IDeviceCatalog
{
    /// <inheritdoc />
    public IReadOnlyList<DeviceOptions> Devices => options.Value.Devices;

    /// <inheritdoc />
    public ValueTask<DeviceOptions?> FindAsync(string deviceId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(options.Value.Devices.FirstOrDefault(d => string.Equals(d.Id, deviceId, StringComparison.Ordinal)));
}
