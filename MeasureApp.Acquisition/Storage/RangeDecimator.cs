namespace MeasureApp.Acquisition.Storage;

/// <summary>
/// An M4 answer for a stored range: columns tiling the sample axis and, per channel, the first, min,
/// max and last sample of every column (time order, duplicates merged). Drawn as a line it looks the
/// same as all the samples it stands for.
/// </summary>
public sealed record DecimatedRange
{
    /// <summary>Measurement id.</summary>
    public required Guid MeasurementId { get; init; }

    /// <summary>First sample index covered (the request's start, or the start of the entry containing it).</summary>
    public required long FromIndex { get; init; }

    /// <summary>Sample index after the last one covered.</summary>
    public required long ToIndex { get; init; }

    /// <summary>
    /// Where the answer came from: 0 = raw samples, 1 = 64-sample buckets, 2 = 1024-sample buckets,
    /// 3 = per-chunk summaries, L ≥ 4 = summaries of 4^(L−3) chunks (the coarsest level used; an
    /// unfinished tail may come from finer ones).
    /// </summary>
    public required int Level { get; init; }

    /// <summary>Column c covers [ColumnStarts[c], ColumnStarts[c + 1]) (the last one up to <see cref="ToIndex"/>).</summary>
    public required IReadOnlyList<long> ColumnStarts { get; init; }

    /// <summary>M4 points per requested channel.</summary>
    public required IReadOnlyList<DecimatedChannel> Channels { get; init; }

    /// <summary>
    /// The measurement's time line, set by history reads: place point i of a channel at
    /// <see cref="SampleRuns.SecondsOf"/> of its index and break the line at gaps (<see cref="SampleRuns.Line"/>).
    /// Null when the reader did not ask for it.
    /// </summary>
    public SampleRuns? Times { get; init; }

    /// <summary>Pyramid rows read to answer (diagnostic).</summary>
    public long SummaryRowsRead { get; init; }

    /// <summary>Raw samples per channel read to answer (diagnostic: 0 when the pyramid answered).</summary>
    public long RawSamplesRead { get; init; }

    /// <summary>An answer with no data (unknown measurement or a range outside the data).</summary>
    public static DecimatedRange Empty(Guid measurementId, long fromIndex) => new()
    {
        MeasurementId = measurementId,
        FromIndex = fromIndex,
        ToIndex = fromIndex,
        Level = 0,
        ColumnStarts = [],
        Channels = [],
    };
}

/// <summary>M4 points of one channel: sample indices and values, in time order.</summary>
/// <param name="Channel">Channel number.</param>
/// <param name="Indices">Sample index of each point (seconds = index / sample rate).</param>
/// <param name="Values">Value of each point.</param>
public sealed record DecimatedChannel(int Channel, IReadOnlyList<long> Indices, IReadOnlyList<float> Values);

/// <summary>Builds M4 columns from raw chunks or from pyramid entries.</summary>
public static class RangeDecimator
{
    /// <summary>Channel numbers to read: all when <paramref name="channels"/> is null or empty; unknown ones are refused.</summary>
    public static int[] SelectChannels(IReadOnlyList<int>? channels, int channelCount)
    {
        if (channels is null || channels.Count == 0)
        {
            return [.. Enumerable.Range(0, channelCount)];
        }
        foreach (var c in channels)
        {
            if (c < 0 || c >= channelCount)
            {
                throw new ArgumentOutOfRangeException(nameof(channels), c, $"Channel {c} does not exist; the measurement has channels 0 to {channelCount - 1}.");
            }
        }
        return [.. channels];
    }

    /// <summary>
    /// Columns of equal width (±1 sample) over [from, to) to be filled with raw samples; one column per
    /// sample when the range has no more samples than <paramref name="pixels"/>.
    /// </summary>
    public static DecimationGrid ForRaw(long from, long to, int pixels, int[] selectedChannels)
    {
        ArgumentNullException.ThrowIfNull(selectedChannels);
        ArgumentOutOfRangeException.ThrowIfLessThan(pixels, 1);
        var span = Math.Max(0, to - from);
        var columns = (int)Math.Min(pixels, span);
        var grid = new DecimationGrid(selectedChannels, columns);
        for (var c = 0; c < columns; c++)
        {
            grid.AddColumn(from + (long)((Int128)span * c / columns), from + (long)((Int128)span * (c + 1) / columns));
        }
        return grid;
    }

    /// <summary>
    /// Columns made of whole pyramid entries (they tile the axis in order), about (to − from) / pixels
    /// samples wide: each column ends at the entry boundary nearest its target, so its min and max
    /// are exactly those of the samples it covers. At most <paramref name="pixels"/> columns; close to
    /// that many when there are at least as many entries as pixels.
    /// </summary>
    public static DecimationGrid ForEntries(IReadOnlyList<(PyramidRow Row, int Entry)> entries, long from, long to, int pixels, int[] selectedChannels)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(selectedChannels);
        ArgumentOutOfRangeException.ThrowIfLessThan(pixels, 1);
        var grid = new DecimationGrid(selectedChannels, Math.Min(pixels, entries.Count));
        var span = Math.Max(1, to - from);
        long Target(int column) => from + (long)((Int128)span * (column + 1) / pixels);
        var column = 0;
        var open = false;
        for (var i = 0; i < entries.Count; i++)
        {
            var (row, entry) = entries[i];
            var end = row.EntryEnd(entry);
            if (!open)
            {
                grid.AddColumn(row.EntryStart(entry), end);
                open = true;
            }
            grid.MergeEntry(row, entry, end);
            if (column == pixels - 1)
            {
                // The last column takes whatever is left.
                continue;
            }
            var target = Target(column);
            var nextEnd = i + 1 < entries.Count ? entries[i + 1].Row.EntryEnd(entries[i + 1].Entry) : long.MaxValue;
            if (end >= target || (nextEnd > target && target - end < nextEnd - target))
            {
                column++;
                while (column < pixels - 1 && Target(column) <= end)
                {
                    column++;
                }
                open = false;
            }
        }
        return grid;
    }
}

