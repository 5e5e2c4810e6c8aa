using System.Collections.Concurrent;
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
    /// <summary>Stopped measurements whose time line is kept in memory (a crude bound: the set is emptied when full).</summary>
    public const int CachedTimeLines = 256;

    // A stopped measurement's time line does not change, and reading it is a pass over every chunk row
    // (36,000 for an hour in 0.1-s chunks: ~1 s on a loaded SQLite, 20× the statistics themselves), so the
    // cursors' many small ranges read it once. Keyed by id; valid while it ends where the record says.
    private readonly ConcurrentDictionary<Guid, SampleRuns> _stoppedTimeLines = new();

    /// <summary>Most raw samples (of one channel) the edge analysis reads: 10 M, 40 MB of float32.</summary>
    public const long MaxEdgeSamples = 10_000_000;

    /// <summary>
    /// Exact statistics per channel of [from, to] (seconds since the first sample on the stored time line, both
    /// inclusive: the samples an export of the same from/to writes), with the time line to place them.
    /// </summary>
    public async Task<(MeasurementRecord Record, RangeStatistics Statistics, SampleRuns Times)?> StatisticsAsync(Requester requester, Guid id, string? from, string? to, string? channels, CancellationToken cancellationToken)
    {
        if (await catalog.FindReadableAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var times = await TimesAsync(record, cancellationToken);
        var (fromIndex, toIndex) = AnalysisRange.Parse(record, times, from, to);
        var selected = AnalysisRange.Channels(record, channels);
        return (record, await store.ReadStatisticsAsync(record.Id, fromIndex, toIndex, selected, cancellationToken), times);
    }

    /// <summary>
    /// Spectrum of one channel over [from, to]; refuses spans over <see cref="SpectrumAnalyzer.MaxSamples"/> samples.
    /// One FFT never joins samples across a gap (they are not one signal in time): a span holding gaps is
    /// transformed over its longest gap-free run, and the answer says which (<see cref="SpectrumResult.FromSeconds"/>,
    /// <see cref="SpectrumResult.Gaps"/>, <see cref="SpectrumResult.Note"/>).
    /// </summary>
    public async Task<SpectrumResult?> SpectrumAsync(Requester requester, Guid id, string? from, string? to, string? channel, string? window, string? scale, int maxPoints, CancellationToken cancellationToken)
    {
        if (await catalog.FindReadableAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var times = await TimesAsync(record, cancellationToken);
        var (fromIndex, toIndex) = AnalysisRange.Parse(record, times, from, to);
        var c = AnalysisRange.Channel(record, string.IsNullOrWhiteSpace(channel) ? "0" : channel);
        var w = ParseEnum<SpectrumWindow>(window, "window", SpectrumWindow.Hann);
        var s = ParseEnum<SpectrumScale>(scale, "scale", SpectrumScale.Db);
        var (values, runs) = await ReadChannelAsync(record, times, c, fromIndex, toIndex, SpectrumAnalyzer.MaxSamples, "The spectrum takes at most 1,048,576 (2^20) samples", cancellationToken);
        if (values.Length < 2)
        {
            throw new AnalysisRequestException("to", "The span holds fewer than two samples.");
        }
        // The longest gap-free run (the first of equals): one transform of it, placed on the time line.
        var longest = Enumerable.Range(0, runs.Count).Select(k => (k, Length: (k + 1 < runs.Count ? runs[k + 1].Offset : values.Length) - runs[k].Offset))
            .Aggregate((a, b) => b.Length > a.Length ? b : a);
        var run = runs[longest.k];
        if (longest.Length < 2)
        {
            throw new AnalysisRequestException("to", string.Create(CultureInfo.InvariantCulture,
                $"The span holds {runs.Count - 1} gap(s) and no two contiguous samples: widen it."));
        }
        var first = times.SecondsOf(run.Index);
        var last = times.SecondsOf(run.Index + longest.Length - 1);
        var note = runs.Count == 1 ? null : string.Create(CultureInfo.InvariantCulture,
            $"The span crosses {runs.Count - 1} gap(s) in the data ({GapText(times, runs)}); one FFT does not join samples across a gap, so this spectrum is of the longest gap-free run, {first:0.#########}–{last:0.#########} s ({longest.Length:N0} of {values.Length:N0} samples).");
        return SpectrumAnalyzer.Compute(values.AsSpan(run.Offset, longest.Length), record.SampleRate, w, s, maxPoints)
            with { FromSeconds = first, ToSeconds = last, Gaps = runs.Count - 1, Note = note };
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
        var times = await TimesAsync(record, cancellationToken);
        var (fromIndex, toIndex) = AnalysisRange.Parse(record, times, from, to);
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
        var (values, runs) = await ReadChannelAsync(record, times, c, fromIndex, toIndex, MaxSpectrogramSamples, "The spectrogram reads at most 10,000,000 raw samples", cancellationToken);
        if (!runs.Select((r, k) => (k + 1 < runs.Count ? runs[k + 1].Offset : values.Length) - r.Offset).Any(n => n >= frameLength))
        {
            throw new AnalysisRequestException("to", string.Create(CultureInfo.InvariantCulture,
                $"The span holds no {frameLength:N0} contiguous samples ({frameLength / record.SampleRate:0.######} s): widen it or choose a shorter frame."));
        }
        return SpectrumAnalyzer.Spectrogram(values, runs, record.SampleRate, w, s, frameLength, maxFrames, maxRows, times.SecondsOf);
    }

    /// <summary>Frequency, duty cycle, rise/fall time and edge count of one channel over [from, to]; bounded by <see cref="MaxEdgeSamples"/>.</summary>
    public async Task<EdgeResult?> EdgesAsync(Requester requester, Guid id, string? from, string? to, string? channel, CancellationToken cancellationToken)
    {
        if (await catalog.FindReadableAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var times = await TimesAsync(record, cancellationToken);
        var (fromIndex, toIndex) = AnalysisRange.Parse(record, times, from, to);
        var c = AnalysisRange.Channel(record, string.IsNullOrWhiteSpace(channel) ? "0" : channel);
        var (values, runs) = await ReadChannelAsync(record, times, c, fromIndex, toIndex, MaxEdgeSamples, "Edge measurements read at most 10,000,000 raw samples", cancellationToken);
        return EdgeAnalyzer.Analyze(c, values, record.SampleRate, [.. runs.Skip(1).Select(r => r.Offset)]);
    }

    /// <summary>
    /// The stored value of every channel at the sample nearest <paramref name="seconds"/> on the stored time line
    /// (what a cursor reads); null when the measurement is not visible, an empty list where no sample lies within
    /// one sample period (inside a gap, or no data).
    /// </summary>
    public async Task<(long Index, IReadOnlyList<float> Values)?> ValuesAtAsync(Requester requester, Guid id, double seconds, CancellationToken cancellationToken)
    {
        if (await catalog.FindReadableAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        var times = record.DataExpired ? new SampleRuns([], 0, record.SampleRate) : await ReadTimeLineAsync(record, cancellationToken);
        if (AnalysisRange.Nearest(times, seconds) is not { } nearest || Math.Abs(nearest.Seconds - seconds) > 1 / times.SampleRate)
        {
            return (-1, []);
        }
        var index = nearest.Index;
        await foreach (var segment in store.ReadRawAsync(record.Id, index, index + 1, null, cancellationToken))
        {
            return (index, [.. Enumerable.Range(0, segment.Channels.Count).Select(k => segment.Channel(k)[0])]);
        }
        return (index, []);
    }

    /// <summary>
    /// The stored time line of a measurement (where its samples lie, where gaps are): what cursors snap to.
    /// Null when the measurement is unknown or not visible to the requester.
    /// </summary>
    public async Task<SampleRuns?> TimeLineAsync(Requester requester, Guid id, CancellationToken cancellationToken)
    {
        if (await catalog.FindAsync(requester, id, cancellationToken) is not { } record)
        {
            return null;
        }
        return record.DataExpired ? new SampleRuns([], 0, record.SampleRate) : await ReadTimeLineAsync(record, cancellationToken);
    }

    // The stored time line every range is mapped on; expired data has none (and says so).
    private async Task<SampleRuns> TimesAsync(MeasurementRecord record, CancellationToken cancellationToken)
    {
        if (record.DataExpired)
        {
            throw new AnalysisRequestException("id", "The measurement's raw data has expired (retention); only its metadata is kept.");
        }
        return await ReadTimeLineAsync(record, cancellationToken);
    }

    private async Task<SampleRuns> ReadTimeLineAsync(MeasurementRecord record, CancellationToken cancellationToken)
    {
        var stopped = record.State == MeasurementState.Stopped;
        if (stopped && _stoppedTimeLines.TryGetValue(record.Id, out var kept) && kept.EndIndex == record.SampleCount)
        {
            return kept;
        }
        var times = await store.ReadRunsAsync(record.Id, record.SampleRate, cancellationToken);
        // Only a complete one: a stopped measurement whose chunks are still arriving (a spool replay) is read again.
        if (stopped && times.EndIndex == record.SampleCount && times.Runs.Count > 0)
        {
            if (_stoppedTimeLines.Count >= CachedTimeLines)
            {
                _stoppedTimeLines.Clear();
            }
            _stoppedTimeLines[record.Id] = times;
        }
        return times;
    }

    // "gap after 0.999 s (2 s)" for each gap between the runs of a read.
    private static string GapText(SampleRuns times, List<(int Offset, long Index)> runs) =>
        string.Join("; ", runs.Skip(1).Select((r, k) =>
        {
            var lastBefore = runs[k].Index + (r.Offset - runs[k].Offset) - 1;
            var end = times.SecondsOf(lastBefore);
            return string.Create(CultureInfo.InvariantCulture, $"{end:0.#########}–{times.SecondsOf(r.Index):0.#########} s");
        }).Take(3)) + (runs.Count > 4 ? "; …" : "");

    /// <summary>
    /// The raw samples of one channel in [fromIndex, toIndex) end to end, and where each contiguous run starts
    /// (Offset into the values, sample Index): a new run begins where the sample indices jump or the time line has a
    /// gap (<see cref="SampleRuns.GapBetween"/>, the same place the chart breaks its line).
    /// </summary>
    private async Task<(float[] Values, List<(int Offset, long Index)> Runs)> ReadChannelAsync(MeasurementRecord record, SampleRuns times, int channel, long fromIndex, long toIndex, long limit, string limitText, CancellationToken ct)
    {
        var requested = toIndex - fromIndex;
        if (record.State == MeasurementState.Stopped && requested > limit)
        {
            throw new AnalysisRequestException("to", string.Create(CultureInfo.InvariantCulture,
                $"The span holds {requested:N0} samples ({requested / record.SampleRate:0.###} s at {record.SampleRate:0.###} Hz). {limitText} ({limit / record.SampleRate:0.###} s here): narrow the span."));
        }
        var values = new List<float>((int)Math.Min(Math.Max(requested, 0), limit));
        var runs = new List<(int Offset, long Index)>();
        long? nextIndex = null;
        await foreach (var segment in store.ReadRawAsync(record.Id, fromIndex, toIndex, [channel], ct))
        {
            if (values.Count + (long)segment.Count > limit)
            {
                throw new AnalysisRequestException("to", string.Create(CultureInfo.InvariantCulture,
                    $"The span holds more than {limit:N0} samples. {limitText} ({limit / record.SampleRate:0.###} s here): narrow the span."));
            }
            if (nextIndex is not { } next || next != segment.FirstIndex || times.GapBetween(next - 1, segment.FirstIndex))
            {
                runs.Add((values.Count, segment.FirstIndex));
            }
            values.AddRange(segment.Channel(0));
            nextIndex = segment.FirstIndex + segment.Count;
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
