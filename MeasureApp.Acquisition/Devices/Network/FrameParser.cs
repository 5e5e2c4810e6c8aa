using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace MeasureApp.Acquisition.Devices.Network;

/// <summary>
/// A parsed frame: the header fields and views into the bytes it was parsed from (nothing is copied,
/// so it is only valid as long as those bytes are).
/// </summary>
public readonly ref struct FrameView
{
    /// <summary>Frame type.</summary>
    public FrameType Type { get; init; }
    /// <summary>Flag bits.</summary>
    public FrameFlags Flags { get; init; }
    /// <summary>Measurement the frame is about (DATA, ERROR); empty otherwise.</summary>
    public Guid MeasurementId { get; init; }
    /// <summary>Collector's frame counter for the measurement (DATA), or the refused frame's (ERROR).</summary>
    public ulong Sequence { get; init; }
    /// <summary>Time of the first sample, ns since the Unix epoch (UTC).</summary>
    public long T0Ns { get; init; }
    /// <summary>Samples per second per channel.</summary>
    public double SampleRate { get; init; }
    /// <summary>Channels in a DATA frame.</summary>
    public int ChannelCount { get; init; }
    /// <summary>Samples per channel in a DATA frame.</summary>
    public int SampleCount { get; init; }
    /// <summary>The payload bytes.</summary>
    public ReadOnlySpan<byte> Payload { get; init; }

    /// <summary>The collector token: the start of a HELLO payload, or of a DATA payload flagged <see cref="FrameFlags.Token"/>.</summary>
    public ReadOnlySpan<byte> Token =>
        Type == FrameType.Hello || (Type == FrameType.Data && (Flags & FrameFlags.Token) != 0) ? Payload[..FrameFormat.TokenLength] : default;

    /// <summary>Channel-major little-endian float32 samples of a DATA frame.</summary>
    public ReadOnlySpan<byte> SampleBytes =>
        Type != FrameType.Data ? default : (Flags & FrameFlags.Token) != 0 ? Payload[FrameFormat.TokenLength..] : Payload;

    /// <summary>UTF-8 collector name of a HELLO frame (may be empty).</summary>
    public ReadOnlySpan<byte> CollectorName => Type == FrameType.Hello ? Payload[FrameFormat.TokenLength..] : default;

    /// <summary>Code of an ERROR frame.</summary>
    public NetworkErrorCode ErrorCode => Type == FrameType.Error ? (NetworkErrorCode)BinaryPrimitives.ReadUInt16LittleEndian(Payload) : 0;

    /// <summary>UTF-8 message of an ERROR frame.</summary>
    public ReadOnlySpan<byte> ErrorMessage => Type == FrameType.Error ? Payload[4..] : default;

    /// <summary>Largest frame the server accepts (WELCOME).</summary>
    public int WelcomeMaxFrameBytes => Type == FrameType.Welcome ? BinaryPrimitives.ReadInt32LittleEndian(Payload) : 0;

    /// <summary>Idle timeout of the server in milliseconds (WELCOME).</summary>
    public int WelcomeIdleTimeoutMs => Type == FrameType.Welcome ? BinaryPrimitives.ReadInt32LittleEndian(Payload[4..]) : 0;
}

/// <summary>
/// Turns bytes into frames. A pure function over a span, so the same code serves TCP streams, UDP
/// datagrams and the mutation tests, and it never allocates. When the header cannot be trusted the
/// returned length says how many bytes to skip to the next possible frame start; when the header is
/// trusted but the frame is invalid, the length is the whole frame.
/// </summary>
public static class FrameParser
{
    private static ReadOnlySpan<byte> MagicBytes => "MANF"u8;

