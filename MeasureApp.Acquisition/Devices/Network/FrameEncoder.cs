using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace MeasureApp.Acquisition.Devices.Network;

/// <summary>Header fields of a DATA frame.</summary>
/// <param name="MeasurementId">Measurement the samples belong to (shown in the app when it was started).</param>
/// <param name="Sequence">The collector's frame counter for this measurement: 0, 1, 2, … without gaps.</param>
/// <param name="T0Ns">Time of the first sample, ns since the Unix epoch (UTC).</param>
/// <param name="SampleRate">Samples per second per channel; must equal the measurement's rate.</param>
/// <param name="ChannelCount">Channels (1–8); must equal the measurement's channel count.</param>
/// <param name="SampleCount">Samples per channel (1–65,536).</param>
/// <param name="Restart">Marks the first frame after the collector (re)started, see <see cref="FrameFlags.Restart"/>.</param>
public readonly record struct DataFrameHeader(Guid MeasurementId, ulong Sequence, long T0Ns, double SampleRate, int ChannelCount, int SampleCount, bool Restart = false);

/// <summary>
/// Writes frames of the collector protocol (docs/network-protocol.md) into caller-provided buffers,
/// so a collector sends without allocating. Used by the server for its replies, by the command-line
/// collector and by the tests.
/// </summary>
public static class FrameEncoder
{
    /// <summary>A buffer of this size holds any frame other than DATA.</summary>
    public const int MaxControlFrameLength = FrameFormat.HeaderLength + 4 + FrameFormat.MaxErrorMessageBytes + FrameFormat.TrailerLength;

    /// <summary>Length of a DATA frame; with a token for UDP.</summary>
    public static int DataFrameLength(int channels, int samplesPerChannel, bool withToken) =>
        FrameFormat.FrameLength(FrameFormat.DataPayloadLength(channels, samplesPerChannel, withToken));

