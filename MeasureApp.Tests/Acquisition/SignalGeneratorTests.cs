using MeasureApp.Acquisition.Devices;

namespace MeasureApp.Tests.Acquisition;

public sealed class SignalGeneratorTests
{
    private const double Rate = 1000;

    private static readonly SimulatedChannelOptions NoisySine = new() { Waveform = Waveform.Sine, Amplitude = 2, Frequency = 5, Offset = 0.5, Noise = 0.1 };

    [Theory]
    [InlineData(Waveform.Sine)]
    [InlineData(Waveform.Square)]
    [InlineData(Waveform.Triangle)]
    [InlineData(Waveform.Sawtooth)]
    [InlineData(Waveform.Chirp)]
    [InlineData(Waveform.Step)]
    [InlineData(Waveform.Noise)]
    public void ValuesDoNotDependOnHowTheStreamIsCutIntoBlocks(Waveform waveform)
    {
        var channel = new SimulatedChannelOptions { Waveform = waveform, Amplitude = 3, Frequency = 7, Offset = -1, Noise = 0.2 };
        const long start = 123_456;
        const int length = 20_000;

        var whole = new float[length];
        var wholeSpikes = SignalGenerator.Fill(whole, start, Rate, channel, seed: 42, channelIndex: 3, spikeProbability: 0.001) ?? [];

        var pieces = new float[length];
        var pieceSpikes = new List<int>();
        var random = new Random(7);
        var offset = 0;
        while (offset < length)
        {
            var size = Math.Min(length - offset, random.Next(1, 700));
            var spikes = SignalGenerator.Fill(pieces.AsSpan(offset, size), start + offset, Rate, channel, seed: 42, channelIndex: 3, spikeProbability: 0.001);
            pieceSpikes.AddRange((spikes ?? []).Select(i => i + offset));
            offset += size;
        }

        Assert.Equal(whole, pieces);
        Assert.NotEmpty(wholeSpikes);
        Assert.Equal(wholeSpikes, pieceSpikes);
    }

