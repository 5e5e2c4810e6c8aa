namespace MeasureApp.Acquisition.Storage;

/// <summary>Exact statistics of one channel over a range of samples.</summary>
/// <param name="Channel">Channel number.</param>
/// <param name="Count">Samples in the range.</param>
/// <param name="Min">Smallest value.</param>
/// <param name="Max">Largest value.</param>
/// <param name="Mean">Mean.</param>
/// <param name="Rms">Root mean square.</param>
/// <param name="Std">Population standard deviation.</param>
public sealed record ChannelStatistics(int Channel, long Count, double Min, double Max, double Mean, double Rms, double Std)
{
    /// <summary>Max − min.</summary>
    public double PeakToPeak => Max - Min;
}

/// <summary>Statistics of a range per channel, with what it took to compute them.</summary>
public sealed record RangeStatistics
{
    /// <summary>First sample index covered.</summary>
    public required long FromIndex { get; init; }

    /// <summary>Sample index after the last one covered (the request's end clipped to the data).</summary>
    public required long ToIndex { get; init; }

    /// <summary>One entry per requested channel, in request order.</summary>
    public required IReadOnlyList<ChannelStatistics> Channels { get; init; }

    /// <summary>Pyramid rows whose sums were used (diagnostic).</summary>
    public long SummaryRowsRead { get; init; }

    /// <summary>Raw samples per channel read (diagnostic: at most two partial chunks once the sums are built).</summary>
    public long RawSamplesRead { get; init; }

    /// <summary>Database round trips the store made for the answer (diagnostic; 0 where the store does not count).</summary>
    public int RoundTrips { get; init; }
}

/// <summary>
/// Adds up pieces of a range — raw runs and whole pyramid rows, in any order — into exact statistics:
/// min/max compared, count/sum/M2 merged with Chan's formula in double.
/// </summary>
public sealed class StatisticsAccumulator
{
    private readonly int[] _channels;
    private readonly ChannelMoments[] _moments;
    private readonly float[] _min;
    private readonly float[] _max;

    /// <summary>An empty accumulator for the given channel numbers.</summary>
    public StatisticsAccumulator(int[] channels)
    {
        ArgumentNullException.ThrowIfNull(channels);
        _channels = channels;
        _moments = new ChannelMoments[channels.Length];
        _min = new float[channels.Length];
        _max = new float[channels.Length];
        _min.AsSpan().Fill(float.PositiveInfinity);
        _max.AsSpan().Fill(float.NegativeInfinity);
    }

    /// <summary>Pyramid rows added.</summary>
    public long RowsAdded { get; private set; }

    /// <summary>Raw samples per channel added.</summary>
    public long RawSamplesAdded { get; private set; }

    /// <summary>Adds the samples of <paramref name="chunk"/> inside [from, to).</summary>
    public void AddRaw(StoredChunk chunk, long from, long to)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var start = Math.Max(from, chunk.FirstSampleIndex);
        var end = Math.Min(to, chunk.FirstSampleIndex + chunk.SampleCount);
        if (start >= end)
        {
            return;
        }
        var offset = (int)(start - chunk.FirstSampleIndex);
        var count = (int)(end - start);
        for (var k = 0; k < _channels.Length; k++)
        {
            var values = chunk.Channel(_channels[k]).Slice(offset, count);
            var (min, max) = values.Length >= 16 ? Live.M4.MinMax(values) : Live.M4.MinMaxScalar(values);
            _min[k] = Math.Min(_min[k], min);
            _max[k] = Math.Max(_max[k], max);
            _moments[k] = ChannelMoments.Merge(_moments[k], ChannelMoments.Of(values));
        }
        RawSamplesAdded += count;
    }

    /// <summary>Adds a whole pyramid row (level ≥ 3, with <see cref="PyramidRow.Moments"/>).</summary>
    public void AddRow(PyramidRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var moments = row.Moments ?? throw new ArgumentException("The row has no sums.", nameof(row));
        for (var k = 0; k < _channels.Length; k++)
        {
            ref readonly var s = ref row.Summary(0, _channels[k]);
            _min[k] = Math.Min(_min[k], s.Min);
            _max[k] = Math.Max(_max[k], s.Max);
            _moments[k] = ChannelMoments.Merge(_moments[k], moments[_channels[k]]);
        }
        RowsAdded++;
    }

    /// <summary>The statistics so far (count 0 and NaN values for a range without samples).</summary>
    public RangeStatistics ToStatistics(long fromIndex, long toIndex) => new()
    {
        FromIndex = fromIndex,
        ToIndex = toIndex,
        Channels = [.. _channels.Select((c, k) => _moments[k].Count == 0
            ? new ChannelStatistics(c, 0, double.NaN, double.NaN, double.NaN, double.NaN, double.NaN)
            : new ChannelStatistics(c, _moments[k].Count, _min[k], _max[k], _moments[k].Mean, _moments[k].Rms, _moments[k].Std))],
        SummaryRowsRead = RowsAdded,
        RawSamplesRead = RawSamplesAdded,
    };
}
