using System.Globalization;
using System.Text;
using MeasureApp.Export;

namespace MeasureApp.Tests.Export;

/// <summary>
/// <see cref="ShortestFloat"/> against the runtime's own shortest round-trip formatting: every value
/// must read back as exactly the same float and use as many significant digits as
/// <c>float.ToString("R")</c> (which is the shortest), over every exponent's edge mantissas and a
/// million random bit patterns.
/// </summary>
public sealed class ShortestFloatTests
{
    [Theory]
    [InlineData(0.1f, "0.1")]
    [InlineData(-2.5f, "-2.5")]
    [InlineData(1f, "1")]
    [InlineData(0f, "0")]
    [InlineData(-0f, "-0")]
    [InlineData(499.5f, "499.5")]
    [InlineData(16777216f, "16777216")]
    [InlineData(123456789f, "123456790")]
    [InlineData(0.00001f, "0.00001")]
    [InlineData(0.000001f, "1E-06")]
    [InlineData(1e15f, "1E+15")]
    [InlineData(float.MaxValue, "3.4028235E+38")]
    [InlineData(float.Epsilon, "1E-45")]
    [InlineData(float.NaN, "NaN")]
    [InlineData(float.PositiveInfinity, "Infinity")]
    [InlineData(float.NegativeInfinity, "-Infinity")]
    public void WritesTheExpectedText(float value, string expected) => Assert.Equal(expected, Format(value));

    [Fact]
    public void EveryExponentsEdgeMantissasRoundTripWithTheShortestDigits()
    {
        var failures = new List<string>();
        for (uint exponent = 0; exponent < 255; exponent++)
        {
            for (uint m = 0; m < 48; m++)
            {
                foreach (var mantissa in new[] { m, 0x7FFFFF - m, (1u << 22) + m, (1u << 22) - 1 - m })
                {
                    Check((exponent << 23) | mantissa, failures);
                    Check((1u << 31) | (exponent << 23) | mantissa, failures);
                }
            }
        }
        Assert.Empty(failures);
    }

    [Fact]
    public void RandomBitPatternsRoundTripWithTheShortestDigits()
    {
        var random = new Random(20261124);
        var failures = new List<string>();
        for (var i = 0; i < 1_000_000; i++)
        {
            var bits = (uint)random.NextInt64(0, 1L << 32);
            if (float.IsFinite(BitConverter.UInt32BitsToSingle(bits)))
            {
                Check(bits, failures);
            }
        }
        Assert.Empty(failures);
    }

    [Fact]
    public void ADestinationOfMaxBytesHoldsTheLongestValues()
    {
        foreach (var value in new[] { -1.17549435E-38f, -1.23456791E-35f, -0.0000123456791f, -123456790000000f, -float.MaxValue, float.NegativeInfinity })
        {
            var n = ShortestFloat.Format(value, new byte[ShortestFloat.MaxBytes]);
            Assert.InRange(n, 1, ShortestFloat.MaxBytes);
        }
    }

    private static string Format(float value)
    {
        var buffer = new byte[ShortestFloat.MaxBytes];
        return Encoding.ASCII.GetString(buffer, 0, ShortestFloat.Format(value, buffer));
    }

    private static void Check(uint bits, List<string> failures)
    {
        var value = BitConverter.UInt32BitsToSingle(bits);
        var text = Format(value);
        var back = float.Parse(text, CultureInfo.InvariantCulture);
        var reference = value.ToString("R", CultureInfo.InvariantCulture);
        if (BitConverter.SingleToUInt32Bits(back) != bits || SignificantDigits(text) != SignificantDigits(reference))
        {
            failures.Add($"{bits:X8}: {text} (runtime: {reference})");
        }
    }

    private static int SignificantDigits(string text)
    {
        var digits = text.Split('E')[0].TrimStart('-').Replace(".", "", StringComparison.Ordinal).Trim('0');
        return Math.Max(1, digits.Length);
    }
}
