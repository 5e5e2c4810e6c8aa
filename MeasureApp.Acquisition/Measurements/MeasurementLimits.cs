using System.Globalization;

namespace MeasureApp.Acquisition;

/// <summary>Hard bounds of the engine, whatever a user's limits say.</summary>
public static class MeasurementLimits
{
    /// <summary>Largest channel count a measurement may have.</summary>
    public const int MaxChannels = 8;

    /// <summary>Lowest sample rate in Hz.</summary>
    public const double MinSampleRate = 100;

    /// <summary>Highest sample rate in Hz.</summary>
    public const double MaxSampleRate = 100_000;
}

/// <summary>How a limit's numbers read: the unit the Limits page and its messages speak.</summary>
public enum LimitUnit
{
    /// <summary>A plain count (measurements, channels, tabs, exports).</summary>
    Count,
    /// <summary>Samples per second, shown in Hz.</summary>
    Hertz,
    /// <summary>Bytes per second, shown and entered in MB/s.</summary>
    BytesPerSecond,
    /// <summary>A time span, entered in hours and shown in its largest whole unit.</summary>
    Duration,
}

/// <summary>What every limit of <see cref="LimitTable"/> offers whatever the type of its numbers.</summary>
public interface ILimitRange
{
    /// <summary>Key under the <c>Limits</c> section and property name of <see cref="UserLimits"/>.</summary>
    string Key { get; }

    /// <summary>Short id used in element ids of the Limits page (<c>limit-{Id}</c>, <c>default-{Id}</c>).</summary>
    string Id { get; }

    /// <summary>What the limit is called on pages and in messages.</summary>
    string Label { get; }

    /// <summary>The label of an input field, with the unit it is entered in.</summary>
    string FieldLabel { get; }

    /// <summary>The allowed range in the page's unit ("1 – 64", "0.01 MB/s – 1,000 MB/s").</summary>
    string RangeText { get; }

    /// <summary>This limit's value in <paramref name="limits"/>, in the page's unit.</summary>
    string ShowOf(UserLimits limits);
}

/// <summary>
/// One per-user limit: its key, label, unit, allowed range and built-in default. Read by the
/// <c>Limits</c> options check, the admin Limits page, the per-user override check and the
/// <see cref="UserLimits"/> defaults, so a range or default is written once.
/// </summary>
/// <typeparam name="T">Type of the limit's numbers.</typeparam>
/// <param name="Key">Key under the <c>Limits</c> section (the property name).</param>
/// <param name="Id">Short id for element ids.</param>
/// <param name="Label">What the limit is called on pages and in messages.</param>
/// <param name="Unit">How its numbers read.</param>
/// <param name="Min">Smallest allowed value.</param>
/// <param name="Max">Largest allowed value.</param>
/// <param name="Default">Value when neither configuration nor an administrator says otherwise.</param>
/// <param name="Of">Reads the limit from a user's limits.</param>
public sealed record LimitRange<T>(string Key, string Id, string Label, LimitUnit Unit, T Min, T Max, T Default, Func<UserLimits, T> Of) : ILimitRange
    where T : struct, IComparable<T>
{
    /// <summary>Whether <paramref name="value"/> lies within the range (bounds included).</summary>
    public bool Allows(T value) => value.CompareTo(Min) >= 0 && value.CompareTo(Max) <= 0;

    /// <summary>A sentence in the page's unit when a set value is out of range ("Channels must be between 1 and 8 (got 12)."), else null.</summary>
    public string? Problem(T? value) =>
        value is { } v && !Allows(v) ? $"{Label} must be between {Show(Min)} and {Show(Max)} (got {Show(v)})." : null;

    /// <summary>A sentence naming the configuration key when a configured value is out of range, else null.</summary>
    public string? SettingProblem(string section, T value) =>
        Allows(value) ? null : string.Create(CultureInfo.InvariantCulture, $"{section}:{Key} must be between {Min} and {Max} (got {value}).");

    /// <inheritdoc />
    public string FieldLabel => Unit switch
    {
        LimitUnit.Hertz => Label + " [Hz]",
        LimitUnit.BytesPerSecond => Label + " [MB/s]",
        LimitUnit.Duration => Label + " [h]",
        _ => Label,
    };

    /// <inheritdoc />
    public string RangeText => $"{Show(Min)} – {Show(Max)}";

    /// <inheritdoc />
    public string ShowOf(UserLimits limits) => Show(Of(limits));

    /// <summary><paramref name="value"/> in the page's unit, in the reader's culture.</summary>
    public string Show(T value)
    {
        var c = CultureInfo.CurrentCulture;
        return value switch
        {
            TimeSpan t when t.TotalDays >= 7 && t.TotalDays % 1 == 0 => string.Create(c, $"{t.TotalDays:#,0} days"),
            TimeSpan t when t.TotalHours >= 1 && t.TotalHours % 1 == 0 => string.Create(c, $"{t.TotalHours:#,0} h"),
            TimeSpan t when t.TotalMinutes >= 1 && t.TotalMinutes % 1 == 0 => string.Create(c, $"{t.TotalMinutes:#,0} min"),
            TimeSpan t => string.Create(c, $"{t.TotalSeconds:#,0.###} s"),
            _ => Unit switch
            {
                LimitUnit.Hertz => string.Create(c, $"{Convert.ToDouble(value, c):#,0.###} Hz"),
                LimitUnit.BytesPerSecond => string.Create(c, $"{Convert.ToDouble(value, c) / 1e6:#,0.###} MB/s"),
                _ => string.Create(c, $"{Convert.ToDouble(value, c):#,0.###}"),
            },
        };
    }
}

