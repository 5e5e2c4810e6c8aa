using System.Globalization;
using System.Numerics;

namespace MeasureApp.Export;

/// <summary>
/// Formats a float32 as the shortest decimal that reads back as the same float (what
/// <c>float.ToString("R")</c> gives since .NET Core 3.0), as UTF-8, about twice as fast as
/// <see cref="float.TryFormat(Span{byte}, out int, ReadOnlySpan{char}, IFormatProvider?)"/> (see
/// docs/benchmarks.md): the CSV export spends most of its time here. The digits come from Ryū (Ulf Adams, PLDI 2018, the 32-bit
/// variant with 64-bit multipliers); the tables of powers of five are computed exactly at start-up.
/// </summary>
/// <remarks>
/// Layout: plain decimal notation (<c>-12.5</c>, <c>0.00125</c>) while the decimal exponent of the
/// first digit is in [−5, 15), otherwise <c>d.dddE+XX</c> / <c>d.dddE-XX</c> like .NET. NaN and the
/// infinities are written as .NET's invariant culture writes them.
/// </remarks>
public static class ShortestFloat
{
    /// <summary>Most bytes one value takes (<c>-1.23456789E-45</c>).</summary>
    public const int MaxBytes = 16;

    private const int MantissaBits = 23;
    private const int ExponentBias = 127;
    private const int Pow5InvBitCount = 59;
    private const int Pow5BitCount = 61;

    private static readonly ulong[] Pow5InvSplit = BuildInverseTable(31);
    private static readonly ulong[] Pow5Split = BuildTable(47);
    private static readonly byte[] Pairs = BuildPairs();

    /// <summary>"00", "01" … "99" as 200 ASCII bytes, for writing two digits at a time.</summary>
    internal static ReadOnlySpan<byte> DigitPairs => Pairs;

