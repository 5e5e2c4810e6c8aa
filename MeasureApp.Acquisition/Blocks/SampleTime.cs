namespace MeasureApp.Acquisition.Blocks;

/// <summary>
/// The one rule for sample times: within a run of regularly sampled data (a stretch without a gap,
/// overrun or restart), sample <c>i</c> of the measurement lies at <c>origin + round(i · 10⁹ / rate)</c>
/// ns, rounded to the nearest nanosecond (halves up). Computed from the index every time, never by
/// adding up a rounded period, so nothing accumulates: at 12,345 Hz sample 12,345 is exactly 1 s.
/// </summary>
public static class SampleTime
{
    private const long NsPerSecond = 1_000_000_000;
    // Largest index whose index × 10⁹ still fits a long (an 8 h run at 100 kHz is 2.9·10⁹).
    private const long MaxFastIndex = long.MaxValue / NsPerSecond;

    /// <summary><c>round(index · 10⁹ / rate)</c>: ns from a run's origin to sample <paramref name="index"/>.</summary>
    public static long OffsetNs(long index, double sampleRate)
    {
        var whole = (long)sampleRate;
        if (whole == sampleRate && whole > 0 && index is >= 0 and <= MaxFastIndex)
        {
            // Integer rates (all but exotic ones): exact integer arithmetic.
            var q = Math.DivRem(index * NsPerSecond, whole, out var rem);
            return 2 * rem >= whole ? q + 1 : q;
        }
        return (long)Math.Round((decimal)index * NsPerSecond / (decimal)sampleRate, MidpointRounding.AwayFromZero);
    }

    /// <summary>
    /// Time of sample <paramref name="index"/> given a sample of the same run, <paramref name="anchorIndex"/>,
    /// stamped <paramref name="anchorNs"/> (e.g. the first sample of a block or a stored chunk).
    /// </summary>
    public static long TimeOfNs(long anchorNs, long anchorIndex, long index, double sampleRate) =>
        anchorNs + OffsetNs(index, sampleRate) - OffsetNs(anchorIndex, sampleRate);
}
