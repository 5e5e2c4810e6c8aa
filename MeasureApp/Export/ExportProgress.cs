namespace MeasureApp.Export;

/// <summary>
/// Follows a preparation for whoever shows it (the export dialog): a progress callback a few times a
/// second on the app's <see cref="TimeProvider"/> while the file is written, until it is ready, failed or
/// cancelled. The dialog only subscribes and renders; no polling loop lives in a component.
/// </summary>
public sealed class ExportProgress(TimeProvider time)
{
    /// <summary>How often the progress callback runs while the work goes on.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// Calls <paramref name="progress"/> every <see cref="Interval"/> until <paramref name="completion"/>
    /// finishes (then returns; a failed or cancelled task is the caller's to inspect, not thrown here) or
    /// <paramref name="cancellationToken"/> is cancelled (then throws). The callback runs on a timer thread.
    /// </summary>
    public async Task FollowAsync(Task completion, Action progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(completion);
        ArgumentNullException.ThrowIfNull(progress);
        using var timer = time.CreateTimer(_ => progress(), null, Interval, Interval);
        // WhenAny completes with the work however it ends, without throwing its failure.
        await Task.WhenAny(completion).WaitAsync(cancellationToken);
    }
}
