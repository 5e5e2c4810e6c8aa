namespace MeasureApp.Acquisition.Devices;

/// <summary>
/// A driver that can tell before a measurement exists whether its device can serve a start request
/// (reachable, configured, fast enough), so the engine refuses the start with the driver's message
/// instead of starting a measurement that stops at once. Drivers without such a check do not implement it.
/// </summary>
public interface IDeviceStartCheck
{
    /// <summary>
    /// Checks that <paramref name="device"/> can deliver <paramref name="channels"/> channels at
    /// <paramref name="sampleRate"/>; returns null when it can, otherwise why not (with the numbers).
    /// </summary>
    Task<string?> CheckStartAsync(DeviceOptions device, int channels, double sampleRate, CancellationToken cancellationToken);
}
