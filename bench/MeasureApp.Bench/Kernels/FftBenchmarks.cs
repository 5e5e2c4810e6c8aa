using System.Globalization;
using System.Numerics;
using BenchmarkDotNet.Attributes;
using MathNet.Numerics.IntegralTransforms;
using MeasureApp.Acquisition.Live;
using MeasureApp.Analysis;

namespace MeasureApp.Bench.Kernels;

/// <summary>
/// FFT of 2^20 real samples (the spectrum view's largest transform) with MathNet.Numerics (the app's
/// choice) and FftSharp, beside the memory-read baseline over the same float32 samples (<see cref="M4.Sum"/>).
/// <see cref="SpectrumPath"/> is the app's whole path (window, transform, magnitudes, peaks, reduction to
/// 4096 points). Accuracy is printed once at setup: round-trip error and the amplitude of an on-bin tone.
/// </summary>
[Config(typeof(KernelConfig))]
public class FftBenchmarks
{
    private float[] _values = [];
    private double[] _windowed = [];
    private double[] _work = [];

    /// <summary>Transform length.</summary>
    [Params(1 << 20)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _values = new float[Size];
        for (var i = 0; i < Size; i++)
        {
            _values[i] = (float)(Math.Sin(2 * Math.PI * 1000.0 * i / Size) + 0.01 * Math.Sin(2 * Math.PI * 12345.0 * i / Size) + (random.NextDouble() - 0.5) * 1e-3);
        }
        var w = SpectrumAnalyzer.Window(SpectrumWindow.Hann, Size);
        _windowed = new double[Size];
        for (var i = 0; i < Size; i++)
        {
            _windowed[i] = _values[i] * w[i];
        }
        _work = new double[Size + 2];
        Console.WriteLine(Accuracy(Size));
    }

    /// <summary>Reads the samples once: what any transform must at least do.</summary>
    [Benchmark(Baseline = true)]
    public float MemoryRead() => M4.Sum(_values);

    /// <summary>MathNet.Numerics real forward transform, in place (copy of the windowed input included).</summary>
    [Benchmark]
    public double MathNetForwardReal()
    {
        _windowed.CopyTo(_work, 0);
        Fourier.ForwardReal(_work, Size, FourierOptions.NoScaling);
        return _work[2 * 1000];
    }

    /// <summary>FftSharp real forward transform (allocates its complex output).</summary>
    [Benchmark]
    public double FftSharpForwardReal() => FftSharp.FFT.ForwardReal(_windowed)[1000].Real;

    /// <summary>The app's spectrum path on MathNet: window, transform, magnitudes, peaks, 4096 display points.</summary>
    [Benchmark]
    public int SpectrumPath() => SpectrumAnalyzer.Compute(_values, Size, SpectrumWindow.Hann, SpectrumScale.Db, 4096).Peaks.Count;

    /// <summary>Round-trip error and on-bin tone amplitude of both libraries (double precision).</summary>
    public static string Accuracy(int n)
    {
        var random = new Random(1);
        var x = new double[n];
        for (var i = 0; i < n; i++)
        {
            x[i] = random.NextDouble() * 2 - 1;
        }
        // MathNet round trip.
        var m = new double[n + 2];
        x.CopyTo(m, 0);
        Fourier.ForwardReal(m, n, FourierOptions.NoScaling);
        Fourier.InverseReal(m, n, FourierOptions.NoScaling);
        var mathNetRoundTrip = Enumerable.Range(0, n).Max(i => Math.Abs(m[i] / n - x[i]));
        // FftSharp round trip (its inverse scales by 1/n).
        var f = FftSharp.FFT.ForwardReal(x);
        var back = FftSharp.FFT.InverseReal(f);
        var scale = Math.Abs(back[0] / x[0]) > 2 ? n : 1.0;
        var fftSharpRoundTrip = Enumerable.Range(0, n).Max(i => Math.Abs(back[i] / scale - x[i]));
        // A tone of amplitude 1 exactly on bin 1000: |X[1000]| · 2 / n should be 1.
        var tone = Enumerable.Range(0, n).Select(i => Math.Sin(2 * Math.PI * 1000.0 * i / n)).ToArray();
        var t = new double[n + 2];
        tone.CopyTo(t, 0);
        Fourier.ForwardReal(t, n, FourierOptions.NoScaling);
        var mathNetTone = Math.Abs(new Complex(t[2000], t[2001]).Magnitude * 2 / n - 1);
        var fftSharpTone = Math.Abs(FftSharp.FFT.ForwardReal(tone)[1000].Magnitude * 2 / n - 1);
        return string.Create(CultureInfo.InvariantCulture,
            $"FFT accuracy n={n}: round-trip max error MathNet {mathNetRoundTrip:E2}, FftSharp {fftSharpRoundTrip:E2}; on-bin tone amplitude error MathNet {mathNetTone:E2}, FftSharp {fftSharpTone:E2}");
    }
}
