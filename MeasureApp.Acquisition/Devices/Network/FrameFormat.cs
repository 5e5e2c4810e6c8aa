namespace MeasureApp.Acquisition.Devices.Network;

/// <summary>
/// Constants of the collector frame protocol, version 1 (docs/network-protocol.md). All integers are
/// little-endian; a frame is a 64-byte header (ending in its own CRC-32), the payload, and a CRC-32
/// of header and payload. The header CRC lets a receiver trust the lengths before it waits for a payload,
/// so a corrupt length can neither make it allocate nor make it wait for bytes that never come.
/// </summary>
public static class FrameFormat
{
    /// <summary>The bytes "MANF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x464E_414D;

    /// <summary>Protocol version this code speaks.</summary>
    public const byte Version = 1;

    /// <summary>Header length written by version 1 senders.</summary>
    public const int HeaderLength = 64;

    /// <summary>Longest header a receiver accepts; bytes between 60 and the header CRC are extensions it ignores.</summary>
    public const int MaxHeaderLength = 256;

    /// <summary>Bytes of the frame CRC after the payload.</summary>
    public const int TrailerLength = 4;

    /// <summary>Length of a collector token.</summary>
    public const int TokenLength = 32;

    /// <summary>Longest collector name in a HELLO payload, in UTF-8 bytes.</summary>
    public const int MaxCollectorNameBytes = 64;

    /// <summary>
    /// Longest HELLO a receiver must accept: the longest header, the token, the longest name and the
    /// frame CRC. Before authentication nothing longer is read.
    /// </summary>
    public const int MaxHelloFrameLength = MaxHeaderLength + TokenLength + MaxCollectorNameBytes + TrailerLength;

    /// <summary>Longest message in an ERROR payload, in UTF-8 bytes.</summary>
    public const int MaxErrorMessageBytes = 256;

    /// <summary>Most samples per channel in one DATA frame (the frame size limit usually bites first).</summary>
    public const int MaxSamplesPerFrame = 65_536;

    /// <summary>Highest sample rate a frame may state; the measurement's own rate must match anyway.</summary>
    public const double MaxFrameSampleRate = 1e9;

    /// <summary>Default largest frame a receiver accepts (header + payload + CRC).</summary>
    public const int DefaultMaxFrameBytes = 1024 * 1024;

    /// <summary>Largest UDP payload on IPv4; a UDP frame must fit in one datagram.</summary>
    public const int MaxDatagramBytes = 65_507;

    internal const int OffsetMagic = 0;
    internal const int OffsetVersion = 4;
    internal const int OffsetType = 5;
    internal const int OffsetFlags = 6;
    internal const int OffsetHeaderLength = 8;
    internal const int OffsetChannelCount = 10;
    internal const int OffsetPayloadLength = 12;
    internal const int OffsetMeasurementId = 16;
    internal const int OffsetSequence = 32;
    internal const int OffsetT0 = 40;
    internal const int OffsetSampleRate = 48;
    internal const int OffsetSampleCount = 56;

    /// <summary>Bytes a receiver needs to know the header length (magic, version, type, flags, header length).</summary>
    internal const int Prelude = 10;

    /// <summary>Whole frame length for a payload of <paramref name="payloadLength"/> bytes.</summary>
    public static int FrameLength(int payloadLength) => HeaderLength + payloadLength + TrailerLength;

    /// <summary>Payload length of a DATA frame.</summary>
    public static int DataPayloadLength(int channels, int samplesPerChannel, bool withToken) =>
        (withToken ? TokenLength : 0) + (channels * samplesPerChannel * sizeof(float));
}

/// <summary>What a frame is.</summary>
public enum FrameType : byte
{
    /// <summary>Collector → server, first frame on TCP: carries the token (and a collector name).</summary>
    Hello = 1,
    /// <summary>Collector → server: samples of one measurement.</summary>
    Data = 2,
    /// <summary>Either direction: keeps an idle connection open; the server answers with one.</summary>
    Heartbeat = 3,
    /// <summary>Either direction: the sender closes the connection after this frame.</summary>
    Bye = 4,
    /// <summary>Server → collector: the HELLO was accepted; payload states the server's limits.</summary>
    Welcome = 0x10,
    /// <summary>Server → collector: a frame was refused; payload holds a code and a message.</summary>
    Error = 0x11,
}

/// <summary>Flag bits of a frame; unknown bits make the frame invalid.</summary>
[Flags]
public enum FrameFlags : ushort
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>The DATA payload starts with the 32-byte collector token (required on UDP, refused on TCP).</summary>
    Token = 1,
    /// <summary>
    /// First DATA frame of a collector for a measurement after it (re)started: the server restarts its
    /// sequence tracking at this frame instead of treating a lower number as a duplicate.
    /// </summary>
    Restart = 2,
}

