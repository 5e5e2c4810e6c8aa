namespace MeasureApp.Monitoring;

/// <summary>Latency percentiles of the live charts over <see cref="LiveLatencyStats.Window"/>; null when no chart rendered in it.</summary>
/// <param name="Count">Renders in the window.</param>
/// <param name="P50Ms">Median latency in milliseconds.</param>
/// <param name="P95Ms">95th percentile in milliseconds.</param>
/// <param name="P99Ms">99th percentile in milliseconds.</param>
public sealed record LatencyPercentiles(int Count, double P50Ms, double P95Ms, double P99Ms);

/// <summary>
/// Sample-to-screen latency of every live chart render in this instance, kept for the last
/// <see cref="Window"/> (numbers and timestamps only, no user data). Bounded: at most
/// <see cref="Capacity"/> renders are kept; past that the oldest are dropped, so under heavy load the
/// percentiles cover the most recent renders. Thread-safe.
/// </summary>
public sealed class LiveLatencyStats(TimeProvider time)
{
    /// <summary>How far back the percentiles look.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10);

    /// <summary>Most renders kept (60 frames/s for about 100 charts over the window; about 1 MB).</summary>
    public const int Capacity = 65_536;

    private readonly Lock _gate = new();
    private readonly long[] _at = new long[Capacity];
    private readonly double[] _ms = new double[Capacity];
    private int _head;
    private int _count;

    /// <summary>Records one render's latency in milliseconds. Negative values (clock skew) count as 0; NaN is ignored.</summary>
    public void Record(double latencyMs)
    {
        if (double.IsNaN(latencyMs))
        {
            return;
        }
        var now = time.GetTimestamp();
        lock (_gate)
        {
            var slot = (_head + _count) % Capacity;
            _at[slot] = now;
            _ms[slot] = Math.Max(0, latencyMs);
            if (_count < Capacity)
            {
                _count++;
            }
            else
            {
                _head = (_head + 1) % Capacity;
            }
        }
    }

    /// <summary>The percentiles over the last <see cref="Window"/>, or null when nothing rendered in it.</summary>
    public LatencyPercentiles? Percentiles()
    {
        double[] values;
        lock (_gate)
        {
            var now = time.GetTimestamp();
            while (_count > 0 && time.GetElapsedTime(_at[_head], now) > Window)
            {
                _head = (_head + 1) % Capacity;
                _count--;
            }
            if (_count == 0)
            {
                return null;
            }
            values = new double[_count];
            var first = Math.Min(_count, Capacity - _head);
            Array.Copy(_ms, _head, values, 0, first);
            Array.Copy(_ms, 0, values, first, _count - first);
        }
        Array.Sort(values);
        return new LatencyPercentiles(values.Length, Rank(values, 0.50), Rank(values, 0.95), Rank(values, 0.99));
    }

    // Nearest-rank percentile of sorted values.
    private static double Rank(double[] sorted, double p) => sorted[Math.Max(0, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
