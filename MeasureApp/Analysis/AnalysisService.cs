using System.Globalization;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.History;

namespace MeasureApp.Analysis;

/// <summary>
/// Measurements on stored data for the cursors, the stats/spectrum/edges APIs and the spectrum view. Every
/// call first asks <see cref="MeasurementCatalog.FindReadableAsync"/> — the one access rule every read path uses —
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
        if (await catalog.FindReadableAsync(requester, id, cancellationToken) is not { } record)
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
        if (await catalog.FindReadableAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var (fromIndex, toIndex) = AnalysisRange.Parse(record, from, to);
        var c = AnalysisRange.Channel(record, string.IsNullOrWhiteSpace(channel) ? "0" : channel);
        var w = ParseEnum<SpectrumWindow>(window, "window", SpectrumWindow.Hann);
        var s = ParseEnum<SpectrumScale>(scale, "scale", SpectrumScale.Db);
        var (values, _) = await ReadChannelAsync(record, c, fromIndex, toIndex, SpectrumAnalyzer.MaxSamples, "The spectrum takes at most 1,048,576 (2^20) samples", cancellationToken);
        if (values.Length < 2)
        {
            throw new AnalysisRequestException("to", "The span holds fewer than two samples.");
        }
        return SpectrumAnalyzer.Compute(values, record.SampleRate, w, s, maxPoints);
    }

    /// <summary>Most raw samples (of one channel) a spectrogram reads: 10 M.</summary>
    public const long MaxSpectrogramSamples = 10_000_000;

    /// <summary>Most frames (columns) of a spectrogram.</summary>
    public const int MaxSpectrogramFrames = 1000;

    /// <summary>
    /// Spectrogram of one channel over [from, to]: frames of <paramref name="frame"/> samples (a power of two,
    /// 16–65536, default 1024), at most <paramref name="frames"/> of them (default 300), frequency rows reduced
    /// to <paramref name="rows"/>; reads at most <see cref="MaxSpectrogramSamples"/> raw samples and refuses more.
    /// </summary>
    public async Task<SpectrogramResult?> SpectrogramAsync(Requester requester, Guid id, string? from, string? to, string? channel, string? window, string? scale,
        string? frame, string? frames, string? rows, CancellationToken cancellationToken)
    {
        if (await catalog.FindReadableAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var (fromIndex, toIndex) = AnalysisRange.Parse(record, from, to);
        var c = AnalysisRange.Channel(record, string.IsNullOrWhiteSpace(channel) ? "0" : channel);
        var w = ParseEnum<SpectrumWindow>(window, "window", SpectrumWindow.Hann);
        var s = ParseEnum<SpectrumScale>(scale, "scale", SpectrumScale.Db);
        var frameLength = ParseInt(frame, "frame", 1024, 16, 65_536);
        if (!System.Numerics.BitOperations.IsPow2(frameLength))
        {
            throw new AnalysisRequestException("frame", $"frame must be a power of two from 16 to 65536 ({frameLength} is not).");
        }
        var maxFrames = ParseInt(frames, "frames", 300, 2, MaxSpectrogramFrames);
        var maxRows = ParseInt(rows, "rows", 256, 2, 4096);
        var (values, runs) = await ReadChannelAsync(record, c, fromIndex, toIndex, MaxSpectrogramSamples, "The spectrogram reads at most 10,000,000 raw samples", cancellationToken);
        if (!runs.Select((r, k) => (k + 1 < runs.Count ? runs[k + 1].Offset : values.Length) - r.Offset).Any(n => n >= frameLength))
        {
            throw new AnalysisRequestException("to", string.Create(CultureInfo.InvariantCulture,
                $"The span holds no {frameLength:N0} contiguous samples ({frameLength / record.SampleRate:0.######} s): widen it or choose a shorter frame."));
        }
        return SpectrumAnalyzer.Spectrogram(values, runs, record.SampleRate, w, s, frameLength, maxFrames, maxRows);
    }

    /// <summary>Frequency, duty cycle, rise/fall time and edge count of one channel over [from, to]; bounded by <see cref="MaxEdgeSamples"/>.</summary>
    public async Task<EdgeResult?> EdgesAsync(Requester requester, Guid id, string? from, string? to, string? channel, CancellationToken cancellationToken)
    {
        if (await catalog.FindReadableAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var (fromIndex, toIndex) = AnalysisRange.Parse(record, from, to);
        var c = AnalysisRange.Channel(record, string.IsNullOrWhiteSpace(channel) ? "0" : channel);
        var (values, runs) = await ReadChannelAsync(record, c, fromIndex, toIndex, MaxEdgeSamples, "Edge measurements read at most 10,000,000 raw samples", cancellationToken);
        return EdgeAnalyzer.Analyze(c, values, record.SampleRate, [.. runs.Skip(1).Select(r => r.Offset)]);
    }

    /// <summary>
    /// The stored value of every channel at the sample nearest <paramref name="seconds"/> (what a cursor
    /// reads); null when the measurement is not visible, an empty list where there is no sample (a gap).
    /// </summary>
    public async Task<(long Index, IReadOnlyList<float> Values)?> ValuesAtAsync(Requester requester, Guid id, double seconds, CancellationToken cancellationToken)
    {
        if (await catalog.FindReadableAsync(requester, id, cancellationToken) is not { } record)
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

    /// <summary>
    /// The raw samples of one channel in [fromIndex, toIndex) end to end, and where each contiguous run starts
    /// (Offset into the values, sample Index): a new run begins where the stored chunks are not contiguous — the
    /// sample indices jump, or the next chunk's first sample is not one sample period after the previous one's last.
    /// </summary>
    private async Task<(float[] Values, List<(int Offset, long Index)> Runs)> ReadChannelAsync(MeasurementRecord record, int channel, long fromIndex, long toIndex, long limit, string limitText, CancellationToken ct)
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
        var runs = new List<(int Offset, long Index)>();
        var period = 1e9 / record.SampleRate;
        long? nextIndex = null;
        var lastNs = 0L;
        await foreach (var segment in store.ReadRawAsync(record.Id, fromIndex, toIndex, [channel], ct))
        {
            if (values.Count + (long)segment.Count > limit)
            {
                throw new AnalysisRequestException("to", string.Create(CultureInfo.InvariantCulture,
                    $"The span holds more than {limit:N0} samples. {limitText} ({limit / record.SampleRate:0.###} s here): narrow the span."));
            }
            var step = segment.TimeOfSampleNs(0, record.SampleRate) - lastNs;
            if (nextIndex != segment.FirstIndex || step < period / 2 || step > period * 1.5)
            {
                runs.Add((values.Count, segment.FirstIndex));
            }
            values.AddRange(segment.Channel(0));
            nextIndex = segment.FirstIndex + segment.Count;
            lastNs = segment.TimeOfSampleNs(segment.Count - 1, record.SampleRate);
        }
        return ([.. values], runs);
    }

    private static int ParseInt(string? text, string parameter, int fallback, int min, int max)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new AnalysisRequestException(parameter, string.Create(CultureInfo.InvariantCulture, $"{parameter} must be a whole number from {min} to {max}."));
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