    [Fact]
    public void SameSeedGivesTheSameValuesAndAnotherSeedDifferentOnes()
    {
        var a = Generate(NoisySine, seed: 1, spikeProbability: 0);
        var b = Generate(NoisySine, seed: 1, spikeProbability: 0);
        var c = Generate(NoisySine, seed: 2, spikeProbability: 0);

        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void SineCrossesZeroAtHalfPeriodsAndPeaksAtQuarterPeriods()
    {
        // 5 Hz at 1 kHz: one period is 200 samples.
        var values = Generate(new SimulatedChannelOptions { Waveform = Waveform.Sine, Frequency = 5 }, seed: 1, spikeProbability: 0, length: 401);

        Assert.Equal(0, values[0], 6);
        Assert.Equal(1, values[50], 6);
        Assert.Equal(0, values[100], 6);
        Assert.Equal(-1, values[150], 6);
        Assert.Equal(0, values[200], 6);
        Assert.True(values[99] > 0 && values[101] < 0, "The sine must change sign at the half period.");
    }

    [Fact]
    public void SquareIsPositiveInTheFirstHalfOfEachPeriodAndNegativeInTheSecond()
    {
        var channel = new SimulatedChannelOptions { Waveform = Waveform.Square, Frequency = 5, Amplitude = 2 };
        var values = Generate(channel, seed: 1, spikeProbability: 0, length: 400);

        for (var n = 0; n < values.Length; n++)
        {
            var firstHalf = n % 200 < 100;
            Assert.Equal(firstHalf ? 2f : -2f, values[n]);
        }
    }

    [Fact]
    public void StepIsZeroBeforeOneOverFAndOneFromThenOn()
    {
        // 5 Hz: the step comes at 0.2 s, sample 200.
        var values = Generate(new SimulatedChannelOptions { Waveform = Waveform.Step, Frequency = 5 }, seed: 1, spikeProbability: 0, length: 400);

        Assert.All(values[..200], v => Assert.Equal(0f, v));
        Assert.All(values[200..], v => Assert.Equal(1f, v));
    }

    [Fact]
    public void SawtoothRisesFromMinusOneToBelowOneEachPeriod()
    {
        var values = Generate(new SimulatedChannelOptions { Waveform = Waveform.Sawtooth, Frequency = 5 }, seed: 1, spikeProbability: 0, length: 400);

        Assert.All(values, v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(-1f, values[0]);
        Assert.Equal(-1f, values[200]);
        Assert.Equal(0f, values[100], 6);
        for (var n = 1; n < 200; n++)
        {
            Assert.True(values[n] > values[n - 1], $"The sawtooth must rise within a period (sample {n}).");
        }
        Assert.True(values[199] > 0.98f);
    }

    [Fact]
    public void TriangleAndNoiseStayWithinTheirAmplitude()
    {
        var triangle = Generate(new SimulatedChannelOptions { Waveform = Waveform.Triangle, Frequency = 5 }, seed: 1, spikeProbability: 0);
        var noise = Generate(new SimulatedChannelOptions { Waveform = Waveform.Noise, Amplitude = 0.5, Offset = 10 }, seed: 1, spikeProbability: 0);

        Assert.All(triangle, v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(-1f, triangle[0]);
        Assert.Equal(1f, triangle[100], 6);
        Assert.All(noise, v => Assert.InRange(v, 9.5f, 10.5f));
        Assert.True(noise.Distinct().Count() > noise.Length / 2, "Noise must not repeat a few values.");
    }

    [Fact]
    public void SpikesAreSeededAndStandOutOfTheSignal()
    {
        var channel = new SimulatedChannelOptions { Waveform = Waveform.Sine, Frequency = 5, Amplitude = 1 };
        var a = new float[100_000];
        var b = new float[100_000];
        var c = new float[100_000];

        var spikesA = SignalGenerator.Fill(a, 0, Rate, channel, seed: 1, channelIndex: 0, spikeProbability: 0.001);
        var spikesB = SignalGenerator.Fill(b, 0, Rate, channel, seed: 1, channelIndex: 0, spikeProbability: 0.001);
        var spikesC = SignalGenerator.Fill(c, 0, Rate, channel, seed: 2, channelIndex: 0, spikeProbability: 0.001);

        Assert.NotNull(spikesA);
        Assert.NotNull(spikesC);
        Assert.InRange(spikesA.Count, 50, 200);
        Assert.Equal(spikesA, spikesB);
        Assert.NotEqual(spikesA, spikesC);
        Assert.All(spikesA, i => Assert.True(a[i] > 3, $"A spike must stand out (value {a[i]} at {i})."));
        Assert.Equal(spikesA.Count, a.Count(v => v > 3));
    }

    [Fact]
    public void ChannelsOfOneSeedGetDifferentSpikes()
    {
        var channel = new SimulatedChannelOptions { Waveform = Waveform.Sine };
        var ch0 = SignalGenerator.Fill(new float[100_000], 0, Rate, channel, seed: 1, channelIndex: 0, spikeProbability: 0.001);
        var ch1 = SignalGenerator.Fill(new float[100_000], 0, Rate, channel, seed: 1, channelIndex: 1, spikeProbability: 0.001);

        Assert.NotNull(ch0);
        Assert.NotNull(ch1);
        Assert.NotEqual(ch0, ch1);
    }

    [Fact]
    public void SpikeProbabilityZeroGivesNoSpikes()
    {
        var values = new float[200_000];
        var spikes = SignalGenerator.Fill(values, 0, Rate, new SimulatedChannelOptions { Waveform = Waveform.Sine }, seed: 1, channelIndex: 0, spikeProbability: 0);

        Assert.Null(spikes);
        Assert.All(values, v => Assert.InRange(v, -1f, 1f));
    }

    private static float[] Generate(SimulatedChannelOptions channel, int seed, double spikeProbability, int length = 10_000)
    {
        var values = new float[length];
        SignalGenerator.Fill(values, 0, Rate, channel, seed, channelIndex: 0, spikeProbability);
        return values;
    }
}
