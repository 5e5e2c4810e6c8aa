namespace MeasureApp.Acquisition.Devices;

/// <summary>
/// Deterministic signal source: the value of sample n depends only on (seed, channel, n), never on
/// how the stream was cut into blocks, so runs are reproducible and tests can predict every value.
/// </summary>
public static class SignalGenerator
{
    /// <summary>Spike height in multiples of the channel amplitude (well outside the normal range).</summary>
    public const double SpikeFactor = 5;

    /// <summary>Fills <paramref name="destination"/> with samples firstIndex… of one channel.</summary>
    /// <returns>Indices (relative to <paramref name="firstIndex"/>) where a spike was injected.</returns>
    public static List<int>? Fill(Span<float> destination, long firstIndex, double sampleRate, SimulatedChannelOptions channel, int seed, int channelIndex, double spikeProbability)
    {
        List<int>? spikes = null;
        var spikeThreshold = (ulong)(spikeProbability * ulong.MaxValue);
        for (var i = 0; i < destination.Length; i++)
        {
            var n = firstIndex + i;
            var t = n / sampleRate;
            var v = channel.Offset + channel.Amplitude * Shape(channel.Waveform, channel.Frequency, t, Hash(seed, channelIndex, n, 0));
            if (channel.Noise > 0)
            {
                v += channel.Noise * ToUnit(Hash(seed, channelIndex, n, 1));
            }
            if (spikeThreshold > 0 && Hash(seed, channelIndex, n, 2) < spikeThreshold)
            {
                v += SpikeFactor * Math.Max(Math.Abs(channel.Amplitude), 1);
                (spikes ??= []).Add(i);
            }
            destination[i] = (float)v;
        }
        return spikes;
    }

    /// <summary>The waveform's value in [−1, 1] at time t.</summary>
    public static double Shape(Waveform waveform, double frequency, double t, ulong noise)
    {
        var phase = frequency * t - Math.Floor(frequency * t);
        return waveform switch
        {
            Waveform.Sine => Math.Sin(2 * Math.PI * frequency * t),
            Waveform.Square => phase < 0.5 ? 1 : -1,
            Waveform.Triangle => phase < 0.5 ? 4 * phase - 1 : 3 - 4 * phase,
            Waveform.Sawtooth => 2 * phase - 1,
            Waveform.Chirp => Chirp(frequency, t),
            Waveform.Step => frequency > 0 && t >= 1 / frequency ? 1 : 0,
            Waveform.Noise => ToUnit(noise),
            _ => throw new ArgumentOutOfRangeException(nameof(waveform), waveform, "Unknown waveform."),
        };
    }

    private static double Chirp(double f0, double t)
    {
        // Linear sweep f0 → 10·f0 within each second.
        var local = t - Math.Floor(t);
        var k = 9 * f0;
        return Math.Sin(2 * Math.PI * (f0 * local + k * local * local / 2));
    }

    private static double ToUnit(ulong h) => (h >> 11) * (2.0 / (1UL << 53)) - 1;

    /// <summary>SplitMix64 over (seed, channel, index, salt).</summary>
    internal static ulong Hash(int seed, int channel, long index, int salt)
    {
        var z = unchecked((ulong)index * 0x9E3779B97F4A7C15UL + ((ulong)(uint)seed << 32) + ((ulong)(uint)channel << 8) + (ulong)salt);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }
}
