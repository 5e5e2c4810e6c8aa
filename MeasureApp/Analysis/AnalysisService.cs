using System.Globalization;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.History;

namespace MeasureApp.Analysis;

/// <summary>
/// Measurements on stored data for the cursors, the stats/spectrum/edges APIs and the spectrum view. Every
/// call first asks <see cref="MeasurementCatalog.FindAsync"/> — the one access rule every read path uses —
/// and answers null when the measurement is unknown or not visible to the requester (the caller says 404).
/// Bad parameters throw <see cref="AnalysisRequestException"/> naming the parameter.
/// </summary>
public sealed class AnalysisService(MeasurementCatalog catalog, ISampleStore store)
{
    /// <summary>Most raw samples (of one channel) the edge analysis reads: 10 M, 40 MB of float32.</summary>
    public const long MaxEdgeSamples = 10_000_000;

    /// <summary>Exact statistics per channel of [from, to] (seconds since the first sample, both inclusive).</summary>
    public async Task<(MeasurementRecord Record, RangeStatistics Statistics)?> StatisticsAsync(Requester requester, Guid id, string? from, string? to, string? channels, CancellationToken cancellationToken)
    {
        if (await catalog.FindAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var (fromIndex, toIndex) = AnalysisRange.Parse(record, from, to);
        var selected = AnalysisRange.Channels(record, channels);
        if (record.DataExpired)
        {
            throw new AnalysisRequestException("id", "The measurement's raw data has expired (retention); only its metadata is kept.");
        }
        return (record, await store.ReadStatisticsAsync(record.Id, fromIndex, toIndex, selected, cancellationToken));
    }

    /// <summary>Spectrum of one channel over [from, to]; refuses spans over <see cref="SpectrumAnalyzer.MaxSamples"/> samples.</summary>
    public async Task<SpectrumResult?> SpectrumAsync(Requester requester, Guid id, string? from, string? to, string? channel, string? window, string? scale, int maxPoints, CancellationToken cancellationToken)
    {
        if (await catalog.FindAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var (fromIndex, toIndex) = AnalysisRange.Parse(record, from, to);
        var c = AnalysisRange.Channel(record, string.IsNullOrWhiteSpace(channel) ? "0" : channel);
        var w = ParseEnum<SpectrumWindow>(window, "window", SpectrumWindow.Hann);
        var s = ParseEnum<SpectrumScale>(scale, "scale", SpectrumScale.Db);
        var values = await ReadChannelAsync(record, c, fromIndex, toIndex, SpectrumAnalyzer.MaxSamples, "The spectrum takes at most 1,048,576 (2^20) samples", cancellationToken);
        if (values.Length < 2)
        {
            throw new AnalysisRequestException("to", "The span holds fewer than two samples.");
        }
        return SpectrumAnalyzer.Compute(values, record.SampleRate, w, s, maxPoints);
    }

    /// <summary>Frequency, duty cycle, rise/fall time and edge count of one channel over [from, to]; bounded by <see cref="MaxEdgeSamples"/>.</summary>
    public async Task<EdgeResult?> EdgesAsync(Requester requester, Guid id, string? from, string? to, string? channel, CancellationToken cancellationToken)
    {
        if (await catalog.FindAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var (fromIndex, toIndex) = AnalysisRange.Parse(record, from, to);
        var c = AnalysisRange.Channel(record, string.IsNullOrWhiteSpace(channel) ? "0" : channel);
        var values = await ReadChannelAsync(record, c, fromIndex, toIndex, MaxEdgeSamples, "Edge measurements read at most 10,000,000 raw samples", cancellationToken);
        return EdgeAnalyzer.Analyze(c, values, record.SampleRate);
    }

    /// <summary>
    /// The stored value of every channel at the sample nearest <paramref name="seconds"/> (what a cursor
    /// reads); null when the measurement is not visible, an empty list where there is no sample (a gap).
    /// </summary>
    public async Task<(long Index, IReadOnlyList<float> Values)?> ValuesAtAsync(Requester requester, Guid id, double seconds, CancellationToken cancellationToken)
    {
        if (await catalog.FindAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var index = (long)Math.Round(Math.Max(0, seconds) * (record.SampleRate > 0 ? record.SampleRate : 1));
        await foreach (var segment in store.ReadRawAsync(record.Id, index, index + 1, null, cancellationToken))
        {
            return (index, [.. Enumerable.Range(0, segment.Channels.Count).Select(k => segment.Channel(k)[0])]);
        }
        return (index, []);
    }

    private async Task<float[]> ReadChannelAsync(MeasurementRecord record, int channel, long fromIndex, long toIndex, long limit, string limitText, CancellationToken ct)
    {
        if (record.DataExpired)
        {
            throw new AnalysisRequestException("id", "The measurement's raw data has expired (retention); only its metadata is kept.");
        }
        var requested = toIndex - fromIndex;
        if (record.State == MeasurementState.Stopped && requested > limit)
        {
            throw new AnalysisRequestException("to", string.Create(CultureInfo.InvariantCulture,
                $"The span holds {requested:N0} samples ({requested / record.SampleRate:0.###} s at {record.SampleRate:0.###} Hz). {limitText} ({limit / record.SampleRate:0.###} s here): narrow the span."));
        }
        var values = new List<float>((int)Math.Min(Math.Max(requested, 0), limit));
        await foreach (var segment in store.ReadRawAsync(record.Id, fromIndex, toIndex, [channel], ct))
        {
            if (values.Count + (long)segment.Count > limit)
            {
                throw new AnalysisRequestException("to", string.Create(CultureInfo.InvariantCulture,
                    $"The span holds more than {limit:N0} samples. {limitText} ({limit / record.SampleRate:0.###} s here): narrow the span."));
            }
            values.AddRange(segment.Channel(0));
        }
        return [.. values];
    }

    private static T ParseEnum<T>(string? text, string parameter, T fallback) where T : struct, Enum
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }
        var normalized = text.Replace("-", "", StringComparison.Ordinal).Replace("_", "", StringComparison.Ordinal);
        return Enum.TryParse<T>(normalized, ignoreCase: true, out var value) && Enum.IsDefined(value) && !int.TryParse(text, out _)
            ? value
            : throw new AnalysisRequestException(parameter, $"'{text}' is not one of: {string.Join(", ", Enum.GetNames<T>().Select(n => n.ToLowerInvariant()))}.");
    }
}
