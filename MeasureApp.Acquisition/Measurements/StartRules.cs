using System.Globalization;

namespace MeasureApp.Acquisition.Measurements;

/// <summary>The field of a start request a <see cref="StartProblem"/> is about.</summary>
public enum StartField
{
    /// <summary>The measurement's name.</summary>
    Name,
    /// <summary>The channel count.</summary>
    Channels,
    /// <summary>The sample rate.</summary>
    SampleRate,
    /// <summary>The requested duration.</summary>
    Duration,
}

/// <summary>Why a start request is refused: the field and a sentence that states the numbers.</summary>
/// <param name="Field">The field at fault.</param>
/// <param name="Message">What is wrong, with the allowed range and the value asked for.</param>
public sealed record StartProblem(StartField Field, string Message);

/// <summary>
/// The one rule for the numbers of a start request. The engine applies it with the user's limits
/// (it is the authority); the REST API applies it with the engine's bounds alone (a 400 before the
/// engine's refusals); the start dialog applies it with the user's limits to show a message beside
/// the field before asking the server.
/// </summary>
public static class StartRules
{
    /// <summary>Longest measurement name.</summary>
    public const int MaxNameLength = 100;

    /// <summary>Longest duration anyone may ask for, whatever the limits say.</summary>
    public static readonly TimeSpan MaxDuration = LimitTable.Duration.Max;

    /// <summary>
    /// Every problem of the request, in field order; empty when it may start. A null value is one the
    /// caller did not give. <paramref name="limits"/> narrows the engine's bounds (<see cref="MeasurementLimits"/>)
    /// to a user's; null checks the bounds alone.
    /// </summary>
    public static IReadOnlyList<StartProblem> Check(string? name, int? channels, double? sampleRate, TimeSpan? duration, UserLimits? limits)
    {
        var inv = CultureInfo.InvariantCulture;
        var problems = new List<StartProblem>();
        if (string.IsNullOrWhiteSpace(name) || name.Trim().Length > MaxNameLength)
        {
            problems.Add(new(StartField.Name, $"A measurement needs a name of 1 to {MaxNameLength} characters."));
        }
        var maxChannels = Math.Min(MeasurementLimits.MaxChannels, limits?.MaxChannels ?? int.MaxValue);
        if (channels is not { } c || c < 1 || c > maxChannels)
        {
            problems.Add(new(StartField.Channels, string.Create(inv, $"Channels must be between 1 and {maxChannels} (you asked for {channels?.ToString(inv) ?? "none"}).")));
        }
        var maxRate = Math.Min(MeasurementLimits.MaxSampleRate, limits?.MaxSampleRate ?? double.MaxValue);
        if (sampleRate is not { } r || !double.IsFinite(r) || r < MeasurementLimits.MinSampleRate || r > maxRate)
        {
            problems.Add(new(StartField.SampleRate, string.Create(inv,
                $"Sample rate must be between {MeasurementLimits.MinSampleRate:N0} Hz and {maxRate:N0} Hz (you asked for {(sampleRate is { } asked ? asked.ToString("#,0.###", inv) + " Hz" : "none")}).")));
        }
        var maxDuration = limits is null || limits.MaxDuration > MaxDuration ? MaxDuration : limits.MaxDuration;
        if (duration is { } d && (d <= TimeSpan.Zero || d > maxDuration))
        {
            problems.Add(new(StartField.Duration, string.Create(inv,
                $"Duration must be more than 0 s and at most {maxDuration.TotalSeconds:#,0.###} s (you asked for {d.TotalSeconds:#,0.###} s).")));
        }
        return problems;
    }
}
