using MeasureApp.Acquisition.Blocks;

namespace MeasureApp.Acquisition.Storage;

/// <summary>Where a regular run of stored samples starts: its first sample index and that sample's time stamp.</summary>
/// <param name="FirstIndex">Sample index of the run's first sample.</param>
/// <param name="T0Ns">Time of that sample, ns since the epoch (UTC).</param>
/// <param name="AfterGap">
/// True when the run does not continue the previous one in time (more than half a sample period away
/// from where the previous run predicts it): a chart breaks its line here.
/// </param>
public readonly record struct SampleRun(long FirstIndex, long T0Ns, bool AfterGap);

/// <summary>
/// The time line of a stored measurement: every sample lies at its own stored time, not at
/// index / rate. Within a run times follow <see cref="SampleTime"/>; every discontinuity (gap, overrun,
/// restart, late frame) starts a new run and a new stored chunk at its own time stamp. Maps sample
/// indices to seconds (counted, like exports, from the time the first run puts at index 0) and back,
/// and says where a drawn line must break.
/// </summary>
public sealed class SampleRuns
{
    private readonly SampleRun[] _runs;

    /// <summary>A time line of <paramref name="runs"/> (in index order; the first one anchors the measurement) up to <paramref name="endIndex"/>.</summary>
    public SampleRuns(IEnumerable<SampleRun> runs, long endIndex, double sampleRate)
    {
        ArgumentNullException.ThrowIfNull(runs);
        _runs = [.. runs];
        SampleRate = sampleRate > 0 && double.IsFinite(sampleRate) ? sampleRate : 1;
        EndIndex = endIndex;
        OriginNs = _runs.Length == 0 ? 0 : _runs[0].T0Ns - SampleTime.OffsetNs(_runs[0].FirstIndex, SampleRate);
    }

    /// <summary>Samples per second per channel.</summary>
    public double SampleRate { get; }

    /// <summary>Sample index after the last stored one.</summary>
    public long EndIndex { get; }

    /// <summary>Time of second 0 (what index 0 of the first run would be), ns since the epoch.</summary>
    public long OriginNs { get; }

    /// <summary>The runs, in index order.</summary>
    public IReadOnlyList<SampleRun> Runs => _runs;

    /// <summary>Seconds just after the last stored sample (the length of the measurement in time, gaps included).</summary>
    public double EndSeconds => SecondsOf(EndIndex);

