using System.Globalization;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;

namespace MeasureApp.Analysis;

/// <summary>A request the analysis cannot answer as asked: <see cref="Parameter"/> names the query parameter at fault.</summary>
public sealed class AnalysisRequestException(string parameter, string message) : Exception(message)
{
    /// <summary>The query parameter at fault (from, to, channel, channels, window, scale …).</summary>
    public string Parameter { get; } = parameter;
}

/// <summary>
/// Seconds since the first sample → sample indices on the measurement's stored time line
/// (<see cref="SampleRuns"/>), the way history, replay and the export map them: a sample whose stored time
/// is exactly <c>from</c> or <c>to</c> is included (both ends inclusive, times compared in whole ns), a missing
/// end means the start or the end of the data. After a gap or a producer restart samples no longer lie at
/// index / rate, so a range after it still finds the samples the chart draws there and the export writes.
/// </summary>
public static class AnalysisRange
{
    /// <summary>Parses optional <c>from</c>/<c>to</c> query values into [FromIndex, ToIndex) on <paramref name="times"/>.</summary>
    public static (long FromIndex, long ToIndex) Parse(MeasurementRecord record, SampleRuns times, string? fromText, string? toText)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(times);
        var from = Seconds(fromText, "from");
        var to = Seconds(toText, "to");
        if (from is { } f && to is { } t && f > t)
        {
            throw new AnalysisRequestException("from", string.Create(CultureInfo.InvariantCulture, $"from ({f} s) is after to ({t} s)."));
        }
        var stored = times.Runs.Count > 0;
        // A running measurement grows (and one without stored data has nothing to map): an open end reads
        // whatever is stored when the store reads.
        var openEnd = record.State == MeasurementState.Stopped && stored ? times.EndIndex : long.MaxValue / 4;
        var fromIndex = from is { } f2 ? times.FirstAtOrAfter(f2) : stored ? times.Runs[0].FirstIndex : 0;
        if (record.State == MeasurementState.Stopped && stored && fromIndex >= times.EndIndex)
        {
            throw new AnalysisRequestException("from", string.Create(CultureInfo.InvariantCulture,
                $"from ({from} s) lies after the data: the measurement holds 0–{times.SecondsOf(times.EndIndex - 1):0.#########} s."));
        }
        var toIndex = to is { } t2 && stored ? times.EndAtOrBefore(t2) : openEnd;
        if (fromIndex >= toIndex)
        {
            throw new AnalysisRequestException("to", "The range holds no sample: widen it to include at least one sample time.");
        }
        return (fromIndex, toIndex);
    }

    /// <summary>
    /// The stored sample nearest <paramref name="seconds"/> (what a cursor snaps to): its index and time;
    /// null when nothing is stored. Within a run that is the nearest sample on its grid; in a gap, the last
    /// sample before it or the first one after it, whichever is nearer.
    /// </summary>
    public static (long Index, double Seconds)? Nearest(SampleRuns times, double seconds)
    {
        ArgumentNullException.ThrowIfNull(times);
        if (times.Runs.Count == 0 || times.EndIndex <= times.Runs[0].FirstIndex || !double.IsFinite(seconds))
        {
            return null;
        }
        var after = times.FirstAtOrAfter(seconds);
        var before = times.EndAtOrBefore(seconds) - 1;
        if (after >= times.EndIndex || (before >= times.Runs[0].FirstIndex && before < after
            && seconds - times.SecondsOf(before) <= times.SecondsOf(after) - seconds))
        {
            after = Math.Max(before, times.Runs[0].FirstIndex);
        }
        return (after, times.SecondsOf(after));
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
