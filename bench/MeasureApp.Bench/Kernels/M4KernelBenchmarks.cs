using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using MeasureApp.Acquisition.Live;

namespace MeasureApp.Bench.Kernels;

/// <summary>
/// The M4 decimation kernel against the plain SIMD sum over the same array (SPEC §9: goal
/// ≥ 4 G float32 samples/s per core and within 2× of the sum). Every benchmark reads each sample
/// once per operation, so "G samples/s" is Size / Mean on one core and "Ratio" is the time
/// relative to <see cref="Sum"/>.
/// </summary>
[Config(typeof(KernelConfig))]
public class M4KernelBenchmarks
{
    private float[] _values = [];
    private M4Accumulator _accumulator = new(1);
    private readonly List<double> _xs = new(4096);
    private readonly List<float> _ys = new(4096);

    /// <summary>4096 floats stay in L1; 1 Mi floats (4 MiB) come from L2/L3, closer to a stream of fresh blocks.</summary>
    [Params(4096, 1 << 20)]
    public int Size { get; set; }

    /// <summary>Samples per live-chart block: 5 ms at 100 kHz, as the simulated device delivers them.</summary>
    public const int BlockSamples = 500;

    /// <summary>10 s window at 100 kHz on a 1000-pixel chart.</summary>
    public const long ColumnSamples = 1000;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _values = new float[Size];
        for (var i = 0; i < _values.Length; i++)
        {
            // A sine with noise: min and max move, so branches in the scalar baseline are realistic.
            _values[i] = (float)(Math.Sin(i * 2 * Math.PI / 1000) + ((random.NextDouble() - 0.5) * 0.1));
        }
        _accumulator = new M4Accumulator(ColumnSamples);
    }

    /// <summary>The memory-read baseline of SPEC §9 (<see cref="M4.Sum"/>).</summary>
    [Benchmark(Baseline = true)]
    public float Sum() => M4.Sum(_values);

    /// <summary>
    /// A read with four independent 256-bit accumulators: the read speed the core can reach when the
    /// add latency does not limit it (M4.Sum has one accumulator), shown as a second reference.
    /// </summary>
    [Benchmark]
    public float ReadUnrolled() => SumUnrolled(_values);

    [Benchmark]
    public (float Min, float Max) MinMaxScalar() => M4.MinMaxScalar(_values);

    [Benchmark]
    public (float Min, float Max) MinMax() => M4.MinMax(_values);

    /// <summary>
    /// Prototype: <see cref="M4.MinMax"/> with four accumulator pairs instead of two, to see whether
    /// the kernel is bound by min/max latency (it would speed up) or by throughput (it would not).
    /// Operand order (sample first, accumulator second) as in M4.MinMax, so a NaN sample never
    /// replaces the running extreme on x86.
    /// </summary>
    [Benchmark]
    public (float Min, float Max) MinMaxUnrolled4() => MinMax4(_values);

    /// <summary>The streaming decimator as a live subscription runs it: 500-sample blocks, 1000-sample columns.</summary>
    [Benchmark]
    public int Accumulator()
    {
        _xs.Clear();
        _ys.Clear();
        var span = _values.AsSpan();
        for (var offset = 0; offset < span.Length; offset += BlockSamples)
        {
            var run = span.Slice(offset, Math.Min(BlockSamples, span.Length - offset));
            _accumulator.Add(run, offset, 100_000, _xs, _ys);
        }
        return _ys.Count;
    }

    /// <summary>
    /// What <see cref="M4Accumulator"/> does per 500-sample run: the kernel, then
    /// <c>span.IndexOf(min)</c> and <c>span.IndexOf(max)</c> to place the points. Isolates the cost of
    /// those searches (IndexOf is not vectorized for float, which is not bitwise-equatable).
    /// </summary>
    [Benchmark]
    public int MinMaxIndexOf()
    {
        var span = _values.AsSpan();
        var acc = 0;
        for (var offset = 0; offset < span.Length; offset += BlockSamples)
        {
            var run = span.Slice(offset, Math.Min(BlockSamples, span.Length - offset));
            var (min, max) = M4.MinMax(run);
            acc += run.IndexOf(min) + run.IndexOf(max);
        }
        return acc;
    }

    /// <summary>Same as <see cref="MinMaxIndexOf"/> with <see cref="M4.IndexOf"/> (256-bit compare and movemask), as M4Accumulator now does.</summary>
    [Benchmark]
    public int MinMaxVectorIndexOf()
    {
        var span = _values.AsSpan();
        var acc = 0;
        for (var offset = 0; offset < span.Length; offset += BlockSamples)
        {
            var run = span.Slice(offset, Math.Min(BlockSamples, span.Length - offset));
            var (min, max) = M4.MinMax(run);
            acc += M4.IndexOf(run, min) + M4.IndexOf(run, max);
        }
        return acc;
    }

    private static (float Min, float Max) MinMax4(ReadOnlySpan<float> values)
    {
        ref var start = ref MemoryMarshal.GetReference(values);
        var n = Vector256<float>.Count;
        var min0 = Vector256.Create(float.PositiveInfinity);
        var max0 = Vector256.Create(float.NegativeInfinity);
        var (min1, min2, min3) = (min0, min0, min0);
        var (max1, max2, max3) = (max0, max0, max0);
        var i = 0;
        for (; i <= values.Length - (4 * n); i += 4 * n)
        {
            var a = Vector256.LoadUnsafe(ref start, (nuint)i);
            var b = Vector256.LoadUnsafe(ref start, (nuint)(i + n));
            var c = Vector256.LoadUnsafe(ref start, (nuint)(i + (2 * n)));
            var d = Vector256.LoadUnsafe(ref start, (nuint)(i + (3 * n)));
            min0 = Vector256.MinNative(a, min0);
            max0 = Vector256.MaxNative(a, max0);
            min1 = Vector256.MinNative(b, min1);
            max1 = Vector256.MaxNative(b, max1);
            min2 = Vector256.MinNative(c, min2);
            max2 = Vector256.MaxNative(c, max2);
            min3 = Vector256.MinNative(d, min3);
            max3 = Vector256.MaxNative(d, max3);
        }
        var vmin = Vector256.MinNative(Vector256.MinNative(min0, min1), Vector256.MinNative(min2, min3));
        var vmax = Vector256.MaxNative(Vector256.MaxNative(max0, max1), Vector256.MaxNative(max2, max3));
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        for (var lane = 0; lane < n; lane++)
        {
            min = Math.Min(min, vmin.GetElement(lane));
            max = Math.Max(max, vmax.GetElement(lane));
        }
        for (; i < values.Length; i++)
        {
            min = Math.Min(min, values[i]);
            max = Math.Max(max, values[i]);
        }
        return (min, max);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float SumUnrolled(ReadOnlySpan<float> values)
    {
        ref var start = ref MemoryMarshal.GetReference(values);
        var a0 = Vector256<float>.Zero;
        var a1 = a0;
        var a2 = a0;
        var a3 = a0;
        var i = 0;
        var step = 4 * Vector256<float>.Count;
        for (; i <= values.Length - step; i += step)
        {
            a0 += Vector256.LoadUnsafe(ref start, (nuint)i);
            a1 += Vector256.LoadUnsafe(ref start, (nuint)(i + Vector256<float>.Count));
            a2 += Vector256.LoadUnsafe(ref start, (nuint)(i + (2 * Vector256<float>.Count)));
            a3 += Vector256.LoadUnsafe(ref start, (nuint)(i + (3 * Vector256<float>.Count)));
        }
        var sum = Vector256.Sum(a0 + a1 + a2 + a3);
        for (; i < values.Length; i++)
        {
            sum += values[i];
        }
        return sum;
    }
}