    /// <summary>
    /// The time line of stored chunks (in sample order): a chunk starts a run unless its time stamp is
    /// exactly where its predecessor's run puts it (within rounding); a chunk that is not adjacent in
    /// index, or lies more than half a period off, starts one after a gap.
    /// </summary>
    public static SampleRuns FromChunks(IEnumerable<(long FirstIndex, long T0Ns, int SampleCount)> chunks, double sampleRate)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var runs = new List<SampleRun>();
        long end = 0;
        (long FirstIndex, long T0Ns)? previous = null;
        foreach (var (first, t0, count) in chunks)
        {
            var run = previous is { } p ? RunStart(first, t0, p.FirstIndex, p.T0Ns, first == end, sampleRate) : new SampleRun(first, t0, false);
            if (run is { } r)
            {
                runs.Add(r);
            }
            previous = (first, t0);
            end = first + count;
        }
        return new SampleRuns(runs, end, sampleRate);
    }

    /// <summary>
    /// Whether a chunk at (<paramref name="first"/>, <paramref name="t0Ns"/>) starts a run given the
    /// chunk before it; null when it continues that chunk's run.
    /// </summary>
    public static SampleRun? RunStart(long first, long t0Ns, long previousFirst, long previousT0Ns, bool adjacent, double sampleRate)
    {
        var rate = sampleRate > 0 ? sampleRate : 1;
        var off = t0Ns - SampleTime.TimeOfNs(previousT0Ns, previousFirst, first, rate);
        if (adjacent && off == 0)
        {
            return null;
        }
        return new SampleRun(first, t0Ns, !adjacent || Math.Abs((double)off) > 0.5e9 / rate);
    }

    /// <summary>Time of sample <paramref name="index"/>, ns since the epoch.</summary>
    public long TimeOfNs(long index)
    {
        if (_runs.Length == 0)
        {
            return OriginNs + SampleTime.OffsetNs(index, SampleRate);
        }
        var r = _runs[RunOf(index)];
        return SampleTime.TimeOfNs(r.T0Ns, r.FirstIndex, index, SampleRate);
    }

    /// <summary>Seconds of sample <paramref name="index"/> from second 0 (what an export's <c>time=seconds</c> prints).</summary>
    public double SecondsOf(long index) => (TimeOfNs(index) - OriginNs) / 1e9;

    /// <summary>Whether a gap lies between samples <paramref name="earlier"/> and <paramref name="later"/> (a line between them must break).</summary>
    public bool GapBetween(long earlier, long later)
    {
        if (later <= earlier || _runs.Length < 2)
        {
            return false;
        }
        for (var i = RunOf(earlier) + 1; i < _runs.Length && _runs[i].FirstIndex <= later; i++)
        {
            if (_runs[i].AfterGap)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The first sample index at or after <paramref name="seconds"/>; <see cref="EndIndex"/> when none.</summary>
    public long FirstAtOrAfter(double seconds)
    {
        var ns = OriginNs + NsOf(seconds);
        var i = RunAtOrBefore(ns);
        if (i < 0)
        {
            return _runs.Length == 0 ? Math.Min(EndIndex, (long)Math.Ceiling(Math.Max(0, seconds) * SampleRate)) : _runs[0].FirstIndex;
        }
        var (first, length) = Extent(i);
        var k = (long)Math.Clamp(Math.Ceiling((ns - _runs[i].T0Ns) * SampleRate / 1e9), 0, length);
        while (k > 0 && TimeOfNs(first + k - 1) >= ns)
        {
            k--;
        }
        while (k < length && TimeOfNs(first + k) < ns)
        {
            k++;
        }
        return first + k;
    }

    /// <summary>The index just after the last sample at or before <paramref name="seconds"/>; the first index when none.</summary>
    public long EndAtOrBefore(double seconds)
    {
        var ns = OriginNs + NsOf(seconds);
        var i = RunAtOrBefore(ns);
        if (i < 0)
        {
            return _runs.Length == 0 ? Math.Clamp((long)Math.Floor(seconds * SampleRate) + 1, 0, EndIndex) : _runs[0].FirstIndex;
        }
        var (first, length) = Extent(i);
        if (length <= 0)
        {
            return first;
        }
        var k = (long)Math.Clamp(Math.Floor((ns - _runs[i].T0Ns) * SampleRate / 1e9), 0, length - 1);
        while (k + 1 < length && TimeOfNs(first + k + 1) <= ns)
        {
            k++;
        }
        while (k >= 0 && TimeOfNs(first + k) > ns)
        {
            k--;
        }
        return first + k + 1;
    }

    /// <summary>
    /// The points of a line through samples (<paramref name="indices"/>, <paramref name="values"/>) at
    /// their own times in seconds, with a NaN value (at the time just after the last sample before it)
    /// where a gap lies between two points, so a chart draws the gap as a gap.
    /// </summary>
    public IEnumerable<(double Seconds, float Value)> Line(IReadOnlyList<long> indices, IReadOnlyList<float> values)
    {
        ArgumentNullException.ThrowIfNull(indices);
        ArgumentNullException.ThrowIfNull(values);
        for (var i = 0; i < indices.Count; i++)
        {
            if (i > 0 && GapBetween(indices[i - 1], indices[i]))
            {
                yield return (SecondsOf(indices[i - 1]) + (0.5 / SampleRate), float.NaN);
            }
            yield return (SecondsOf(indices[i]), values[i]);
        }
    }

    /// <summary>Nanoseconds of a number of seconds, rounded (what an export prints with nine decimals reads back exactly).</summary>
    public static long NsOf(double seconds) => (long)Math.Round(seconds * 1e9, MidpointRounding.AwayFromZero);

    // The run holding an index: the last one starting at or before it (the first run for earlier indices).
    private int RunOf(long index)
    {
        int lo = 0, hi = _runs.Length - 1;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) / 2;
            if (_runs[mid].FirstIndex <= index)
            {
                lo = mid;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return lo;
    }

    // The last run whose first sample is at or before a time (runs are in time order); -1 when none.
    private int RunAtOrBefore(long ns)
    {
        int lo = 0, hi = _runs.Length - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) / 2;
            if (_runs[mid].T0Ns <= ns)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    private (long First, long Length) Extent(int run)
    {
        var first = _runs[run].FirstIndex;
        var end = run + 1 < _runs.Length ? _runs[run + 1].FirstIndex : EndIndex;
        return (first, Math.Max(0, end - first));
    }
}
