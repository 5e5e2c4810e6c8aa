using MeasureApp.Acquisition.Live;

namespace MeasureApp.Tests.Acquisition;

public sealed class M4Tests
{
    private const double Rate = 1000;

    public static TheoryData<int> Lengths()
    {
        var data = new TheoryData<int>();
        for (var n = 0; n <= 100; n++)
        {
            data.Add(n);
        }
        foreach (var n in new[] { 127, 255, 257, 1001, 4095, 4097, 65_537, 100_000 })
        {
            data.Add(n);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void MinMaxEqualsTheScalarReferenceForEveryLength(int length)
    {
        var random = new Random(length);
        var values = RandomValues(random, length);

        Assert.Equal(M4.MinMaxScalar(values), M4.MinMax(values));
        Assert.Equal(M4.MinMaxScalar(values), M4.MinMax(values.AsSpan()));
    }

    [Fact]
    public void MinMaxOfAnEmptySpanIsTheIdentityLikeTheScalarReference()
    {
        Assert.Equal((float.PositiveInfinity, float.NegativeInfinity), M4.MinMax([]));
        Assert.Equal(M4.MinMaxScalar([]), M4.MinMax([]));
    }

    [Fact]
    public void MinMaxOfNegativeValuesOnlyIsNegative()
    {
        var values = Enumerable.Range(1, 1000).Select(i => -i * 0.5f).ToArray();

        Assert.Equal((-500f, -0.5f), M4.MinMax(values));
    }

    [Theory]
    [InlineData(17)]
    [InlineData(64)]
    [InlineData(1001)]
    public void ASingleSampleSpikeAnywhereSurvivesMinMax(int length)
    {
        var random = new Random(length);
        for (var at = 0; at < length; at++)
        {
            var values = RandomValues(random, length);
            values[at] = 1e6f;
            Assert.Equal(1e6f, M4.MinMax(values).Max);
            values[at] = -1e6f;
            Assert.Equal(-1e6f, M4.MinMax(values).Min);
        }
    }

    [Theory]
    [InlineData(16)]
    [InlineData(33)]
    [InlineData(100)]
    public void MinMaxIgnoresNaNLikeTheScalarReference(int length)
    {
        var random = new Random(length);
        for (var at = 0; at < length; at++)
        {
            var values = RandomValues(random, length);
            values[at] = float.NaN;
            var expected = M4.MinMaxScalar(values);
            Assert.False(float.IsNaN(expected.Min) || float.IsNaN(expected.Max));
            Assert.Equal(expected, M4.MinMax(values));
        }
    }

    [Fact]
    public void SumMatchesAPlainLoop()
    {
        var values = RandomValues(new Random(1), 1003);

        Assert.Equal(values.Sum(v => (double)v), M4.Sum(values), 0.01);
    }

    [Theory]
    [InlineData(1, 500)]
    [InlineData(3, 1000)]
    [InlineData(10, 997)]
    [InlineData(64, 10_000)]
    [InlineData(1000, 12_345)]
    public void StreamingDecimationKeepsEveryColumnsMinAndMaxInTimeOrderForAnyBlockSplit(int samplesPerColumn, int length)
    {
        var random = new Random(samplesPerColumn * 31 + length);
        var values = RandomValues(random, length);
        values[random.Next(length)] = 1e6f;
        values[random.Next(length)] = -1e6f;
        var whole = Decimate(values, samplesPerColumn, [length]);

        for (var attempt = 0; attempt < 10; attempt++)
        {
            var split = RandomSplit(random, length);
            var points = Decimate(values, samplesPerColumn, split);

            Assert.Equal(whole, points);
            AssertIsM4(values, samplesPerColumn, points);
        }
    }

    [Fact]
    public void AColumnIsOnlyEmittedOnceItIsComplete()
    {
        var accumulator = new M4Accumulator(10);
        var xs = new List<double>();
        var ys = new List<float>();

        accumulator.Add([1, 2, 3, 4, 5, 6, 7, 8, 9], firstIndex: 0, Rate, xs, ys);
        Assert.Empty(xs);

        accumulator.Add([10, 11], firstIndex: 9, Rate, xs, ys);
        Assert.Equal([0, 0.009], xs);
        Assert.Equal([1f, 10f], ys);
    }

    [Fact]
    public void ColumnsOfNaNNeverEmitPointsOutOfOrderOrInfinities()
    {
        var accumulator = new M4Accumulator(4);
        var xs = new List<double>();
        var ys = new List<float>();

        accumulator.Add([5, 1, 9, 2], firstIndex: 0, Rate, xs, ys);
        accumulator.Add([float.NaN, float.NaN, float.NaN, float.NaN], firstIndex: 4, Rate, xs, ys);
        accumulator.Add([3, 3, 3, 3], firstIndex: 8, Rate, xs, ys);

        Assert.Equal(xs.Order(), xs);
        Assert.DoesNotContain(ys, float.IsInfinity);
        Assert.Contains(ys, float.IsNaN);
        Assert.Equal([0, 0.001, 0.002, 0.003], xs.Take(4));
        Assert.Equal([5f, 1f, 9f, 2f], ys.Take(4));
    }

    [Fact]
    public void WithATimeLineEveryPointLiesAtItsOwnSamplesTime()
    {
        // A stored time line: sample i lies at 100 + i / 10 s (the replay passes SampleRuns.SecondsOf).
        var accumulator = new M4Accumulator(4, i => 100 + (i / 10.0));
        var xs = new List<double>();
        var ys = new List<float>();

        accumulator.Add([5, 1, 9, 2, 3], firstIndex: 8, Rate, xs, ys);
        accumulator.Flush(Rate, xs, ys);

        Assert.Equal(new long[] { 8, 9, 10, 11, 12 }.Select(i => 100 + (i / 10.0)), xs);
        Assert.Equal([5f, 1f, 9f, 2f, 3f], ys);
    }

    /// <summary>Feeds the values in pieces of the given sizes and flushes the last column.</summary>
    private static List<(long Index, float Value)> Decimate(float[] values, int samplesPerColumn, IEnumerable<int> pieces)
    {
        var accumulator = new M4Accumulator(samplesPerColumn);
        var xs = new List<double>();
        var ys = new List<float>();
        var offset = 0;
        foreach (var size in pieces)
        {
            accumulator.Add(values.AsSpan(offset, size), offset, Rate, xs, ys);
            offset += size;
        }
        accumulator.Flush(Rate, xs, ys);
        return [.. xs.Zip(ys, (x, y) => ((long)Math.Round(x * Rate), y))];
    }

    private static void AssertIsM4(float[] values, int samplesPerColumn, List<(long Index, float Value)> points)
    {
        Assert.Equal(points.Select(p => p.Index).Order(), points.Select(p => p.Index));
        Assert.Equal(points.Count, points.Select(p => p.Index).Distinct().Count());
        Assert.All(points, p => Assert.Equal(values[p.Index], p.Value));
        var columns = (values.Length + samplesPerColumn - 1) / samplesPerColumn;
        var byColumn = points.GroupBy(p => p.Index / samplesPerColumn).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(columns, byColumn.Count);
        for (var column = 0; column < columns; column++)
        {
            var start = column * samplesPerColumn;
            var slice = values.AsSpan(start, Math.Min(samplesPerColumn, values.Length - start));
            var (min, max) = M4.MinMaxScalar(slice);
            var emitted = byColumn[column];
            Assert.InRange(emitted.Count, 1, 4);
            Assert.Equal(start, emitted[0].Index);
            Assert.Equal(start + slice.Length - 1, emitted[^1].Index);
            Assert.Contains(emitted, p => p.Value == min);
            Assert.Contains(emitted, p => p.Value == max);
        }
    }

    private static List<int> RandomSplit(Random random, int length)
    {
        var pieces = new List<int>();
        var left = length;
        while (left > 0)
        {
            // Mostly small pieces, some large, some of exactly one sample.
            var size = random.Next(4) switch
            {
                0 => 1,
                1 => random.Next(1, 20),
                _ => random.Next(1, 3000),
            };
            size = Math.Min(size, left);
            pieces.Add(size);
            left -= size;
        }
        return pieces;
    }

    private static float[] RandomValues(Random random, int length)
    {
        var values = new float[length];
        for (var i = 0; i < length; i++)
        {
            values[i] = (float)((random.NextDouble() - 0.5) * 2000);
        }
        return values;
    }
}
