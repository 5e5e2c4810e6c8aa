using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;

namespace MeasureApp.History;

/// <summary>
/// Stored data of one measurement for the detail page: the ownership check first (another user's
/// measurement answers null, exactly as an unknown id), then an M4 read from the min/max pyramid.
/// </summary>
public sealed class HistoryService(MeasurementCatalog catalog, ISampleStore store)
{
    /// <summary>The measurement, or null when it does not exist or is not visible to the requester.</summary>
    public Task<MeasurementRecord?> FindAsync(Requester requester, Guid id, CancellationToken cancellationToken) =>
        catalog.FindReadableAsync(requester, id, cancellationToken);

    /// <summary>
    /// M4 view of [<paramref name="fromSeconds"/>, <paramref name="toSeconds"/>] (seconds from the
    /// first sample; null = the start or the end of the data) at <paramref name="pixels"/> columns.
    /// Null when the measurement does not exist or is not the requester's.
    /// </summary>
    public async Task<DecimatedRange?> ReadAsync(Requester requester, Guid id, double? fromSeconds, double? toSeconds, int pixels, CancellationToken cancellationToken)
    {
        var record = await catalog.FindReadableAsync(requester, id, cancellationToken);
        if (record is null)
        {
            return null;
        }
        return await ReadAsync(record, fromSeconds, toSeconds, pixels, cancellationToken);
    }

    /// <summary>Same as the other overload for a record already found with the ownership check.</summary>
    /// <remarks>
    /// Seconds are the samples' own stored times (the measurement's time line), not index / rate, so a
    /// range after a gap finds the right samples; the answer carries the time line to draw them with.
    /// </remarks>
    public async Task<DecimatedRange> ReadAsync(MeasurementRecord record, double? fromSeconds, double? toSeconds, int pixels, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        var rate = record.SampleRate > 0 ? record.SampleRate : 1;
        if (record.DataExpired)
        {
            return DecimatedRange.Empty(record.Id, 0) with { Times = new SampleRuns([], 0, rate) };
        }
        var times = await store.ReadRunsAsync(record.Id, rate, cancellationToken);
        // A running measurement's SampleCount lags the data, so an open end reads whatever is stored.
        var from = fromSeconds is { } f && double.IsFinite(f) ? times.FirstAtOrAfter(Math.Max(0, f)) : 0;
        var to = toSeconds is { } t && double.IsFinite(t) ? times.EndAtOrBefore(t) : long.MaxValue / 2;
        if (to <= from)
        {
            return DecimatedRange.Empty(record.Id, from) with { Times = times };
        }
        return await store.ReadDecimatedAsync(record.Id, from, to, Math.Clamp(pixels, 1, 10_000), null, cancellationToken) with { Times = times };
    }

    /// <summary>Channel names and units stored with the measurement.</summary>
    public static IReadOnlyList<ChannelInfo> Channels(MeasurementRecord record) => MeasurementMapping.Channels(record);
}
