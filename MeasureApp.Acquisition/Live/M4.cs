using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MeasureApp.Acquisition.Live;

/// <summary>
/// The M4 kernel: min and max of a span with 256-bit SIMD (8 floats per instruction, two
/// accumulators to hide latency). First and last are free; together they draw the same line as
/// all samples would at one pixel column.
/// </summary>
public static class M4
{
    /// <summary>Minimum and maximum of <paramref name="values"/> (NaN values are ignored).</summary>
    public static (float Min, float Max) MinMax(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
        {
            throw new ArgumentException("Empty span has no min/max.", nameof(values));
        }

        var i = 0;
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        if (Vector256.IsHardwareAccelerated && values.Length >= 2 * Vector256<float>.Count)
        {
            ref var start = ref MemoryMarshal.GetReference(values);
            var min0 = Vector256.Create(float.PositiveInfinity);
            var max0 = Vector256.Create(float.NegativeInfinity);
            var min1 = min0;
            var max1 = max0;
            var last = values.Length - 2 * Vector256<float>.Count;
            for (; i <= last; i += 2 * Vector256<float>.Count)
            {
                var a = Vector256.LoadUnsafe(ref start, (nuint)i);
                var b = Vector256.LoadUnsafe(ref start, (nuint)(i + Vector256<float>.Count));
                // Min/MaxNative: NaN lanes lose against the accumulator (NaN samples are counted as bad input upstream).
                min0 = Vector256.MinNative(min0, a);
                max0 = Vector256.MaxNative(max0, a);
                min1 = Vector256.MinNative(min1, b);
                max1 = Vector256.MaxNative(max1, b);
            }
            min0 = Vector256.MinNative(min0, min1);
            max0 = Vector256.MaxNative(max0, max1);
            for (var lane = 0; lane < Vector256<float>.Count; lane++)
            {
                min = Math.Min(min, min0.GetElement(lane));
                max = Math.Max(max, max0.GetElement(lane));
            }
        }
        for (; i < values.Length; i++)
        {
            var v = values[i];
            if (v < min)
            {
                min = v;
            }
            if (v > max)
            {
                max = v;
            }
        }
        return (min, max);
    }

    /// <summary>Scalar reference implementation (baseline for tests and benchmarks).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static (float Min, float Max) MinMaxScalar(ReadOnlySpan<float> values)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var v in values)
        {
            if (v < min)
            {
                min = v;
            }
            if (v > max)
            {
                max = v;
            }
        }
        return (min, max);
    }

    /// <summary>Plain SIMD sum: the memory-read baseline the kernel is compared with.</summary>
    public static float Sum(ReadOnlySpan<float> values)
    {
        var acc = Vector<float>.Zero;
        var i = 0;
        for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            acc += new Vector<float>(values[i..]);
        }
        var sum = Vector.Sum(acc);
        for (; i < values.Length; i++)
        {
            sum += values[i];
        }
        return sum;
    }
}
