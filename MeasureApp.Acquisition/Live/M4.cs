using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace MeasureApp.Acquisition.Live;

/// <summary>
/// The M4 kernel: min and max of a span with 256-bit SIMD (8 floats per instruction, two
/// accumulators to hide latency). First and last are free; together they draw the same line as
/// all samples would at one pixel column.
/// </summary>
public static class M4
{
    /// <summary>Minimum and maximum of <paramref name="values"/> (NaN values are ignored).</summary>
    /// <returns>
    /// (+∞, −∞) when the span is empty or holds only NaN, like <see cref="MinMaxScalar"/>: the neutral
    /// element, so results of pieces combine with plain comparisons.
    /// </returns>
    public static (float Min, float Max) MinMax(ReadOnlySpan<float> values)
    {
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
                min0 = MinIgnoringNaN(a, min0);
                max0 = MaxIgnoringNaN(a, max0);
                min1 = MinIgnoringNaN(b, min1);
                max1 = MaxIgnoringNaN(b, max1);
            }
            min0 = MinIgnoringNaN(min1, min0);
            max0 = MaxIgnoringNaN(max1, max0);
            for (var lane = 0; lane < Vector256<float>.Count; lane++)
            {
                var lo = min0.GetElement(lane);
                var hi = max0.GetElement(lane);
                if (lo < min)
                {
                    min = lo;
                }
                if (hi > max)
                {
                    max = hi;
                }
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

    // The accumulator is the second operand on purpose: x86 MINPS/MAXPS return the second operand when
    // either is NaN, so a NaN sample (bad input, counted upstream) never replaces the running extreme.
    // Vector256.MinNative(acc, x) does the opposite and let one NaN erase a lane's minimum; on other
    // hardware the compare-and-select does the same in two instructions.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MinIgnoringNaN(Vector256<float> value, Vector256<float> accumulator) =>
        Avx.IsSupported ? Avx.Min(value, accumulator) : Vector256.ConditionalSelect(Vector256.LessThan(value, accumulator), value, accumulator);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MaxIgnoringNaN(Vector256<float> value, Vector256<float> accumulator) =>
        Avx.IsSupported ? Avx.Max(value, accumulator) : Vector256.ConditionalSelect(Vector256.GreaterThan(value, accumulator), value, accumulator);

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

    /// <summary>
    /// Index of the first value equal to <paramref name="target"/>, or −1. Vectorized: the runtime's
    /// IndexOf is scalar for float, and finding where a column's min/max sits dominated M4 cost.
    /// </summary>
    public static int IndexOf(ReadOnlySpan<float> values, float target)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<float>.Count)
        {
            ref var start = ref MemoryMarshal.GetReference(values);
            var t = Vector256.Create(target);
            for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var mask = Vector256.Equals(Vector256.LoadUnsafe(ref start, (nuint)i), t).ExtractMostSignificantBits();
                if (mask != 0)
                {
                    return i + BitOperations.TrailingZeroCount(mask);
                }
            }
        }
        for (; i < values.Length; i++)
        {
            if (values[i] == target)
            {
                return i;
            }
        }
        return -1;
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
