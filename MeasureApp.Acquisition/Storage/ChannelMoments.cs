using System.Buffers.Binary;

namespace MeasureApp.Acquisition.Storage;

/// <summary>
/// Count, sum and sum of squared deviations from the mean (M2) of a run of samples of one channel, in
/// double. M2 rather than the plain sum of squares: merging two runs with Chan's formula keeps the
/// standard deviation exact even when the mean is large compared with the spread (Σx² − (Σx)²/n would
/// cancel); the sum of squares is still <see cref="SumOfSquares"/> = M2 + Sum²/Count, a sum of two
/// non-negative terms.
/// </summary>
/// <param name="Count">Samples.</param>
/// <param name="Sum">Sum of the values.</param>
/// <param name="M2">Sum of squared deviations from the run's mean.</param>
public readonly record struct ChannelMoments(long Count, double Sum, double M2)
{
    /// <summary>Bytes of one stored value (count int64, sum and M2 float64, little-endian).</summary>
    public const int EncodedSize = sizeof(long) + 2 * sizeof(double);

    /// <summary>Mean (NaN for no samples).</summary>
    public double Mean => Count > 0 ? Sum / Count : double.NaN;

    /// <summary>Sum of squares of the values.</summary>
    public double SumOfSquares => Count > 0 ? M2 + Sum * (Sum / Count) : 0;

    /// <summary>Root mean square.</summary>
    public double Rms => Count > 0 ? Math.Sqrt(Math.Max(0, M2 / Count + Mean * Mean)) : double.NaN;

    /// <summary>Population standard deviation (divides by the count, as an oscilloscope's "AC RMS" does).</summary>
    public double Std => Count > 0 ? Math.Sqrt(Math.Max(0, M2 / Count)) : double.NaN;

    /// <summary>Moments of two runs together (Chan et al.'s parallel update; order does not matter).</summary>
    public static ChannelMoments Merge(in ChannelMoments a, in ChannelMoments b)
    {
        if (a.Count == 0)
        {
            return b;
        }
        if (b.Count == 0)
        {
            return a;
        }
        var n = a.Count + b.Count;
        var delta = b.Sum / b.Count - a.Sum / a.Count;
        return new ChannelMoments(n, a.Sum + b.Sum, a.M2 + b.M2 + delta * delta * ((double)a.Count * b.Count / n));
    }

    /// <summary>Moments of raw values (two passes: the mean first, then the squared deviations from it).</summary>
    public static ChannelMoments Of(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
        {
            return default;
        }
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        var i = 0;
        // Four accumulators: independent adds pipeline, and pairwise-ish partial sums lose less precision.
        for (; i + 4 <= values.Length; i += 4)
        {
            s0 += values[i];
            s1 += values[i + 1];
            s2 += values[i + 2];
            s3 += values[i + 3];
        }
        for (; i < values.Length; i++)
        {
            s0 += values[i];
        }
        var sum = (s0 + s1) + (s2 + s3);
        var mean = sum / values.Length;
        double m0 = 0, m1 = 0;
        i = 0;
        for (; i + 2 <= values.Length; i += 2)
        {
            var d0 = values[i] - mean;
            var d1 = values[i + 1] - mean;
            m0 += d0 * d0;
            m1 += d1 * d1;
        }
        for (; i < values.Length; i++)
        {
            var d = values[i] - mean;
            m0 += d * d;
        }
        return new ChannelMoments(values.Length, sum, m0 + m1);
    }

    /// <summary>Stored form of per-channel moments.</summary>
    public static byte[] Encode(ReadOnlySpan<ChannelMoments> moments)
    {
        var bytes = new byte[moments.Length * EncodedSize];
        for (var c = 0; c < moments.Length; c++)
        {
            var dest = bytes.AsSpan(c * EncodedSize, EncodedSize);
            BinaryPrimitives.WriteInt64LittleEndian(dest, moments[c].Count);
            BinaryPrimitives.WriteDoubleLittleEndian(dest[8..], moments[c].Sum);
            BinaryPrimitives.WriteDoubleLittleEndian(dest[16..], moments[c].M2);
        }
        return bytes;
    }

    /// <summary>Reads per-channel moments back; null when <paramref name="data"/> is not <paramref name="channelCount"/> values.</summary>
    public static ChannelMoments[]? Decode(ReadOnlySpan<byte> data, int channelCount)
    {
        if (data.Length != channelCount * EncodedSize)
        {
            return null;
        }
        var result = new ChannelMoments[channelCount];
        for (var c = 0; c < channelCount; c++)
        {
            var src = data.Slice(c * EncodedSize, EncodedSize);
            result[c] = new ChannelMoments(BinaryPrimitives.ReadInt64LittleEndian(src), BinaryPrimitives.ReadDoubleLittleEndian(src[8..]), BinaryPrimitives.ReadDoubleLittleEndian(src[16..]));
        }
        return result;
    }
}
