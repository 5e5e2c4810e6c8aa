using System.Buffers.Binary;
using System.Globalization;

namespace MeasureApp.Acquisition.Devices.Scpi;

/// <summary>Turns SCPI answers (a reading, a block payload) into scaled float32 samples. Pure, so tests can feed it anything.</summary>
internal static class ScpiDecoder
{
    /// <summary>Bytes per sample of a binary format (0 for ASCII).</summary>
    public static int SampleSize(ScpiDataFormat format) => format switch
    {
        ScpiDataFormat.Int8 or ScpiDataFormat.UInt8 => 1,
        ScpiDataFormat.Int16LittleEndian or ScpiDataFormat.Int16BigEndian or ScpiDataFormat.UInt16LittleEndian or ScpiDataFormat.UInt16BigEndian => 2,
        ScpiDataFormat.Float32LittleEndian or ScpiDataFormat.Float32BigEndian => 4,
        _ => 0,
    };

    /// <summary>
    /// Parses one reading: the first field of the answer (instruments may append more, comma-separated).
    /// False when it is not a finite number.
    /// </summary>
    public static bool TryParseReading(string answer, out double value)
    {
        var span = answer.AsSpan().Trim();
        var comma = span.IndexOfAny(',', ';');
        if (comma >= 0)
        {
            span = span[..comma].Trim();
        }
        return double.TryParse(span, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
    }

    /// <summary>Number of samples in a payload; throws <see cref="ScpiMalformedException"/> when its length does not fit the format.</summary>
    public static int CountSamples(ReadOnlySpan<byte> payload, ScpiDataFormat format)
    {
        var size = SampleSize(format);
        if (size == 0)
        {
            var trimmed = payload.Trim("\r\n "u8);
            return trimmed.IsEmpty ? 0 : trimmed.Count((byte)',') + 1;
        }
        if (payload.Length % size != 0)
        {
            throw new ScpiMalformedException(string.Create(CultureInfo.InvariantCulture,
                $"a block of {payload.Length} bytes is not a whole number of {size}-byte {format} samples (short length)"));
        }
        return payload.Length / size;
    }

    /// <summary>Decodes <paramref name="destination"/>.Length samples, each raw·scale + offset.</summary>
    public static void Decode(ReadOnlySpan<byte> payload, ScpiDataFormat format, double scale, double offset, Span<float> destination)
    {
        var n = destination.Length;
        switch (format)
        {
            case ScpiDataFormat.Int8:
                for (var i = 0; i < n; i++)
                {
                    destination[i] = (float)(((sbyte)payload[i] * scale) + offset);
                }
                break;
            case ScpiDataFormat.UInt8:
                for (var i = 0; i < n; i++)
                {
                    destination[i] = (float)((payload[i] * scale) + offset);
                }
                break;
            case ScpiDataFormat.Int16LittleEndian:
                for (var i = 0; i < n; i++)
                {
                    destination[i] = (float)((BinaryPrimitives.ReadInt16LittleEndian(payload[(2 * i)..]) * scale) + offset);
                }
                break;
            case ScpiDataFormat.Int16BigEndian:
                for (var i = 0; i < n; i++)
                {
                    destination[i] = (float)((BinaryPrimitives.ReadInt16BigEndian(payload[(2 * i)..]) * scale) + offset);
                }
                break;
            case ScpiDataFormat.UInt16LittleEndian:
                for (var i = 0; i < n; i++)
                {
                    destination[i] = (float)((BinaryPrimitives.ReadUInt16LittleEndian(payload[(2 * i)..]) * scale) + offset);
                }
                break;
            case ScpiDataFormat.UInt16BigEndian:
                for (var i = 0; i < n; i++)
                {
                    destination[i] = (float)((BinaryPrimitives.ReadUInt16BigEndian(payload[(2 * i)..]) * scale) + offset);
                }
                break;
            case ScpiDataFormat.Float32LittleEndian:
                for (var i = 0; i < n; i++)
                {
                    destination[i] = (float)((BinaryPrimitives.ReadSingleLittleEndian(payload[(4 * i)..]) * scale) + offset);
                }
                break;
            case ScpiDataFormat.Float32BigEndian:
                for (var i = 0; i < n; i++)
                {
                    destination[i] = (float)((BinaryPrimitives.ReadSingleBigEndian(payload[(4 * i)..]) * scale) + offset);
                }
                break;
            default:
                DecodeAscii(payload, scale, offset, destination);
                break;
        }
    }

    private static void DecodeAscii(ReadOnlySpan<byte> payload, double scale, double offset, Span<float> destination)
    {
        var rest = payload.Trim("\r\n "u8);
        for (var i = 0; i < destination.Length; i++)
        {
            var comma = rest.IndexOf((byte)',');
            var field = (comma < 0 ? rest : rest[..comma]).Trim(" \t"u8);
            if (!double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
            {
                throw new ScpiMalformedException(string.Create(CultureInfo.InvariantCulture,
                    $"field {i + 1} of an ASCII block is not a number ('{System.Text.Encoding.ASCII.GetString(field[..Math.Min(field.Length, 24)])}')"));
            }
            destination[i] = (float)((value * scale) + offset);
            rest = comma < 0 ? [] : rest[(comma + 1)..];
        }
    }
}
