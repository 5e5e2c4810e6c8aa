namespace MeasureApp.Analysis;

/// <summary>Timing of a channel over a span, from raw samples.</summary>
/// <param name="Channel">Channel number.</param>
/// <param name="Samples">Samples analysed.</param>
/// <param name="Low">Low reference level (the span's minimum).</param>
/// <param name="High">High reference level (the span's maximum).</param>
/// <param name="RisingEdges">Rising crossings of the 50 % level (with 10 %/90 % hysteresis).</param>
/// <param name="FallingEdges">Falling crossings.</param>
/// <param name="FrequencyHz">1 / period; null with fewer than two rising edges.</param>
/// <param name="PeriodSeconds">Mean time between consecutive rising edges.</param>
/// <param name="DutyCycle">Mean high time / period (0–1).</param>
/// <param name="RiseTimeSeconds">Mean 10 → 90 % time of the rising edges.</param>
/// <param name="FallTimeSeconds">Mean 90 → 10 % time of the falling edges.</param>
/// <param name="Gaps">Gaps in the span (discontinuities between stored chunks): nothing is timed across one.</param>
public sealed record EdgeResult(int Channel, long Samples, double? Low, double? High, int RisingEdges, int FallingEdges,
    double? FrequencyHz, double? PeriodSeconds, double? DutyCycle, double? RiseTimeSeconds, double? FallTimeSeconds, int Gaps = 0);

/// <summary>
/// Frequency, duty cycle, rise/fall time and edge count like an oscilloscope's automatic measurements:
/// reference levels from the span's extremes, an edge is a move from below 10 % to above 90 % (or back),
/// timed where it crosses 50 %, rise time between the 10 % and 90 % crossings; times interpolated
/// linearly between samples. A span with gaps is analysed as separate runs (see <c>runStarts</c>): the
/// reference levels come from the whole span, but no edge, period, duty cycle or rise time is measured
/// across a gap — the samples on both sides are not one signal in time.
/// </summary>
public static class EdgeAnalyzer
{
    /// <summary>
    /// Analyses <paramref name="values"/> sampled at <paramref name="sampleRate"/> Hz; <paramref name="runStarts"/>
    /// are the positions (ascending, &gt; 0) where a new contiguous run begins after a gap.
    /// </summary>
    public static EdgeResult Analyze(int channel, ReadOnlySpan<float> values, double sampleRate, IReadOnlyList<int>? runStarts = null)
    {
        runStarts ??= [];
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(sampleRate, 0);
        if (values.Length < 2)
        {
            return new EdgeResult(channel, values.Length, null, null, 0, 0, null, null, null, null, null, runStarts.Count);
        }
        var (lowF, highF) = values.Length >= 16 ? Acquisition.Live.M4.MinMax(values) : Acquisition.Live.M4.MinMaxScalar(values);
        double low = lowF, high = highF;
        var span = high - low;
        if (!(span > 0))
        {
            return new EdgeResult(channel, values.Length, low, high, 0, 0, null, null, null, null, null, runStarts.Count);
        }
        var l10 = low + 0.1 * span;
        var l50 = low + 0.5 * span;
        var l90 = low + 0.9 * span;
        // Edge times with the run they belong to.
        var rising = new List<(double At, int Run)>();
        var falling = new List<(double At, int Run)>();
        var riseTimes = new List<double>();
        var fallTimes = new List<double>();
        // State: +1 = last seen above 90 %, −1 = below 10 %, 0 = not yet known.
        var state = 0;
        var last10 = double.NaN; // last crossing of 10 % going up (rising) or of 90 % going down (falling)
        var last50 = double.NaN;
        var run = 0;
        for (var i = 1; i < values.Length; i++)
        {
            if (run < runStarts.Count && i == runStarts[run])
            {
                // A gap: (i − 1, i) is no transition; the new run starts with an unknown state.
                run++;
                state = 0;
                last10 = last50 = double.NaN;
                continue;
            }
            double a = values[i - 1], b = values[i];
            if (state <= 0)
            {
                if (a <= l10 && b > l10)
                {
                    last10 = Cross(i, a, b, l10);
                }
                if (a <= l50 && b > l50)
                {
                    last50 = Cross(i, a, b, l50);
                }
                if (a <= l90 && b > l90)
                {
                    if (state < 0)
                    {
                        rising.Add((last50, run));
                        riseTimes.Add(Cross(i, a, b, l90) - last10);
                    }
                    state = 1;
                }
                else if (state == 0 && b <= l10)
                {
                    state = -1;
                }
            }
            if (state >= 0)
            {
                if (a >= l90 && b < l90)
                {
                    last10 = Cross(i, a, b, l90);
                }
                if (a >= l50 && b < l50)
                {
                    last50 = Cross(i, a, b, l50);
                }
                if (a >= l10 && b < l10)
                {
                    if (state > 0)
                    {
                        falling.Add((last50, run));
                        fallTimes.Add(Cross(i, a, b, l10) - last10);
                    }
                    state = -1;
                }
                else if (state == 0 && b >= l90)
                {
                    state = 1;
                }
            }
        }
        // Periods between consecutive rising edges of the same run only.
        var periods = 0;
        var periodSum = 0.0;
        for (var k = 1; k < rising.Count; k++)
        {
            if (rising[k].Run == rising[k - 1].Run)
            {
                periodSum += rising[k].At - rising[k - 1].At;
                periods++;
            }
        }
        double? period = periods > 0 ? periodSum / periods / sampleRate : null;
        double? duty = null;
        if (period is { } p)
        {
            // High time: each rising edge to the next falling edge of the same run.
            var highTimes = new List<double>();
            var f = 0;
            foreach (var r in rising)
            {
                while (f < falling.Count && falling[f].At <= r.At)
                {
                    f++;
                }
                if (f < falling.Count && falling[f].Run == r.Run)
                {
                    highTimes.Add((falling[f].At - r.At) / sampleRate);
                }
            }
            duty = highTimes.Count > 0 ? Math.Clamp(highTimes.Average() / p, 0, 1) : null;
        }
        return new EdgeResult(channel, values.Length, low, high, rising.Count, falling.Count,
            period is { } pp ? 1 / pp : null, period, duty,
            riseTimes.Count > 0 ? riseTimes.Average() / sampleRate : null,
            fallTimes.Count > 0 ? fallTimes.Average() / sampleRate : null,
            runStarts.Count);
    }

    // Fractional sample position where the segment (i−1, a) → (i, b) crosses `level`.
    private static double Cross(int i, double a, double b, double level) => i - 1 + (level - a) / (b - a);
}