    /// <summary>
    /// Writes a DATA frame. <paramref name="channelMajorValues"/> holds channel 0's samples, then
    /// channel 1's, and so on. Pass the 32-byte <paramref name="token"/> for UDP, nothing for TCP.
    /// </summary>
    /// <returns>Bytes written.</returns>
    public static int WriteData(Span<byte> destination, in DataFrameHeader header, ReadOnlySpan<float> channelMajorValues, ReadOnlySpan<byte> token = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(header.ChannelCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(header.ChannelCount, MeasurementLimits.MaxChannels);
        ArgumentOutOfRangeException.ThrowIfLessThan(header.SampleCount, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(header.SampleCount, FrameFormat.MaxSamplesPerFrame);
        if (channelMajorValues.Length != header.ChannelCount * header.SampleCount)
        {
            throw new ArgumentException("Values must hold channels × samples floats.", nameof(channelMajorValues));
        }
        if (token.Length is not 0 and not FrameFormat.TokenLength)
        {
            throw new ArgumentException("A token has 32 bytes.", nameof(token));
        }
        var withToken = token.Length != 0;
        var payloadLength = FrameFormat.DataPayloadLength(header.ChannelCount, header.SampleCount, withToken);
        var flags = (withToken ? FrameFlags.Token : FrameFlags.None) | (header.Restart ? FrameFlags.Restart : FrameFlags.None);
        var payload = Begin(destination, FrameType.Data, flags, payloadLength, header.MeasurementId, header.Sequence,
            header.T0Ns, header.SampleRate, header.ChannelCount, header.SampleCount);
        token.CopyTo(payload);
        var samples = payload[token.Length..];
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(channelMajorValues).CopyTo(samples);
        }
        else
        {
            for (var i = 0; i < channelMajorValues.Length; i++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(samples[(i * 4)..], channelMajorValues[i]);
            }
        }
        return Finish(destination, payloadLength);
    }

    /// <summary>Writes the HELLO that opens a TCP connection.</summary>
    /// <param name="destination">At least <see cref="MaxControlFrameLength"/> bytes.</param>
    /// <param name="token">The 32-byte collector token.</param>
    /// <param name="collectorName">Shown in logs; cut to 64 UTF-8 bytes.</param>
    public static int WriteHello(Span<byte> destination, ReadOnlySpan<byte> token, string? collectorName = null)
    {
        if (token.Length != FrameFormat.TokenLength)
        {
            throw new ArgumentException("A token has 32 bytes.", nameof(token));
        }
        Span<byte> name = stackalloc byte[FrameFormat.MaxCollectorNameBytes];
        var nameLength = Utf8Prefix(collectorName, name);
        var payload = Begin(destination, FrameType.Hello, FrameFlags.None, FrameFormat.TokenLength + nameLength, Guid.Empty, 0, 0, 0, 0, 0);
        token.CopyTo(payload);
        name[..nameLength].CopyTo(payload[FrameFormat.TokenLength..]);
        return Finish(destination, FrameFormat.TokenLength + nameLength);
    }

    /// <summary>Writes a HEARTBEAT.</summary>
    public static int WriteHeartbeat(Span<byte> destination, ulong sequence = 0)
    {
        Begin(destination, FrameType.Heartbeat, FrameFlags.None, 0, Guid.Empty, sequence, 0, 0, 0, 0);
        return Finish(destination, 0);
    }

    /// <summary>Writes a BYE.</summary>
    public static int WriteBye(Span<byte> destination)
    {
        Begin(destination, FrameType.Bye, FrameFlags.None, 0, Guid.Empty, 0, 0, 0, 0, 0);
        return Finish(destination, 0);
    }

    /// <summary>Writes the server's WELCOME stating its limits.</summary>
    public static int WriteWelcome(Span<byte> destination, int maxFrameBytes, int idleTimeoutMs)
    {
        var payload = Begin(destination, FrameType.Welcome, FrameFlags.None, 8, Guid.Empty, 0, 0, 0, 0, 0);
        BinaryPrimitives.WriteInt32LittleEndian(payload, maxFrameBytes);
        BinaryPrimitives.WriteInt32LittleEndian(payload[4..], idleTimeoutMs);
        return Finish(destination, 8);
    }

    /// <summary>Writes an ERROR about the frame with <paramref name="measurementId"/>/<paramref name="sequence"/> (zero when unknown).</summary>
    public static int WriteError(Span<byte> destination, NetworkErrorCode code, Guid measurementId, ulong sequence, string? message)
    {
        Span<byte> text = stackalloc byte[FrameFormat.MaxErrorMessageBytes];
        var textLength = Utf8Prefix(message, text);
        var payload = Begin(destination, FrameType.Error, FrameFlags.None, 4 + textLength, measurementId, sequence, 0, 0, 0, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(payload, (ushort)code);
        BinaryPrimitives.WriteUInt16LittleEndian(payload[2..], 0);
        text[..textLength].CopyTo(payload[4..]);
        return Finish(destination, 4 + textLength);
    }

    /// <summary>
    /// Writes a version 1 header (with its CRC) for a payload of <paramref name="payloadLength"/> bytes
    /// and returns the payload area; call <see cref="Finish"/> after filling it. Internal so tests can
    /// build well-formed frames with absurd fields.
    /// </summary>
    internal static Span<byte> Begin(Span<byte> destination, FrameType type, FrameFlags flags, int payloadLength, Guid measurementId,
        ulong sequence, long t0Ns, double sampleRate, int channelCount, int sampleCount)
    {
        var total = FrameFormat.FrameLength(payloadLength);
        if (destination.Length < total)
        {
            throw new ArgumentException($"The frame needs {total} bytes.", nameof(destination));
        }
        var h = destination[..FrameFormat.HeaderLength];
        BinaryPrimitives.WriteUInt32LittleEndian(h, FrameFormat.Magic);
        h[FrameFormat.OffsetVersion] = FrameFormat.Version;
        h[FrameFormat.OffsetType] = (byte)type;
        BinaryPrimitives.WriteUInt16LittleEndian(h[FrameFormat.OffsetFlags..], (ushort)flags);
        BinaryPrimitives.WriteUInt16LittleEndian(h[FrameFormat.OffsetHeaderLength..], FrameFormat.HeaderLength);
        BinaryPrimitives.WriteUInt16LittleEndian(h[FrameFormat.OffsetChannelCount..], (ushort)channelCount);
        BinaryPrimitives.WriteUInt32LittleEndian(h[FrameFormat.OffsetPayloadLength..], (uint)payloadLength);
        measurementId.TryWriteBytes(h.Slice(FrameFormat.OffsetMeasurementId, 16), bigEndian: true, out _);
        BinaryPrimitives.WriteUInt64LittleEndian(h[FrameFormat.OffsetSequence..], sequence);
        BinaryPrimitives.WriteInt64LittleEndian(h[FrameFormat.OffsetT0..], t0Ns);
        BinaryPrimitives.WriteDoubleLittleEndian(h[FrameFormat.OffsetSampleRate..], sampleRate);
        BinaryPrimitives.WriteUInt32LittleEndian(h[FrameFormat.OffsetSampleCount..], (uint)sampleCount);
        BinaryPrimitives.WriteUInt32LittleEndian(h[(FrameFormat.HeaderLength - 4)..], Crc32.Compute(h[..(FrameFormat.HeaderLength - 4)]));
        return destination.Slice(FrameFormat.HeaderLength, payloadLength);
    }

    /// <summary>Writes the frame CRC (over header and payload) after a payload filled in place; returns the frame length.</summary>
    internal static int Finish(Span<byte> destination, int payloadLength)
    {
        var covered = FrameFormat.HeaderLength + payloadLength;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[covered..], Crc32.Compute(destination[..covered]));
        return FrameFormat.FrameLength(payloadLength);
    }

    private static int Utf8Prefix(string? text, Span<byte> destination)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }
        // Cut on a character boundary so the receiver always gets valid UTF-8.
        var chars = text.AsSpan(0, Math.Min(text.Length, destination.Length));
        while (Encoding.UTF8.GetByteCount(chars) > destination.Length)
        {
            chars = chars[..^1];
            if (chars.Length > 0 && char.IsHighSurrogate(chars[^1]))
            {
                chars = chars[..^1];
            }
        }
        return Encoding.UTF8.GetBytes(chars, destination);
    }
}
