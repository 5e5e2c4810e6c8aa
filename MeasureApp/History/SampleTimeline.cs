using MeasureApp.Acquisition.Blocks;
using MeasureApp.Data;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.History;

/// <summary>
/// Maps times to sample indices through the stored chunks, so a range in time finds the right samples
/// also after a gap (every discontinuity starts a chunk at its own time stamp; within a chunk sample
/// times follow <see cref="SampleTime"/>). Reads at most one chunk header per bound.
/// </summary>
public static class SampleTimeline
{
    /// <summary>The first sample index whose time is at or after <paramref name="ns"/>; the end of the data when none.</summary>
    public static async Task<long> FirstAtOrAfterAsync(IQueryable<SampleChunkRecord> chunks, double sampleRate, long ns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var c = await HeaderAtOrBeforeAsync(chunks, ns, cancellationToken);
        if (c is null)
        {
            return 0;
        }
        var k = (long)Math.Clamp(Math.Ceiling((ns - c.T0Ns) * sampleRate / 1e9), 0, c.SampleCount);
        while (k > 0 && c.TimeOf(k - 1, sampleRate) >= ns)
        {
            k--;
        }
        while (k < c.SampleCount && c.TimeOf(k, sampleRate) < ns)
        {
            k++;
        }
        return c.FirstSampleIndex + k;
    }

    /// <summary>The index just after the last sample whose time is at or before <paramref name="ns"/>; 0 when none.</summary>
    public static async Task<long> EndAtOrBeforeAsync(IQueryable<SampleChunkRecord> chunks, double sampleRate, long ns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var c = await HeaderAtOrBeforeAsync(chunks, ns, cancellationToken);
        if (c is null)
        {
            return 0;
        }
        var k = (long)Math.Clamp(Math.Floor((ns - c.T0Ns) * sampleRate / 1e9), 0, c.SampleCount - 1);
        while (k + 1 < c.SampleCount && c.TimeOf(k + 1, sampleRate) <= ns)
        {
            k++;
        }
        while (k >= 0 && c.TimeOf(k, sampleRate) > ns)
        {
            k--;
        }
        return c.FirstSampleIndex + k + 1;
    }

    /// <summary>Nanoseconds of a number of seconds, rounded (what an export prints with nine decimals reads back exactly).</summary>
    public static long NsOf(double seconds) => (long)Math.Round(seconds * 1e9, MidpointRounding.AwayFromZero);

    // The chunk holding (or last before) a time: chunks are in time order, a later one never starts earlier.
    private static Task<Header?> HeaderAtOrBeforeAsync(IQueryable<SampleChunkRecord> chunks, long ns, CancellationToken cancellationToken) =>
        chunks.Where(c => c.T0Ns <= ns).OrderByDescending(c => c.Sequence)
            .Select(c => new Header(c.FirstSampleIndex, c.T0Ns, c.SampleCount)).FirstOrDefaultAsync(cancellationToken);

    private sealed record Header(long FirstSampleIndex, long T0Ns, int SampleCount)
    {
        public long TimeOf(long k, double rate) => SampleTime.TimeOfNs(T0Ns, FirstSampleIndex, FirstSampleIndex + k, rate);
    }
}