    /// <summary>
    /// Parses the frame at the start of <paramref name="input"/>.
    /// </summary>
    /// <param name="input">Received bytes, starting where a frame is expected.</param>
    /// <param name="maxFrameBytes">Largest whole frame accepted; checked before the payload is awaited.</param>
    /// <param name="frame">The frame when the result is <see cref="FrameStatus.Ok"/>.</param>
    /// <param name="length">
    /// <see cref="FrameStatus.Ok"/> and errors found in a trusted header: the frame's length (consume it).
    /// <see cref="FrameStatus.Incomplete"/>: bytes needed in total before parsing again.
    /// Other errors: bytes to skip to the next possible magic (at least 1).
    /// </param>
    public static FrameStatus Parse(ReadOnlySpan<byte> input, int maxFrameBytes, out FrameView frame, out int length)
    {
        frame = default;
        var prefix = Math.Min(input.Length, 4);
        if (!input[..prefix].SequenceEqual(MagicBytes[..prefix]))
        {
            length = Resync(input);
            return FrameStatus.BadMagic;
        }
        if (input.Length < FrameFormat.Prelude)
        {
            length = FrameFormat.Prelude;
            return FrameStatus.Incomplete;
        }
        if (input[FrameFormat.OffsetVersion] != FrameFormat.Version)
        {
            length = Resync(input);
            return FrameStatus.BadVersion;
        }
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(input[FrameFormat.OffsetHeaderLength..]);
        if (headerLength < FrameFormat.HeaderLength || headerLength > FrameFormat.MaxHeaderLength || headerLength % 4 != 0)
        {
            length = Resync(input);
            return FrameStatus.BadHeaderLength;
        }
        if (input.Length < headerLength)
        {
            length = headerLength;
            return FrameStatus.Incomplete;
        }
        if (Crc32.Compute(input[..(headerLength - 4)]) != BinaryPrimitives.ReadUInt32LittleEndian(input[(headerLength - 4)..]))
        {
            length = Resync(input);
            return FrameStatus.BadHeaderCrc;
        }
        var payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(input[FrameFormat.OffsetPayloadLength..]);
        var total = headerLength + (long)payloadLength + FrameFormat.TrailerLength;
        if (total > maxFrameBytes)
        {
            length = Resync(input);
            return FrameStatus.TooLarge;
        }
        if (input.Length < total)
        {
            length = (int)total;
            return FrameStatus.Incomplete;
        }
        var payload = input.Slice(headerLength, (int)payloadLength);
        // The frame CRC covers the header too: a frame cut right after its header, followed by another frame,
        // would otherwise pass whenever its payload length equals the 60 bytes the next header's CRC covers.
        var covered = headerLength + (int)payloadLength;
        if (Crc32.Compute(input[..covered]) != BinaryPrimitives.ReadUInt32LittleEndian(input[covered..]))
        {
            // A truncated frame followed by good ones fails here: rescanning from the next magic finds them.
            length = Resync(input);
            return FrameStatus.BadFrameCrc;
        }

        length = (int)total;
        var type = (FrameType)input[FrameFormat.OffsetType];
        var flags = (FrameFlags)BinaryPrimitives.ReadUInt16LittleEndian(input[FrameFormat.OffsetFlags..]);
        var allowedFlags = type == FrameType.Data ? FrameFlags.Token | FrameFlags.Restart : FrameFlags.None;
        var channels = (int)BinaryPrimitives.ReadUInt16LittleEndian(input[FrameFormat.OffsetChannelCount..]);
        var samples = BinaryPrimitives.ReadUInt32LittleEndian(input[FrameFormat.OffsetSampleCount..]);
        var rate = BinaryPrimitives.ReadDoubleLittleEndian(input[FrameFormat.OffsetSampleRate..]);

        var status = Enum.IsDefined(type) && (flags & ~allowedFlags) != 0 ? FrameStatus.BadFlags : type switch
        {
            FrameType.Hello => payloadLength is >= FrameFormat.TokenLength and <= FrameFormat.TokenLength + FrameFormat.MaxCollectorNameBytes
                ? FrameStatus.Ok : FrameStatus.LengthMismatch,
            FrameType.Data => CheckData(flags, channels, samples, rate, payload),
            FrameType.Heartbeat or FrameType.Bye => payloadLength == 0 ? FrameStatus.Ok : FrameStatus.LengthMismatch,
            FrameType.Welcome => payloadLength == 8 ? FrameStatus.Ok : FrameStatus.LengthMismatch,
            FrameType.Error => payloadLength is >= 4 and <= 4 + FrameFormat.MaxErrorMessageBytes ? FrameStatus.Ok : FrameStatus.LengthMismatch,
            _ => FrameStatus.UnknownType,
        };
        if (status != FrameStatus.Ok)
        {
            return status;
        }

        frame = new FrameView
        {
            Type = type,
            Flags = flags,
            MeasurementId = new Guid(input.Slice(FrameFormat.OffsetMeasurementId, 16), bigEndian: true),
            Sequence = BinaryPrimitives.ReadUInt64LittleEndian(input[FrameFormat.OffsetSequence..]),
            T0Ns = BinaryPrimitives.ReadInt64LittleEndian(input[FrameFormat.OffsetT0..]),
            SampleRate = rate,
            ChannelCount = type == FrameType.Data ? channels : 0,
            SampleCount = type == FrameType.Data ? (int)samples : 0,
            Payload = payload,
        };
        return FrameStatus.Ok;
    }

