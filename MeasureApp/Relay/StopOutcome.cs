using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Relay;

/// <summary>What became of a stop request.</summary>
public enum StopOutcome
{
    /// <summary>The measurement stopped (here or on the instance running it).</summary>
    Stopped,

    /// <summary>Not running, unknown, or another user's (all answered alike).</summary>
    NotFound,

    /// <summary>It runs on another instance, which did not answer in time (or Redis is unreachable).</summary>
    NoAnswer,
}

/// <summary>Stopping a measurement wherever it runs.</summary>
public static class MeasurementStopping
{
    /// <summary>
    /// Stops the measurement on this instance when it runs here, else (with the relay) asks the
    /// instance running it. Without the relay (one instance) this is the engine's stop.
    /// </summary>
    public static async Task<StopOutcome> StopAnywhereAsync(this MeasurementEngine engine, LiveRelayClient? relay, Guid measurementId, Requester requester, CancellationToken cancellationToken,
        MeasureApp.Audit.AuditLog? audit = null)
    {
        ArgumentNullException.ThrowIfNull(engine);
        var name = engine.Find(measurementId, requester)?.Name;
        var outcome = await engine.StopAsync(measurementId, requester, cancellationToken) ? StopOutcome.Stopped
            : relay is null ? StopOutcome.NotFound : await relay.StopAsync(requester, measurementId, cancellationToken);
        if (outcome == StopOutcome.Stopped && audit is not null)
        {
            await audit.WriteAsync(requester, MeasureApp.Audit.AuditActions.Stop, measurementId, name);
        }
        return outcome;
    }

    /// <summary>A sentence for the user about an outcome other than <see cref="StopOutcome.Stopped"/>.</summary>
    public static string Describe(StopOutcome outcome) => outcome switch
    {
        StopOutcome.Stopped => "Stopped.",
        StopOutcome.NotFound => "That measurement is no longer running.",
        _ => "The instance running that measurement did not answer; try again in a moment.",
    };
}