    /// <summary>Writes <paramref name="value"/> into <paramref name="destination"/> (at least <see cref="MaxBytes"/> long); returns the bytes written.</summary>
    public static int Format(float value, Span<byte> destination)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        var exponentBits = (int)((bits >> MantissaBits) & 0xFF);
        var mantissaBits = bits & ((1u << MantissaBits) - 1);
        if (exponentBits == 0xFF)
        {
            value.TryFormat(destination, out var written, default, CultureInfo.InvariantCulture);
            return written;
        }
        var n = 0;
        if ((bits >> 31) != 0)
        {
            destination[n++] = (byte)'-';
        }
        if (exponentBits == 0 && mantissaBits == 0)
        {
            destination[n++] = (byte)'0';
            return n;
        }
        var (digits, exponent) = Shortest(exponentBits, mantissaBits);
        return n + Layout(digits, exponent, destination[n..]);
    }

    // Ryū, step by step as in the paper's f2s: returns output × 10^exponent.
    private static (uint Digits, int Exponent) Shortest(int exponentBits, uint mantissaBits)
    {
        int e2;
        uint m2;
        if (exponentBits == 0)
        {
            e2 = 1 - ExponentBias - MantissaBits - 2;
            m2 = mantissaBits;
        }
        else
        {
            e2 = exponentBits - ExponentBias - MantissaBits - 2;
            m2 = (1u << MantissaBits) | mantissaBits;
        }
        var even = (m2 & 1) == 0;
        var mv = 4 * m2;
        var mp = (4 * m2) + 2;
        var mmShift = mantissaBits != 0 || exponentBits <= 1 ? 1u : 0u;
        var mm = (4 * m2) - 1 - mmShift;

        uint vr, vp, vm;
        int e10;
        bool vmIsTrailingZeros = false, vrIsTrailingZeros = false;
        uint lastRemovedDigit = 0;
        if (e2 >= 0)
        {
            var q = Log10Pow2(e2);
            e10 = q;
            var k = Pow5InvBitCount + Pow5Bits(q) - 1;
            var i = -e2 + q + k;
            vr = MulShift(mv, Pow5InvSplit[q], i);
            vp = MulShift(mp, Pow5InvSplit[q], i);
            vm = MulShift(mm, Pow5InvSplit[q], i);
            if (q != 0 && (vp - 1) / 10 <= vm / 10)
            {
                // One removed digit is needed even when the loop below removes none.
                var l = Pow5InvBitCount + Pow5Bits(q - 1) - 1;
                lastRemovedDigit = MulShift(mv, Pow5InvSplit[q - 1], -e2 + q - 1 + l) % 10;
            }
            if (q <= 9)
            {
                // At most one of mp, mv, mm is a multiple of 5.
                if (mv % 5 == 0)
                {
                    vrIsTrailingZeros = Pow5Factor(mv) >= q;
                }
                else if (even)
                {
                    vmIsTrailingZeros = Pow5Factor(mm) >= q;
                }
                else
                {
                    vp -= Pow5Factor(mp) >= q ? 1u : 0u;
                }
            }
        }
        else
        {
            var q = Log10Pow5(-e2);
            e10 = q + e2;
            var i = -e2 - q;
            var k = Pow5Bits(i) - Pow5BitCount;
            var j = q - k;
            vr = MulShift(mv, Pow5Split[i], j);
            vp = MulShift(mp, Pow5Split[i], j);
            vm = MulShift(mm, Pow5Split[i], j);
            if (q != 0 && (vp - 1) / 10 <= vm / 10)
            {
                j = q - 1 - (Pow5Bits(i + 1) - Pow5BitCount);
                lastRemovedDigit = MulShift(mv, Pow5Split[i + 1], j) % 10;
            }
            if (q <= 1)
            {
                // mv = 4·m2 has at least two trailing zero bits; mm has one exactly when mmShift is 1.
                vrIsTrailingZeros = true;
                if (even)
                {
                    vmIsTrailingZeros = mmShift == 1;
                }
                else
                {
                    vp--;
                }
            }
            else if (q < 31)
            {
                vrIsTrailingZeros = (mv & ((1u << (q - 1)) - 1)) == 0;
            }
        }

        var removed = 0;
        uint output;
        if (vmIsTrailingZeros || vrIsTrailingZeros)
        {
            // The rare general case.
            while (vp / 10 > vm / 10)
            {
                vmIsTrailingZeros &= vm % 10 == 0;
                vrIsTrailingZeros &= lastRemovedDigit == 0;
                lastRemovedDigit = vr % 10;
                vr /= 10;
                vp /= 10;
                vm /= 10;
                removed++;
            }
            if (vmIsTrailingZeros)
            {
                while (vm % 10 == 0)
                {
                    vrIsTrailingZeros &= lastRemovedDigit == 0;
                    lastRemovedDigit = vr % 10;
                    vr /= 10;
                    vp /= 10;
                    vm /= 10;
                    removed++;
                }
            }
            if (vrIsTrailingZeros && lastRemovedDigit == 5 && vr % 2 == 0)
            {
                // Exactly halfway: round to even.
                lastRemovedDigit = 4;
            }
            output = vr + ((vr == vm && (!even || !vmIsTrailingZeros)) || lastRemovedDigit >= 5 ? 1u : 0u);
        }
        else
        {
            while (vp / 10 > vm / 10)
            {
                lastRemovedDigit = vr % 10;
                vr /= 10;
                vp /= 10;
                vm /= 10;
                removed++;
            }
            output = vr + (vr == vm || lastRemovedDigit >= 5 ? 1u : 0u);
        }
        return (output, e10 + removed);
    }

    // digits × 10^exponent, digits without trailing zeros beyond what Ryū removed.
    private static int Layout(uint digits, int exponent, Span<byte> destination)
    {
        Span<byte> text = stackalloc byte[10];
        var length = WriteDigits(digits, text);
        var point = length + exponent; // digits before the decimal point
        var scientific = point - 1;
        var n = 0;
        if (scientific is >= -5 and < 15)
        {
            if (point <= 0)
            {
                destination[n++] = (byte)'0';
                destination[n++] = (byte)'.';
                for (var z = 0; z < -point; z++)
                {
                    destination[n++] = (byte)'0';
                }
                text[..length].CopyTo(destination[n..]);
                return n + length;
            }
            if (point >= length)
            {
                text[..length].CopyTo(destination);
                n = length;
                for (var z = length; z < point; z++)
                {
                    destination[n++] = (byte)'0';
                }
                return n;
            }
            text[..point].CopyTo(destination);
            destination[point] = (byte)'.';
            text[point..length].CopyTo(destination[(point + 1)..]);
            return length + 1;
        }
        destination[n++] = text[0];
        if (length > 1)
        {
            destination[n++] = (byte)'.';
            text[1..length].CopyTo(destination[n..]);
            n += length - 1;
        }
        destination[n++] = (byte)'E';
        destination[n++] = scientific < 0 ? (byte)'-' : (byte)'+';
        var magnitude = Math.Abs(scientific);
        destination[n++] = Pairs[magnitude * 2];
        destination[n++] = Pairs[(magnitude * 2) + 1];
        return n;
    }

    private static int WriteDigits(uint value, Span<byte> text)
    {
        var length = value >= 100_000_000 ? 9 : value >= 10_000_000 ? 8 : value >= 1_000_000 ? 7 : value >= 100_000 ? 6
            : value >= 10_000 ? 5 : value >= 1000 ? 4 : value >= 100 ? 3 : value >= 10 ? 2 : 1;
        var at = length;
        while (value >= 100)
        {
            var pair = (int)(value % 100) * 2;
            value /= 100;
            text[--at] = Pairs[pair + 1];
            text[--at] = Pairs[pair];
        }
        if (value >= 10)
        {
            text[--at] = Pairs[((int)value * 2) + 1];
            text[--at] = Pairs[(int)value * 2];
        }
        else
        {
            text[--at] = (byte)('0' + value);
        }
        return length;
    }

    private static uint MulShift(uint m, ulong factor, int shift) => (uint)(((UInt128)m * factor) >> shift);

    private static int Pow5Bits(int e) => (int)(((uint)e * 1217359) >> 19) + 1;

    private static int Log10Pow2(int e) => (int)(((uint)e * 78913) >> 18);

    private static int Log10Pow5(int e) => (int)(((uint)e * 732923) >> 20);

    private static int Pow5Factor(uint value)
    {
        var count = 0;
        while (value % 5 == 0)
        {
            value /= 5;
            count++;
        }
        return count;
    }

    // floor(2^(bitlength(5^i) − 1 + 59) / 5^i) + 1
    private static ulong[] BuildInverseTable(int size)
    {
        var table = new ulong[size];
        for (var i = 0; i < size; i++)
        {
            var pow = BigInteger.Pow(5, i);
            var shift = (int)pow.GetBitLength() - 1 + Pow5InvBitCount;
            table[i] = (ulong)((BigInteger.One << shift) / pow) + 1;
        }
        return table;
    }

    // 5^i scaled to exactly 61 bits (truncated).
    private static ulong[] BuildTable(int size)
    {
        var table = new ulong[size];
        for (var i = 0; i < size; i++)
        {
            var pow = BigInteger.Pow(5, i);
            var shift = (int)pow.GetBitLength() - Pow5BitCount;
            table[i] = (ulong)(shift >= 0 ? pow >> shift : pow << -shift);
        }
        return table;
    }

    private static byte[] BuildPairs()
    {
        var pairs = new byte[200];
        for (var i = 0; i < 100; i++)
        {
            pairs[i * 2] = (byte)('0' + (i / 10));
            pairs[(i * 2) + 1] = (byte)('0' + (i % 10));
        }
        return pairs;
    }
}
