using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition.Devices.Scpi;

/// <summary>
/// Fails the start when a configured Scpi device lacks what only a Scpi device needs (Host, a Query
/// per channel), naming the key with its index, like the attribute checks do for every device.
/// </summary>
public sealed class ScpiSettingsValidator : IValidateOptions<AcquisitionOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, AcquisitionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = options.Devices
            .Select((d, i) => string.Equals(d.Driver, ScpiDriver.DriverKind, StringComparison.OrdinalIgnoreCase) ? ScpiDriver.CheckSettings(d, i) : null)
            .OfType<string>()
            .ToList();
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
