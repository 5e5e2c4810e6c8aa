using System.Globalization;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;

namespace MeasureApp.Analysis;

/// <summary>A request the analysis cannot answer as asked: <see cref="Parameter"/> names the query parameter at fault.</summary>
public sealed class AnalysisRequestException(string parameter, string message) : Exception(message)
{
    /// <summary>The query parameter at fault (from, to, channel, channels, window, scale …).</summary>
    public string Parameter { get; } = parameter;
}

/// <summary>
/// Seconds since the first sample → sample indices, the way the export does it: a sample at exactly
/// <c>from</c> or <c>to</c> is included (both ends inclusive), a missing end means the start or the end
/// of the data, decimal seconds like 0.3 are absorbed by a tiny tolerance.
/// </summary>
public static class AnalysisRange
{
    /// <summary>Parses optional <c>from</c>/<c>to</c> query values into [FromIndex, ToIndex).</summary>
    public static (long FromIndex, long ToIndex) Parse(MeasurementRecord record, string? fromText, string? toText)
    {
        ArgumentNullException.ThrowIfNull(record);
        var from = Seconds(fromText, "from");
        var to = Seconds(toText, "to");
        if (from is { } f && to is { } t && f > t)
        {
            throw new AnalysisRequestException("from", string.Create(CultureInfo.InvariantCulture, $"from ({f} s) is after to ({t} s)."));
        }
        var rate = record.SampleRate > 0 ? record.SampleRate : 1;
        // A running measurement grows: its end is whatever is stored when the store reads.
        var end = record.State == MeasurementState.Stopped && record.SampleCount > 0 ? record.SampleCount : long.MaxValue / 4;
        var fromPosition = (from ?? 0) * rate;
        if (record.State == MeasurementState.Stopped && fromPosition - 1e-6 >= end)
        {
            throw new AnalysisRequestException("from", string.Create(CultureInfo.InvariantCulture, $"from ({from} s) lies after the data: the measurement holds 0–{(end - 1) / rate} s."));
        }
        var fromIndex = Math.Max(0, (long)Math.Ceiling(Math.Min(fromPosition - 1e-6, end)));
        var toIndex = end;
        if (to is { } t2)
        {
            var toPosition = t2 * rate;
            toIndex = toPosition + 1e-6 >= end ? end : (long)Math.Floor(toPosition + 1e-6) + 1;
        }
        if (fromIndex >= toIndex)
        {
            throw new AnalysisRequestException("to", "The range holds no sample: widen it to include at least one sample time.");
        }
        return (fromIndex, toIndex);
    }

    /// <summary>Parses a comma-separated channel list (null or empty = all).</summary>
    public static IReadOnlyList<int>? Channels(MeasurementRecord record, string? text, string parameter = "channels")
    {
        ArgumentNullException.ThrowIfNull(record);
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        var channels = new List<int>();
        foreach (var part in text.Split(','))
        {
            channels.Add(Channel(record, part, parameter));
        }
        if (channels.Distinct().Count() != channels.Count)
        {
            throw new AnalysisRequestException(parameter, "A channel is listed twice.");
        }
        return channels;
    }

    /// <summary>Parses one channel number.</summary>
    public static int Channel(MeasurementRecord record, string? text, string parameter = "channel")
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!int.TryParse(text?.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var c) || c >= record.ChannelCount)
        {
            throw new AnalysisRequestException(parameter, $"'{text?.Trim()}' is not a channel of this measurement (0–{record.ChannelCount - 1}).");
        }
        return c;
    }

    private static double? Seconds(string? text, string name)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
        {
            throw new AnalysisRequestException(name, $"{name} '{text}' is not a number of seconds.");
        }
        if (v < 0)
        {
            throw new AnalysisRequestException(name, $"{name} is negative: times count from the first sample (0 s).");
        }
        return v;
    }
}
