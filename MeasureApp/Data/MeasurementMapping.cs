using System.Text.Json;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Data;

/// <summary>The one mapping between the engine's <see cref="MeasurementInfo"/> and the stored <see cref="MeasurementRecord"/>.</summary>
public static class MeasurementMapping
{
    /// <summary>The row for a measurement (channels as JSON).</summary>
    public static MeasurementRecord ToRecord(this MeasurementInfo info)
    {
        ArgumentNullException.ThrowIfNull(info);
        return new()
        {
            Id = info.Id,
            OwnerId = info.OwnerId,
            OwnerName = info.OwnerName,
            Name = info.Name,
            DeviceId = info.DeviceId,
            ChannelsJson = JsonSerializer.Serialize(info.Channels),
            ChannelCount = info.Channels.Count,
            SampleRate = info.SampleRate,
            State = info.State,
            StopReason = info.StopReason,
            StopDetail = info.StopDetail,
            StartedAt = info.StartedAt,
            StoppedAt = info.StoppedAt,
            SampleCount = info.SampleCount,
            FaultsJson = MeasureApp.History.MeasurementFaults.ToJson(info.Faults),
        };
    }

    /// <summary>The measurement a row describes.</summary>
    public static MeasurementInfo ToInfo(this MeasurementRecord row)
    {
        ArgumentNullException.ThrowIfNull(row);
        return new()
        {
            Id = row.Id,
            OwnerId = row.OwnerId,
            OwnerName = row.OwnerName,
            Name = row.Name,
            DeviceId = row.DeviceId,
            Channels = row.Channels(),
            SampleRate = row.SampleRate,
            State = row.State,
            StopReason = row.StopReason,
            StopDetail = row.StopDetail,
            StartedAt = row.StartedAt,
            StoppedAt = row.StoppedAt,
            SampleCount = row.SampleCount,
            Faults = MeasureApp.History.MeasurementFaults.Parse(row.FaultsJson),
        };
    }

    /// <summary>Channel names and units stored with the measurement; an unreadable list yields numbered channels.</summary>
    public static IReadOnlyList<ChannelInfo> Channels(this MeasurementRecord row)
    {
        ArgumentNullException.ThrowIfNull(row);
        try
        {
            if (JsonSerializer.Deserialize<List<ChannelInfo>>(row.ChannelsJson) is { } list)
            {
                return list;
            }
        }
        catch (JsonException)
        {
            // Numbered channels below.
        }
        return [.. Enumerable.Range(0, row.ChannelCount).Select(c => new ChannelInfo($"ch{c + 1}", ""))];
    }
}
