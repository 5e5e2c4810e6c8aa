namespace MeasureApp.Acquisition.Devices;

/// <summary>
/// A driver that can check a configured device without starting a measurement: connect, read its
/// identity string, report what is wrong. The Devices page's "Test" button and the device health
/// column use it. Drivers that cannot probe (e.g. Simulated) simply do not implement it.
/// </summary>
public interface IDeviceProbe
{
    /// <summary>Connects to <paramref name="device"/>, reads its identity and reports health.</summary>
    Task<DeviceProbeResult> ProbeAsync(DeviceOptions device, CancellationToken cancellationToken);
}

/// <summary>The outcome of <see cref="IDeviceProbe.ProbeAsync"/>.</summary>
/// <param name="Ok">The device answered as expected.</param>
/// <param name="Identity">The device's identity string (SCPI <c>*IDN?</c>, sigrok scan line), when known.</param>
/// <param name="Message">What was checked, or what is wrong, in one sentence for the page.</param>
public sealed record DeviceProbeResult(bool Ok, string? Identity, string Message);