    /// <summary>True when none of the little-endian float32 values is NaN or ±Infinity.</summary>
    public static bool AllFinite(ReadOnlySpan<byte> float32Bytes)
    {
        const uint exponent = 0x7F80_0000;
        if (!BitConverter.IsLittleEndian)
        {
            for (var j = 0; j + 4 <= float32Bytes.Length; j += 4)
            {
                if ((BinaryPrimitives.ReadUInt32LittleEndian(float32Bytes[j..]) & exponent) == exponent)
                {
                    return false;
                }
            }
            return true;
        }
        var words = MemoryMarshal.Cast<byte, uint>(float32Bytes);
        var i = 0;
        if (Vector.IsHardwareAccelerated && words.Length >= Vector<uint>.Count)
        {
            var mask = new Vector<uint>(exponent);
            var any = Vector<uint>.Zero;
            for (; i <= words.Length - Vector<uint>.Count; i += Vector<uint>.Count)
            {
                any |= Vector.Equals(new Vector<uint>(words[i..]) & mask, mask);
            }
            if (any != Vector<uint>.Zero)
            {
                return false;
            }
        }
        for (; i < words.Length; i++)
        {
            if ((words[i] & exponent) == exponent)
            {
                return false;
            }
        }
        return true;
    }

    private static FrameStatus CheckData(FrameFlags flags, int channels, uint samples, double rate, ReadOnlySpan<byte> payload)
    {
        if (channels is < 1 or > MeasurementLimits.MaxChannels)
        {
            return FrameStatus.BadChannelCount;
        }
        if (samples is < 1 or > FrameFormat.MaxSamplesPerFrame)
        {
            return FrameStatus.BadSampleCount;
        }
        if (!double.IsFinite(rate) || rate <= 0 || rate > FrameFormat.MaxFrameSampleRate)
        {
            return FrameStatus.BadSampleRate;
        }
        var token = (flags & FrameFlags.Token) != 0 ? FrameFormat.TokenLength : 0;
        if (payload.Length != token + (channels * (int)samples * sizeof(float)))
        {
            return FrameStatus.LengthMismatch;
        }
        return AllFinite(payload[token..]) ? FrameStatus.Ok : FrameStatus.NonFiniteSample;
    }

    /// <summary>Bytes to skip so the input starts at the next "MANF" (or at a possible partial one at its end).</summary>
    private static int Resync(ReadOnlySpan<byte> input)
    {
        if (input.Length <= 1)
        {
            return 1;
        }
        var next = input[1..].IndexOf(MagicBytes);
        return next >= 0 ? next + 1 : Math.Max(1, input.Length - 3);
    }
}
