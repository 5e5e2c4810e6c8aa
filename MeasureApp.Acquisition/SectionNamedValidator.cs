using Microsoft.Extensions.Options;

namespace MeasureApp.Acquisition;

/// <summary>
/// Wraps a (source-generated) options validator so every failure names the full configuration key
/// ("Limits:MaxChannels: …"), which is what an operator searches appsettings.json for.
/// </summary>
/// <typeparam name="T">Options type.</typeparam>
/// <param name="section">Configuration section the options are bound from.</param>
/// <param name="inner">The validator doing the checks.</param>
public sealed class SectionNamedValidator<T>(string section, IValidateOptions<T> inner) : IValidateOptions<T>
    where T : class
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, T options)
    {
        var result = inner.Validate(name, options);
        if (!result.Failed)
        {
            return result;
        }
        var failures = (result.Failures ?? [result.FailureMessage]).Select(f =>
            f.StartsWith(section + ":", StringComparison.Ordinal) ? f : $"{section}:{f}");
        return ValidateOptionsResult.Fail(failures);
    }
}
