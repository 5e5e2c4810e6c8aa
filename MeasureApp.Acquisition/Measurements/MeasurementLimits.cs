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

/// <summary>One user's limits as numbers; resolved by the host (defaults plus per-user overrides).</summary>
public sealed record UserLimits
{
    /// <summary>Measurements that may run at once.</summary>
    public int MaxParallelMeasurements { get; init; } = 4;

    /// <summary>Highest sample rate per measurement in Hz.</summary>
    public double MaxSampleRate { get; init; } = 100_000;

    /// <summary>Most channels per measurement.</summary>
    public int MaxChannels { get; init; } = 8;

    /// <summary>Longest a measurement may run.</summary>
    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromHours(8);

    /// <summary>Live bandwidth to the browser in bytes per second.</summary>
    public long MaxLiveBytesPerSecond { get; init; } = 10_000_000;

    /// <summary>Open sessions (tabs) at once.</summary>
    public int MaxSessions { get; init; } = 10;

    /// <summary>How long raw data is kept.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromHours(48);

    /// <summary>Streaming exports (downloads) running at once.</summary>
    public int MaxConcurrentExports { get; init; } = 2;
}
