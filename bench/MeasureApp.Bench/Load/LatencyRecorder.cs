using System.Diagnostics;

namespace MeasureApp.Bench.Load;

/// <summary>
/// Keeps every latency sample (ns) of one producer thread in a growable array; merged and sorted
/// at the end for exact percentiles. Single-threaded by design, so recording is one store.
/// </summary>
public sealed class LatencyRecorder(int initialCapacity = 4096)
{
    private long[] _samples = new long[Math.Max(16, initialCapacity)];

    /// <summary>Samples recorded.</summary>
    public int Count { get; private set; }

    /// <summary>Records one latency in nanoseconds.</summary>
    public void Record(long nanoseconds)
    {
        if (Count == _samples.Length)
        {
            Array.Resize(ref _samples, _samples.Length * 2);
        }
        _samples[Count++] = nanoseconds;
    }

    /// <summary>The recorded samples (valid until the next <see cref="Record"/>).</summary>
    public ReadOnlySpan<long> Samples => _samples.AsSpan(0, Count);
}

/// <summary>The read-latency loop of the history and search scenarios: a few untimed calls, then timed ones.</summary>
public static class TimedCalls
{
    /// <summary>
    /// Calls <paramref name="call"/> <paramref name="warmup"/> times untimed, then <paramref name="timed"/> times with
    /// each call's wall time recorded; returns their summary and the last call's answer.
    /// </summary>
    public static async Task<(LatencySummary Latency, T Last)> RunAsync<T>(int warmup, int timed, Func<Task<T>> call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var recorder = new LatencyRecorder(timed);
        T last = default!;
        for (var r = 0; r < warmup + timed; r++)
        {
            var sw = Stopwatch.StartNew();
            last = await call();
            sw.Stop();
            if (r >= warmup)
            {
                recorder.Record((long)sw.Elapsed.TotalNanoseconds);
            }
        }
        return (LatencySummary.From([recorder]), last);
    }
}

/// <summary>Percentiles and a power-of-two histogram of merged latency samples.</summary>
public sealed class LatencySummary
{
    private readonly long[] _sorted;

    private LatencySummary(long[] sorted) => _sorted = sorted;

    /// <summary>Merges and sorts the samples of several recorders.</summary>
    public static LatencySummary From(IEnumerable<LatencyRecorder> recorders)
    {
        ArgumentNullException.ThrowIfNull(recorders);
        var all = recorders.SelectMany(r => r.Samples.ToArray()).ToArray();
        Array.Sort(all);
        return new LatencySummary(all);
    }

    /// <summary>Number of samples.</summary>
    public int Count => _sorted.Length;

    /// <summary>Largest sample (ns), 0 when empty.</summary>
    public long MaxNs => _sorted.Length == 0 ? 0 : _sorted[^1];

    /// <summary>Nearest-rank percentile in ns (<paramref name="fraction"/> 0.99 = p99); 0 when empty.</summary>
    public long PercentileNs(double fraction)
    {
        if (_sorted.Length == 0)
        {
            return 0;
        }
        var rank = (int)Math.Ceiling(fraction * _sorted.Length);
        return _sorted[Math.Clamp(rank - 1, 0, _sorted.Length - 1)];
    }

    /// <summary>
    /// Counts per bucket: bucket k holds samples in (2^(k-1), 2^k] µs, bucket 0 those ≤ 1 µs;
    /// only buckets up to the largest non-empty one are returned.
    /// </summary>
    public IReadOnlyList<(double UpperMicroseconds, int Count)> Histogram()
    {
        var buckets = new List<(double, int)>();
        var i = 0;
        for (var upper = 1.0; i < _sorted.Length; upper *= 2)
        {
            var limitNs = (long)(upper * 1000);
            var count = 0;
            while (i < _sorted.Length && _sorted[i] <= limitNs)
            {
                count++;
                i++;
            }
            buckets.Add((upper, count));
        }
        return buckets;
    }
}
