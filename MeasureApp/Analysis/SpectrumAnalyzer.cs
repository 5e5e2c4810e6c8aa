using System.Numerics;
using MathNet.Numerics.IntegralTransforms;

namespace MeasureApp.Analysis;

/// <summary>Window applied before the FFT.</summary>
public enum SpectrumWindow
{
    /// <summary>Hann: a good default (−31 dB side lobes).</summary>
    Hann,
    /// <summary>Hamming (−43 dB first side lobe).</summary>
    Hamming,
    /// <summary>4-term Blackman-Harris: −92 dB side lobes, for small tones beside large ones.</summary>
    BlackmanHarris,
    /// <summary>Flat-top: amplitude within ±0.01 dB wherever the tone falls between bins.</summary>
    FlatTop,
    /// <summary>No window (exact for tones on a bin, leaky otherwise).</summary>
    Rectangular,
}

/// <summary>Magnitude axis.</summary>
public enum SpectrumScale
{
    /// <summary>20·log10(amplitude / 1 unit).</summary>
    Db,
    /// <summary>Peak amplitude in the channel's unit.</summary>
    Linear,
}

/// <summary>A spectral peak.</summary>
/// <param name="FrequencyHz">Frequency of the peak bin.</param>
/// <param name="Magnitude">Its magnitude on the requested scale.</param>
public sealed record SpectrumPeak(double FrequencyHz, double Magnitude);

/// <summary>A single-sided amplitude spectrum, reduced to at most the requested number of points (max per group of bins).</summary>
public sealed record SpectrumResult
{
    /// <summary>Frequency of each point, Hz.</summary>
    public required double[] FrequencyHz { get; init; }
    /// <summary>Magnitude of each point on the requested scale.</summary>
    public required double[] Magnitude { get; init; }
    /// <summary>The strongest peaks (not DC), strongest first.</summary>
    public required IReadOnlyList<SpectrumPeak> Peaks { get; init; }
    /// <summary>Samples transformed.</summary>
    public required int Samples { get; init; }
    /// <summary>FFT length (the samples zero-padded to a power of two).</summary>
    public required int FftLength { get; init; }
    /// <summary>Bin spacing, Hz.</summary>
    public required double ResolutionHz { get; init; }
    /// <summary>Time of the first sample transformed, seconds since the first sample of the measurement.</summary>
    public double? FromSeconds { get; init; }
    /// <summary>Time of the last sample transformed.</summary>
    public double? ToSeconds { get; init; }
    /// <summary>Gaps in the requested span: with any, only its longest gap-free run was transformed.</summary>
    public int Gaps { get; init; }
    /// <summary>Why fewer samples than the span holds were transformed (the gaps and the run used); null without gaps.</summary>
    public string? Note { get; init; }
}

/// <summary>Short-time spectra of a span: one reduced spectrum per frame.</summary>
public sealed record SpectrogramResult
{
    /// <summary>Centre of each frame, seconds since the first sample.</summary>
    public required double[] TimeSeconds { get; init; }
    /// <summary>Frequency of each row, Hz (the strongest bin of each group of bins).</summary>
    public required double[] FrequencyHz { get; init; }
    /// <summary>Per frame, the magnitude of each row on the requested scale.</summary>
    public required double[][] Magnitude { get; init; }
    /// <summary>Per frame, the frequency of its strongest bin (not DC) at full resolution.</summary>
    public required double[] PeakFrequencyHz { get; init; }
    /// <summary>Samples per frame.</summary>
    public required int FrameLength { get; init; }
    /// <summary>Samples from one frame's start to the next one's (within a run).</summary>
    public required int HopSamples { get; init; }
    /// <summary>Bin spacing, Hz.</summary>
    public required double ResolutionHz { get; init; }
}

/// <summary>
/// FFT of a span of one channel with MathNet.Numerics (chosen over FftSharp in the bench: see
/// docs/benchmarks.md). Magnitudes are scaled so a sine of amplitude A reads A (linear) at its peak:
/// |X[k]| · 2 / Σw — exact on a bin for every window, within ±0.01 dB anywhere with flat-top.
/// </summary>
public static class SpectrumAnalyzer
{
    /// <summary>Most samples one transform takes (2^20).</summary>
    public const int MaxSamples = 1 << 20;