/// <summary>Per-column, per-channel running summaries; turned into M4 points by <see cref="ToRange"/>.</summary>
public sealed class DecimationGrid
{
    private readonly int[] _channels;
    private readonly List<long> _starts;
    private readonly List<long> _ends;
    private readonly List<long> _dataStart;
    private readonly List<long> _dataEnd;
    private readonly List<ChannelSummary> _summaries;
    private int _rawCursor;

    internal DecimationGrid(int[] channels, int capacity)
    {
        _channels = channels;
        _starts = new List<long>(capacity);
        _ends = new List<long>(capacity);
        _dataStart = new List<long>(capacity);
        _dataEnd = new List<long>(capacity);
        _summaries = new List<ChannelSummary>(capacity * channels.Length);
    }

    /// <summary>Raw samples per channel added so far.</summary>
    public long RawSamples { get; private set; }

    /// <summary>Columns so far.</summary>
    public int ColumnCount => _starts.Count;

    internal void AddColumn(long start, long end)
    {
        _starts.Add(start);
        _ends.Add(end);
        _dataStart.Add(-1);
        _dataEnd.Add(-1);
        for (var k = 0; k < _channels.Length; k++)
        {
            _summaries.Add(default);
        }
    }

    /// <summary>Adds a pyramid entry to the last column (entries arrive in order).</summary>
    internal void MergeEntry(PyramidRow row, int entry, long end)
    {
        var column = _starts.Count - 1;
        _ends[column] = Math.Max(_ends[column], end);
        var first = _dataStart[column] < 0;
        if (first)
        {
            _dataStart[column] = row.EntryStart(entry);
        }
        _dataEnd[column] = end;
        var at = column * _channels.Length;
        for (var k = 0; k < _channels.Length; k++)
        {
            ref readonly var s = ref row.Summary(entry, _channels[k]);
            _summaries[at + k] = first ? s : ChannelSummary.Merge(_summaries[at + k], s);
        }
    }

    /// <summary>Adds the samples of a chunk that fall into the columns (chunks arrive in sample order).</summary>
    public void AddRaw(StoredChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var chunkStart = chunk.FirstSampleIndex;
        var chunkEnd = chunkStart + chunk.SampleCount;
        while (_rawCursor < _starts.Count && _ends[_rawCursor] <= chunkStart)
        {
            _rawCursor++;
        }
        for (var column = _rawCursor; column < _starts.Count && _starts[column] < chunkEnd; column++)
        {
            var start = Math.Max(chunkStart, _starts[column]);
            var end = Math.Min(chunkEnd, _ends[column]);
            if (start >= end)
            {
                continue;
            }
            var first = _dataStart[column] < 0;
            if (first)
            {
                _dataStart[column] = start;
            }
            _dataEnd[column] = end;
            RawSamples += end - start;
            var at = column * _channels.Length;
            for (var k = 0; k < _channels.Length; k++)
            {
                var run = chunk.Channel(_channels[k]).Slice((int)(start - chunkStart), (int)(end - start));
                var s = ChannelSummary.Of(run, start);
                _summaries[at + k] = first ? s : ChannelSummary.Merge(_summaries[at + k], s);
            }
        }
    }

    /// <summary>The M4 points: per column first, min, max, last in time order, without repeating a sample.</summary>
    public DecimatedRange ToRange(Guid measurementId, int level, long summaryRowsRead)
    {
        var columnStarts = new List<long>(_starts.Count);
        var indices = new List<long>[_channels.Length];
        var values = new List<float>[_channels.Length];
        for (var k = 0; k < _channels.Length; k++)
        {
            indices[k] = new List<long>(4 * _starts.Count);
            values[k] = new List<float>(4 * _starts.Count);
        }
        Span<(long Index, float Value)> points = stackalloc (long, float)[4];
        long from = -1, to = -1;
        for (var column = 0; column < _starts.Count; column++)
        {
            if (_dataStart[column] < 0)
            {
                continue;
            }
            if (from < 0)
            {
                from = _dataStart[column];
            }
            to = _dataEnd[column];
            columnStarts.Add(_dataStart[column]);
            for (var k = 0; k < _channels.Length; k++)
            {
                var s = _summaries[column * _channels.Length + k];
                points[0] = (_dataStart[column], s.First);
                points[1] = s.MinIndex <= s.MaxIndex ? (s.MinIndex, s.Min) : (s.MaxIndex, s.Max);
                points[2] = s.MinIndex <= s.MaxIndex ? (s.MaxIndex, s.Max) : (s.MinIndex, s.Min);
                points[3] = (_dataEnd[column] - 1, s.Last);
                var previous = -1L;
                foreach (var (index, value) in points)
                {
                    if (index > previous)
                    {
                        indices[k].Add(index);
                        values[k].Add(value);
                        previous = index;
                    }
                }
            }
        }
        if (from < 0)
        {
            return DecimatedRange.Empty(measurementId, _starts.Count > 0 ? _starts[0] : 0);
        }
        return new DecimatedRange
        {
            MeasurementId = measurementId,
            FromIndex = from,
            ToIndex = to,
            Level = level,
            ColumnStarts = columnStarts,
            Channels = [.. Enumerable.Range(0, _channels.Length).Select(k => new DecimatedChannel(_channels[k], indices[k], values[k]))],
            SummaryRowsRead = summaryRowsRead,
            RawSamplesRead = RawSamples,
        };
    }
}
