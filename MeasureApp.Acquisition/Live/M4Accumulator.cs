using MeasureApp.Acquisition.Blocks;

namespace MeasureApp.Acquisition.Live;

/// <summary>
/// Streaming M4 for one channel: samples are cut into columns of a fixed number of samples by
/// absolute index; for each finished column the first, min, max and last points are emitted in
/// time order (duplicates merged), so a single-sample spike always survives. The live subscriptions
/// and the REPLAY / SIMULATION player both decimate with it, so a recorded trace replays exactly as it
/// was drawn live.
/// </summary>
/// <param name="samplesPerColumn">Samples per pixel column (at least 1).</param>
/// <param name="secondsOf">
/// Time in seconds of a sample index; null puts a sample at index / rate (a live stream). A stored
/// measurement passes its own time line, so points after a gap lie at their stored times.
/// </param>
public sealed class M4Accumulator(long samplesPerColumn, Func<long, double>? secondsOf = null)
{
    private long _column = -1;
    private long _firstIdx, _minIdx, _maxIdx, _lastIdx;
    private float _first, _min, _max, _last;

    /// <summary>Samples per pixel column.</summary>
    public long SamplesPerColumn { get; } = Math.Max(1, samplesPerColumn);

    /// <summary>
    /// Feeds a run of samples starting at absolute index <paramref name="firstIndex"/>; the points of
    /// every column it completes are appended to <paramref name="xs"/> (seconds) and <paramref name="ys"/>.
    /// </summary>
    public void Add(ReadOnlySpan<float> values, long firstIndex, double sampleRate, List<double> xs, List<float> ys)
    {
        var offset = 0;
        while (offset < values.Length)
        {
            var index = firstIndex + offset;
            var column = index / SamplesPerColumn;
            if (column != _column)
            {
                Flush(sampleRate, xs, ys);
                _column = column;
                _firstIdx = index;
                _first = values[offset];
                _min = float.PositiveInfinity;
                _max = float.NegativeInfinity;
                // Until a real min/max is seen (a column of NaN has none) they point at the first sample,
                // which Flush already emits: never at a stale index of the previous column.
                _minIdx = index;
                _maxIdx = index;
            }
            var columnEnd = (column + 1) * SamplesPerColumn;
            var take = (int)Math.Min(values.Length - offset, columnEnd - index);
            var run = values.Slice(offset, take);
            var (min, max) = run.Length >= 16 ? M4.MinMax(run) : M4.MinMaxScalar(run);
            if (min < _min)
            {
                _min = min;
                _minIdx = index + M4.IndexOf(run, min);
            }
            if (max > _max)
            {
                _max = max;
                _maxIdx = index + M4.IndexOf(run, max);
            }
            _last = run[^1];
            _lastIdx = index + take - 1;
            offset += take;
            if (index + take == columnEnd)
            {
                Flush(sampleRate, xs, ys);
            }
        }
    }

    /// <summary>Emits the open column, if any (used when a column completes or the stream ends).</summary>
    public void Flush(double sampleRate, List<double> xs, List<float> ys)
    {
        if (_column < 0)
        {
            return;
        }
        _column = -1;
        Emit(_firstIdx, _first, sampleRate, xs, ys);
        var (aIdx, a, bIdx, b) = _minIdx <= _maxIdx ? (_minIdx, _min, _maxIdx, _max) : (_maxIdx, _max, _minIdx, _min);
        if (aIdx != _firstIdx)
        {
            Emit(aIdx, a, sampleRate, xs, ys);
        }
        if (bIdx != aIdx && bIdx != _firstIdx)
        {
            Emit(bIdx, b, sampleRate, xs, ys);
        }
        if (_lastIdx != bIdx && _lastIdx != aIdx && _lastIdx != _firstIdx)
        {
            Emit(_lastIdx, _last, sampleRate, xs, ys);
        }
    }

    private void Emit(long index, float value, double sampleRate, List<double> xs, List<float> ys)
    {
        xs.Add(secondsOf is null ? index / sampleRate : secondsOf(index));
        ys.Add(value);
    }
}
