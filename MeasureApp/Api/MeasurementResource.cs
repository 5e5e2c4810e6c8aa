using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.History;

namespace MeasureApp.Api;

/// <summary>A measurement as the REST API shows it.</summary>
/// <param name="Id">Measurement id.</param>
/// <param name="Name">Name given at start.</param>
/// <param name="OwnerId">Owner's user id.</param>
/// <param name="OwnerName">Owner's user name.</param>
/// <param name="Device">Device id.</param>
/// <param name="Channels">Channel names and units.</param>
/// <param name="SampleRate">Samples per second per channel.</param>
/// <param name="State">Starting, Running or Stopped.</param>
/// <param name="StopReason">Why it stopped (None while running).</param>
/// <param name="StopDetail">Detail of the stop, when any.</param>
/// <param name="StartedAt">Start time (UTC).</param>
/// <param name="StoppedAt">Stop time (UTC), when stopped.</param>
/// <param name="SampleCount">Samples per channel so far.</param>
/// <param name="DataExpired">Raw data deleted after the retention period.</param>
/// <param name="Faults">Device faults by kind (e.g. <c>{"overrun": 46}</c>); empty when none.</param>
/// <param name="Tags">Tags (see <c>PUT /api/measurements/{id}/tags</c>); filled by the list and the single read.</param>
/// <param name="Metadata">Key/value metadata (see <c>PUT /api/measurements/{id}/metadata</c>); filled like <paramref name="Tags"/>.</param>
public sealed record MeasurementResource(
    Guid Id,
    string Name,
    string OwnerId,
    string OwnerName,
    string Device,
    IReadOnlyList<ChannelInfo> Channels,
    double SampleRate,
    string State,
    string StopReason,
    string? StopDetail,
    DateTimeOffset StartedAt,
    DateTimeOffset? StoppedAt,
    long SampleCount,
    bool DataExpired,
    IReadOnlyDictionary<string, long>? Faults = null,
    IReadOnlyList<string>? Tags = null,
    IReadOnlyDictionary<string, string>? Metadata = null)
{
    /// <summary>From the stored row, with the live numbers of this instance's engine when it runs here.</summary>
    public static MeasurementResource From(MeasurementRecord record, MeasurementInfo? running)
    {
        ArgumentNullException.ThrowIfNull(record);
        return running is null
            ? new(record.Id, record.Name, record.OwnerId, record.OwnerName, record.DeviceId, HistoryService.Channels(record), record.SampleRate,
                record.State.ToString(), record.StopReason.ToString(), record.StopDetail, record.StartedAt, record.StoppedAt, record.SampleCount, record.DataExpired,
                MeasurementFaults.Parse(record.FaultsJson))
            : From(running);
    }

    /// <summary>From the engine's snapshot.</summary>
    public static MeasurementResource From(MeasurementInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        return new(info.Id, info.Name, info.OwnerId, info.OwnerName, info.DeviceId, info.Channels, info.SampleRate,
            info.State.ToString(), info.StopReason.ToString(), info.StopDetail, info.StartedAt, info.StoppedAt, info.SampleCount, DataExpired: false, info.Faults);
    }
}

/// <summary>One page of the list.</summary>
/// <param name="Items">Measurements of this page.</param>
/// <param name="Total">Measurements matching the query.</param>
public sealed record MeasurementListResource(IReadOnlyList<MeasurementResource> Items, int Total);

/// <summary>Body of <c>POST /api/measurements</c>; everything optional here so a missing field gets a named 400.</summary>
/// <param name="Device">Device id (see the Live page's device list).</param>
/// <param name="Channels">Channel count, 1–8.</param>
/// <param name="SampleRate">Hz, 100–100 000.</param>
/// <param name="Name">1–100 characters.</param>
/// <param name="DurationSeconds">Optional: stop after this many seconds.</param>
public sealed record StartMeasurementBody(string? Device, int? Channels, double? SampleRate, string? Name, double? DurationSeconds);