/// <summary>Result of parsing bytes as a frame: <see cref="Ok"/>, <see cref="Incomplete"/>, or what is wrong.</summary>
public enum FrameStatus
{
    /// <summary>A valid frame.</summary>
    Ok = 0,
    /// <summary>More bytes are needed; the length says how many the frame needs in total so far.</summary>
    Incomplete,
    /// <summary>The bytes do not start with the magic.</summary>
    BadMagic,
    /// <summary>The version is not 1.</summary>
    BadVersion,
    /// <summary>The header length is below 64, above 256 or not a multiple of 4.</summary>
    BadHeaderLength,
    /// <summary>The header's CRC does not match: no field of it can be trusted.</summary>
    BadHeaderCrc,
    /// <summary>The frame would be longer than the receiver's limit.</summary>
    TooLarge,
    /// <summary>The frame type is not defined.</summary>
    UnknownType,
    /// <summary>A reserved flag bit is set.</summary>
    BadFlags,
    /// <summary>The frame CRC (over header and payload) does not match.</summary>
    BadFrameCrc,
    /// <summary>A DATA frame with fewer than 1 or more than 8 channels.</summary>
    BadChannelCount,
    /// <summary>A DATA frame with fewer than 1 or more than 65,536 samples per channel.</summary>
    BadSampleCount,
    /// <summary>A DATA frame whose sample rate is not a finite number in (0, 1e9].</summary>
    BadSampleRate,
    /// <summary>The payload length does not fit the frame type (DATA: token + channels × samples × 4).</summary>
    LengthMismatch,
    /// <summary>A DATA frame holds NaN or ±Infinity: the whole frame is refused.</summary>
    NonFiniteSample,
}

/// <summary>Codes in ERROR frames sent to a collector.</summary>
public enum NetworkErrorCode : ushort
{
    /// <summary>The bytes were not a valid frame (magic, version, lengths, flags, counts, rate).</summary>
    BadFrame = 1,
    /// <summary>A CRC did not match.</summary>
    BadCrc = 2,
    /// <summary>The frame is larger than the server accepts.</summary>
    TooLarge = 3,
    /// <summary>The first frame on a TCP connection was not a HELLO.</summary>
    AuthRequired = 4,
    /// <summary>The token is unknown or revoked; the connection is closed.</summary>
    AuthFailed = 5,
    /// <summary>No running measurement with that id belongs to the token's user (unknown, stopped or someone else's).</summary>
    NotFound = 6,
    /// <summary>The frame's channel count differs from the measurement's.</summary>
    ChannelMismatch = 7,
    /// <summary>The frame's sample rate differs from the measurement's.</summary>
    RateMismatch = 8,
    /// <summary>The frame held NaN or ±Infinity and was refused.</summary>
    NonFinite = 9,
    /// <summary>The frame type is not accepted here (e.g. a second HELLO, a WELCOME from a collector).</summary>
    UnexpectedType = 10,
    /// <summary>Nothing arrived for the idle timeout; the connection is closed.</summary>
    Timeout = 11,
    /// <summary>The server has too many connections or is shutting down; the connection is closed.</summary>
    Unavailable = 12,
}

/// <summary>Fault kinds the Network driver reports to a measurement (<see cref="IBlockSink.Fault"/>) and counts per listener.</summary>
public static class NetworkFaultKinds
{
    /// <summary>Unparseable bytes: wrong magic, version or header length, a corrupt header, reserved flags.</summary>
    public const string BadFrame = "bad-frame";
    /// <summary>A frame CRC mismatch.</summary>
    public const string Crc = "crc";
    /// <summary>A frame longer than the limit.</summary>
    public const string Oversized = "oversized";
    /// <summary>Channel count, sample count, rate or length that cannot be.</summary>
    public const string BadCounts = "bad-counts";
    /// <summary>NaN or ±Infinity in a DATA frame.</summary>
    public const string NonFinite = "non-finite";
    /// <summary>The frame's channel count or rate differs from the measurement's.</summary>
    public const string Mismatch = "mismatch";
    /// <summary>Frames missing before this one (sequence number jumped).</summary>
    public const string SequenceGap = "sequence-gap";
    /// <summary>A sequence number seen before; the frame was dropped.</summary>
    public const string Duplicate = "duplicate";
    /// <summary>A collector announced a restart of its sequence numbers.</summary>
    public const string CollectorRestart = "collector-restart";
    /// <summary>The connection ended inside a frame.</summary>
    public const string Truncated = "truncated";
    /// <summary>The peer reset the connection.</summary>
    public const string ConnectionReset = "connection-reset";
    /// <summary>Nothing arrived for the idle timeout.</summary>
    public const string Timeout = "timeout";
    /// <summary>Missing, unknown or revoked token.</summary>
    public const string Auth = "auth";
    /// <summary>DATA for a measurement that is unknown, stopped or belongs to another user.</summary>
    public const string NotFound = "not-found";
    /// <summary>A frame type that is not accepted at this point, or on this transport.</summary>
    public const string Unexpected = "unexpected";
    /// <summary>A connection refused because the listener is at its connection limit (or the per-address limit before authentication).</summary>
    public const string ConnectionLimit = "connection-limit";
    /// <summary>An authentication attempt delayed or dropped because its address failed repeatedly.</summary>
    public const string AuthThrottled = "auth-throttled";
}