    /// <summary>Peaks reported.</summary>
    public const int PeakCount = 5;

    /// <summary>Transforms <paramref name="samples"/> (at most <see cref="MaxSamples"/>), sampled at <paramref name="sampleRate"/> Hz.</summary>
    public static SpectrumResult Compute(ReadOnlySpan<float> samples, double sampleRate, SpectrumWindow window, SpectrumScale scale, int maxPoints)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(samples.Length, 2);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(samples.Length, MaxSamples);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPoints, 2);
        var n = samples.Length;
        var fftLength = (int)BitOperations.RoundUpToPowerOf2((uint)n);
        var w = Window(window, n);
        var amplitude = new double[fftLength / 2 + 1];
        Amplitudes(samples, w, w.Sum(), new double[fftLength + 2], amplitude);
        var resolution = sampleRate / fftLength;
        var peaks = FindPeaks(amplitude, PeakCount, LobeHalfWidth(window) * fftLength / n + 1)
            .Select(k => new SpectrumPeak(k * resolution, OnScale(amplitude[k], scale))).ToList();
        var (frequency, magnitude) = Reduce(amplitude, resolution, scale, maxPoints, atPeak: true);
        return new SpectrumResult
        {
            FrequencyHz = frequency,
            Magnitude = magnitude,
            Peaks = peaks,
            Samples = n,
            FftLength = fftLength,
            ResolutionHz = resolution,
        };
    }

    /// <summary>
    /// Short-time spectra of <paramref name="samples"/> (a spectrogram): frames of <paramref name="frameLength"/>
    /// samples (a power of two), each windowed and transformed like <see cref="Compute"/>, spaced so that at most
    /// <paramref name="maxFrames"/> fit (at least a quarter frame apart). A frame never spans a gap: frames are laid
    /// inside each contiguous run of <paramref name="runs"/> (value offset, sample index of its first value),
    /// and a frame's time is its centre's time: <paramref name="secondsOf"/> of its first sample's index (the stored
    /// time line; index / rate when null) plus half a frame.
    /// </summary>
    public static SpectrogramResult Spectrogram(ReadOnlySpan<float> samples, IReadOnlyList<(int Offset, long Index)> runs, double sampleRate,
        SpectrumWindow window, SpectrumScale scale, int frameLength, int maxFrames, int maxRows, Func<long, double>? secondsOf = null)
    {
        secondsOf ??= i => i / sampleRate;
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentOutOfRangeException.ThrowIfLessThan(frameLength, 4);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxFrames, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 2);
        if (!BitOperations.IsPow2(frameLength))
        {
            throw new ArgumentOutOfRangeException(nameof(frameLength), frameLength, "The frame length must be a power of two.");
        }
        var hop = Math.Max(frameLength / 4, (int)Math.Min(int.MaxValue, ((long)samples.Length - frameLength + maxFrames - 1) / Math.Max(1, maxFrames - 1)));
        var w = Window(window, frameLength);
        var windowSum = w.Sum();
        var data = new double[frameLength + 2];
        var amplitude = new double[frameLength / 2 + 1];
        var resolution = sampleRate / frameLength;
        var lobe = LobeHalfWidth(window) + 1;
        var times = new List<double>();
        var rows = new List<double[]>();
        var peaks = new List<double>();
        double[] frequency = [];
        for (var r = 0; r < runs.Count && times.Count < maxFrames; r++)
        {
            var runEnd = r + 1 < runs.Count ? runs[r + 1].Offset : samples.Length;
            for (var start = runs[r].Offset; start + frameLength <= runEnd && times.Count < maxFrames; start += hop)
            {
                Amplitudes(samples.Slice(start, frameLength), w, windowSum, data, amplitude);
                (frequency, var magnitude) = Reduce(amplitude, resolution, scale, maxRows, atPeak: false);
                rows.Add(magnitude);
                peaks.Add(FindPeaks(amplitude, 1, lobe) is [var k] ? k * resolution : 0);
                times.Add(secondsOf(runs[r].Index + (start - runs[r].Offset)) + (frameLength / 2.0 / sampleRate));
            }
        }
        return new SpectrogramResult
        {
            TimeSeconds = [.. times],
            FrequencyHz = frequency,
            Magnitude = [.. rows],
            PeakFrequencyHz = [.. peaks],
            FrameLength = frameLength,
            HopSamples = hop,
            ResolutionHz = resolution,
        };
    }

    // Single-sided amplitude spectrum of one windowed frame, zero-padded to data.Length − 2 (a power of two).
    private static void Amplitudes(ReadOnlySpan<float> samples, double[] w, double windowSum, double[] data, double[] amplitude)
    {
        var fftLength = data.Length - 2;
        // MathNet's real transform works in place on n + 2 doubles (interleaved re/im of n/2 + 1 bins).
        Array.Clear(data);
        for (var i = 0; i < samples.Length; i++)
        {
            data[i] = samples[i] * w[i];
        }
        Fourier.ForwardReal(data, fftLength, FourierOptions.NoScaling);
        var bins = fftLength / 2 + 1;
        for (var k = 0; k < bins; k++)
        {
            var re = data[2 * k];
            var im = data[2 * k + 1];
            // DC and Nyquist have no mirror image in the negative frequencies.
            amplitude[k] = Math.Sqrt(re * re + im * im) * (k == 0 || k == bins - 1 ? 1 : 2) / windowSum;
        }
    }

    // Reduce for display: the max of each group of bins keeps every peak visible. A line plot puts the point at
    // the strongest bin (atPeak); a heatmap's rows need the same frequencies in every frame (the group's centre).
    private static (double[] Frequency, double[] Magnitude) Reduce(double[] amplitude, double resolution, SpectrumScale scale, int maxPoints, bool atPeak)
    {
        var bins = amplitude.Length;
        var group = (bins + maxPoints - 1) / maxPoints;
        var points = (bins + group - 1) / group;
        var frequency = new double[points];
        var magnitude = new double[points];
        for (var p = 0; p < points; p++)
        {
            var best = p * group;
            for (var k = best + 1; k < Math.Min(bins, (p + 1) * group); k++)
            {
                if (amplitude[k] > amplitude[best])
                {
                    best = k;
                }
            }
            frequency[p] = atPeak ? best * resolution : (p * group + ((Math.Min(bins, (p + 1) * group) - p * group - 1) / 2.0)) * resolution;
            magnitude[p] = OnScale(amplitude[best], scale);
        }
        return (frequency, magnitude);
    }

    /// <summary>Window coefficients (symmetric).</summary>
    public static double[] Window(SpectrumWindow window, int n) => window switch
    {
        SpectrumWindow.Hann => MathNet.Numerics.Window.Hann(n),
        SpectrumWindow.Hamming => MathNet.Numerics.Window.Hamming(n),
        SpectrumWindow.BlackmanHarris => MathNet.Numerics.Window.BlackmanHarris(n),
        SpectrumWindow.FlatTop => MathNet.Numerics.Window.FlatTop(n),
        _ => Enumerable.Repeat(1.0, n).ToArray(),
    };

    private static double OnScale(double amplitude, SpectrumScale scale) =>
        scale == SpectrumScale.Linear ? amplitude : 20 * Math.Log10(Math.Max(amplitude, 1e-15));

    // Half the main lobe in bins: neighbours inside it belong to the same tone.
    private static int LobeHalfWidth(SpectrumWindow window) => window switch
    {
        SpectrumWindow.Rectangular => 1,
        SpectrumWindow.Hann or SpectrumWindow.Hamming => 2,
        SpectrumWindow.BlackmanHarris => 4,
        _ => 5,
    };

    private static List<int> FindPeaks(double[] amplitude, int count, int halfWidth)
    {
        var candidates = new List<int>();
        // Skip DC and its lobe: an offset is not a tone.
        for (var k = halfWidth; k < amplitude.Length; k++)
        {
            var isMax = amplitude[k] > 0;
            for (var j = Math.Max(0, k - halfWidth); isMax && j <= Math.Min(amplitude.Length - 1, k + halfWidth); j++)
            {
                isMax = j == k || amplitude[j] < amplitude[k] || (amplitude[j] == amplitude[k] && j > k);
            }
            if (isMax)
            {
                candidates.Add(k);
            }
        }
        return [.. candidates.OrderByDescending(k => amplitude[k]).Take(count)];
    }
}