/// <summary>The one table of per-user limits: ranges, defaults, labels and units.</summary>
public static class LimitTable
{
    /// <summary>Measurements one user may run at once.</summary>
    public static readonly LimitRange<int> ParallelMeasurements = new(nameof(UserLimits.MaxParallelMeasurements), "parallel", "Parallel measurements", LimitUnit.Count, 1, 64, 4, l => l.MaxParallelMeasurements);

    /// <summary>Highest sample rate per measurement; bounded by the engine's <see cref="MeasurementLimits"/>.</summary>
    public static readonly LimitRange<double> SampleRate = new(nameof(UserLimits.MaxSampleRate), "rate", "Sample rate", LimitUnit.Hertz, MeasurementLimits.MinSampleRate, MeasurementLimits.MaxSampleRate, MeasurementLimits.MaxSampleRate, l => l.MaxSampleRate);

    /// <summary>Most channels per measurement; bounded by the engine's <see cref="MeasurementLimits"/>.</summary>
    public static readonly LimitRange<int> Channels = new(nameof(UserLimits.MaxChannels), "channels", "Channels", LimitUnit.Count, 1, MeasurementLimits.MaxChannels, MeasurementLimits.MaxChannels, l => l.MaxChannels);

    /// <summary>Live bandwidth to the browser.</summary>
    public static readonly LimitRange<long> LiveBytesPerSecond = new(nameof(UserLimits.MaxLiveBytesPerSecond), "bandwidth", "Live bandwidth", LimitUnit.BytesPerSecond, 10_000, 1_000_000_000, 10_000_000, l => l.MaxLiveBytesPerSecond);

    /// <summary>Longest a measurement may run.</summary>
    public static readonly LimitRange<TimeSpan> Duration = new(nameof(UserLimits.MaxDuration), "duration", "Duration", LimitUnit.Duration, TimeSpan.FromSeconds(1), TimeSpan.FromDays(30), TimeSpan.FromHours(8), l => l.MaxDuration);

    /// <summary>Open tabs at once.</summary>
    public static readonly LimitRange<int> Sessions = new(nameof(UserLimits.MaxSessions), "sessions", "Open tabs", LimitUnit.Count, 1, 1000, 10, l => l.MaxSessions);

    /// <summary>How long raw data is kept.</summary>
    public static readonly LimitRange<TimeSpan> Retention = new(nameof(UserLimits.Retention), "retention", "Retention", LimitUnit.Duration, TimeSpan.FromMinutes(1), TimeSpan.FromDays(3650), TimeSpan.FromHours(48), l => l.Retention);

    /// <summary>Streaming exports (downloads) running at once.</summary>
    public static readonly LimitRange<int> ConcurrentExports = new(nameof(UserLimits.MaxConcurrentExports), "exports", "Exports at once", LimitUnit.Count, 1, 64, 2, l => l.MaxConcurrentExports);

    /// <summary>Every limit, in the order pages list them.</summary>
    public static IReadOnlyList<ILimitRange> All { get; } = [ParallelMeasurements, SampleRate, Channels, LiveBytesPerSecond, Duration, Sessions, Retention, ConcurrentExports];
}

/// <summary>One user's limits as numbers; resolved by the host (defaults plus per-user overrides).</summary>
public sealed record UserLimits
{
    /// <summary>Measurements that may run at once.</summary>
    public int MaxParallelMeasurements { get; init; } = LimitTable.ParallelMeasurements.Default;

    /// <summary>Highest sample rate per measurement in Hz.</summary>
    public double MaxSampleRate { get; init; } = LimitTable.SampleRate.Default;

    /// <summary>Most channels per measurement.</summary>
    public int MaxChannels { get; init; } = LimitTable.Channels.Default;

    /// <summary>Longest a measurement may run.</summary>
    public TimeSpan MaxDuration { get; init; } = LimitTable.Duration.Default;

    /// <summary>Live bandwidth to the browser in bytes per second.</summary>
    public long MaxLiveBytesPerSecond { get; init; } = LimitTable.LiveBytesPerSecond.Default;

    /// <summary>Open sessions (tabs) at once.</summary>
    public int MaxSessions { get; init; } = LimitTable.Sessions.Default;

    /// <summary>How long raw data is kept.</summary>
    public TimeSpan Retention { get; init; } = LimitTable.Retention.Default;

    /// <summary>Streaming exports (downloads) running at once.</summary>
    public int MaxConcurrentExports { get; init; } = LimitTable.ConcurrentExports.Default;
}
