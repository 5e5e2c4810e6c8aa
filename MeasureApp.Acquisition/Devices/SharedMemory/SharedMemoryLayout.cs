using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace MeasureApp.Acquisition.Devices.SharedMemory;

/// <summary>
/// Binary layout v1 of the shared-memory ring (docs/shared-memory.md is the contract; every offset here
/// is listed there). All integers and floats are little-endian. The functions are pure over spans so
/// the consumer's parsing can be driven by tests and fuzzers without a mapped file.
/// </summary>
public static class SharedMemoryLayout
{
    /// <summary>"MSHM" read as a little-endian u32.</summary>
    public const uint Magic = 0x4D48534D;

    /// <summary>Layout version this consumer understands.</summary>
    public const uint Version = 1;

    /// <summary>Bytes reserved for the header; the rings start at or after it.</summary>
    public const int HeaderSize = 4096;

    /// <summary>Bytes of the header that carry fields (the rest of the header page is reserved, zero).</summary>
    public const int HeaderFieldsSize = 264;

    /// <summary>Bytes per data record.</summary>
    public const int RecordSize = 128;

    /// <summary>Bytes per command.</summary>
    public const int CommandSize = 64;

    /// <summary>Most channel values a record carries.</summary>
    public const int MaxChannels = 8;

    /// <summary>Smallest data ring (records, power of two).</summary>
    public const int MinCapacity = 16;

    /// <summary>Largest data ring (records, power of two): 2 GiB of records.</summary>
    public const int MaxCapacity = 1 << 24;

    /// <summary>Smallest command ring (commands, power of two).</summary>
    public const int MinCommandCapacity = 4;

    /// <summary>Largest command ring (commands, power of two).</summary>
    public const int MaxCommandCapacity = 1 << 16;

    /// <summary>Largest file the consumer maps (sanity bound against absurd header values).</summary>
    public const long MaxFileSize = 1L << 40;

    /// <summary>Header field offsets.</summary>
    public static class Header
    {
        /// <summary>u32 <see cref="SharedMemoryLayout.Magic"/>; written last by the producer when it (re)initialises.</summary>
        public const int Magic = 0;
        /// <summary>u32 layout version.</summary>
        public const int Version = 4;
        /// <summary>u32 header size (4096).</summary>
        public const int HeaderSize = 8;
        /// <summary>u32 flags (0).</summary>
        public const int Flags = 12;
        /// <summary>u32 data ring capacity in records.</summary>
        public const int Capacity = 16;
        /// <summary>u32 record size (128).</summary>
        public const int RecordSize = 20;
        /// <summary>u64 file offset of the data ring.</summary>
        public const int DataOffset = 24;
        /// <summary>u32 command ring capacity in commands.</summary>
        public const int CommandCapacity = 32;
        /// <summary>u32 command size (64).</summary>
        public const int CommandSize = 36;
        /// <summary>u64 file offset of the command ring.</summary>
        public const int CommandOffset = 40;
        /// <summary>u64 total file size the producer allocated.</summary>
        public const int FileSize = 48;
        /// <summary>u64 producer generation, new on every producer (re)start, never 0.</summary>
        public const int Generation = 56;
        /// <summary>u64 records ever published (producer, release).</summary>
        public const int WriteIndex = 64;
        /// <summary>u64 producer heartbeat (any monotonic-ish value that changes at least every 500 ms).</summary>
        public const int ProducerHeartbeat = 72;
        /// <summary>u64 records the producer dropped because the ring was full.</summary>
        public const int Overruns = 80;
        /// <summary>u64 producer process id (informational).</summary>
        public const int ProducerPid = 88;
        /// <summary>u64 records consumed (consumer, release).</summary>
        public const int ReadIndex = 128;
        /// <summary>u64 consumer heartbeat, Unix ns (consumer).</summary>
        public const int ConsumerHeartbeat = 136;
        /// <summary>u64 commands ever published (consumer, release).</summary>
        public const int CommandWriteIndex = 192;
        /// <summary>u64 commands consumed (producer, release).</summary>
        public const int CommandReadIndex = 256;
    }

    /// <summary>Data record field offsets.</summary>
    public static class Record
    {
        /// <summary>u64 commit marker: the record's stream index + 1 (written last, release).</summary>
        public const int Sequence = 0;
        /// <summary>16 bytes measurement id in RFC 9562 (big-endian, "network") byte order.</summary>
        public const int MeasurementId = 8;
        /// <summary>u64 user tag copied from the start command.</summary>
        public const int UserTag = 24;
        /// <summary>i64 time of the sample, ns since the Unix epoch (UTC).</summary>
        public const int TimestampNs = 32;
        /// <summary>u64 sample counter of the measurement, from 0.</summary>
        public const int SampleCounter = 40;
        /// <summary>u32 channel count, 1–8.</summary>
        public const int ChannelCount = 48;
        /// <summary>u32 flags (0).</summary>
        public const int Flags = 52;
        /// <summary>8 × f64 channel values; entries past the channel count are ignored.</summary>
        public const int Values = 56;
        /// <summary>u32 reserved (0).</summary>
        public const int Reserved = 120;
        /// <summary>u32 CRC-32C of bytes 0–123.</summary>
        public const int Checksum = 124;
    }

    /// <summary>Command field offsets.</summary>
    public static class Command
    {
        /// <summary>u64 commit marker: the command's index + 1 (written last, release).</summary>
        public const int Sequence = 0;
        /// <summary>u32 <see cref="SharedMemoryCommandType"/>.</summary>
        public const int Type = 8;
        /// <summary>u32 channel count (start).</summary>
        public const int ChannelCount = 12;
        /// <summary>16 bytes measurement id, RFC 9562 byte order.</summary>
        public const int MeasurementId = 16;
        /// <summary>u64 user tag the producer copies into every record.</summary>
        public const int UserTag = 32;
        /// <summary>f64 sample rate in Hz (start).</summary>
        public const int SampleRate = 40;
        /// <summary>i64 time the engine issued the command, Unix ns.</summary>
        public const int IssuedAtNs = 48;
        /// <summary>u32 reserved (0).</summary>
        public const int Reserved = 56;
        /// <summary>u32 CRC-32C of bytes 0–59.</summary>
        public const int Checksum = 60;
    }

    /// <summary>
    /// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF);
    /// "123456789" gives 0xE3069283. Chosen because x86 (SSE4.2) and ARMv8 compute it in hardware.
    /// </summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFF_FFFFu;
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }
        if (data.Length >= 4)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt32LittleEndian(data));
            data = data[4..];
        }
        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }
        return ~crc;
    }

    /// <summary>
    /// The 64-bit tag of a user in records: FNV-1a 64 over the UTF-8 bytes of the owner's user id.
    /// A routing check against mix-ups, not a secret: the file's permissions are the security boundary.
    /// </summary>
    public static ulong UserTag(string userId)
    {
        ArgumentNullException.ThrowIfNull(userId);
        var hash = 0xCBF2_9CE4_8422_2325UL;
        foreach (var b in Encoding.UTF8.GetBytes(userId))
        {
            hash = unchecked((hash ^ b) * 0x0000_0100_0000_01B3UL);
        }
        return hash;
    }

    /// <summary>
    /// Checks a header (at least <see cref="HeaderFieldsSize"/> bytes, fewer means truncated) against a
    /// file of <paramref name="fileLength"/> bytes. Every size and offset is bounded before use, so
    /// absurd values can neither overflow nor point outside the file.
    /// </summary>
    public static HeaderStatus ValidateHeader(ReadOnlySpan<byte> header, long fileLength, out RingGeometry geometry)
    {
        geometry = default;
        if (header.Length < HeaderFieldsSize || fileLength < HeaderSize)
        {
            return HeaderStatus.Truncated;
        }
        var magic = ReadU32(header, Header.Magic);
        if (magic == 0)
        {
            return HeaderStatus.NotReady;
        }
        if (magic != Magic)
        {
            return HeaderStatus.BadMagic;
        }
        if (ReadU32(header, Header.Version) != Version)
        {
            return HeaderStatus.BadVersion;
        }
        var capacity = ReadU32(header, Header.Capacity);
        var commandCapacity = ReadU32(header, Header.CommandCapacity);
        var dataOffset = ReadU64(header, Header.DataOffset);
        var commandOffset = ReadU64(header, Header.CommandOffset);
        var fileSize = ReadU64(header, Header.FileSize);
        var generation = ReadU64(header, Header.Generation);
        if (ReadU32(header, Header.HeaderSize) != HeaderSize
            || ReadU32(header, Header.RecordSize) != RecordSize
            || ReadU32(header, Header.CommandSize) != CommandSize
            || !IsPowerOfTwoIn(capacity, MinCapacity, MaxCapacity)
            || !IsPowerOfTwoIn(commandCapacity, MinCommandCapacity, MaxCommandCapacity)
            || generation == 0
            || fileSize > MaxFileSize
            || dataOffset < HeaderSize || dataOffset % 64 != 0 || dataOffset > MaxFileSize
            || commandOffset < HeaderSize || commandOffset % 64 != 0 || commandOffset > MaxFileSize)
        {
            return HeaderStatus.BadLayout;
        }
        // All terms are bounded above (≤ 2^40 + 2^31), so these sums cannot overflow.
        var dataEnd = dataOffset + (ulong)capacity * RecordSize;
        var commandEnd = commandOffset + (ulong)commandCapacity * CommandSize;
        var overlap = dataOffset < commandEnd && commandOffset < dataEnd;
        var end = Math.Max(dataEnd, commandEnd);
        if (overlap || end > fileSize)
        {
            return HeaderStatus.BadLayout;
        }
        if ((ulong)fileLength < fileSize)
        {
            return HeaderStatus.Truncated;
        }
        geometry = new RingGeometry((int)capacity, (long)dataOffset, (int)commandCapacity, (long)commandOffset, (long)end, generation);
        return HeaderStatus.Ok;
    }

    /// <summary>
    /// Parses one record copied out of the ring. <paramref name="values"/> (at least 8 long) receives
    /// the channel values as float32; non-finite ones (including finite float64 beyond the float32
    /// range) are left as they are and flagged in <see cref="SharedMemoryRecord.NonFiniteMask"/>.
    /// </summary>
    public static RecordStatus ParseRecord(ReadOnlySpan<byte> record, ulong expectedSequence, Span<float> values, out SharedMemoryRecord parsed)
    {
        parsed = default;
        if (record.Length < RecordSize || values.Length < MaxChannels)
        {
            return RecordStatus.TooShort;
        }
        record = record[..RecordSize];
        if (ReadU64(record, Record.Sequence) != expectedSequence)
        {
            return RecordStatus.Sequence;
        }
        if (Crc32C(record[..Record.Checksum]) != ReadU32(record, Record.Checksum))
        {
            return RecordStatus.Checksum;
        }
        var channels = ReadU32(record, Record.ChannelCount);
        var id = new Guid(record.Slice(Record.MeasurementId, 16), bigEndian: true);
        var userTag = ReadU64(record, Record.UserTag);
        var timestamp = (long)ReadU64(record, Record.TimestampNs);
        var counter = ReadU64(record, Record.SampleCounter);
        if (channels is 0 or > MaxChannels)
        {
            parsed = new SharedMemoryRecord(id, userTag, timestamp, counter, 0, 0);
            return RecordStatus.ChannelCount;
        }
        var nonFinite = 0;
        for (var c = 0; c < (int)channels; c++)
        {
            var v = (float)BinaryPrimitives.ReadDoubleLittleEndian(record[(Record.Values + c * 8)..]);
            values[c] = v;
            if (!float.IsFinite(v))
            {
                nonFinite |= 1 << c;
            }
        }
        parsed = new SharedMemoryRecord(id, userTag, timestamp, counter, (int)channels, nonFinite);
        return RecordStatus.Ok;
    }

    /// <summary>Encodes a command including its sequence and checksum into <paramref name="destination"/> (64 bytes).</summary>
    public static void WriteCommand(Span<byte> destination, ulong sequence, SharedMemoryCommandType type, Guid measurementId, ulong userTag, int channelCount, double sampleRate, long issuedAtNs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, CommandSize);
        var slot = destination[..CommandSize];
        slot.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(slot[Command.Sequence..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(slot[Command.Type..], (uint)type);
        BinaryPrimitives.WriteUInt32LittleEndian(slot[Command.ChannelCount..], (uint)channelCount);
        measurementId.TryWriteBytes(slot.Slice(Command.MeasurementId, 16), bigEndian: true, out _);
        BinaryPrimitives.WriteUInt64LittleEndian(slot[Command.UserTag..], userTag);
        BinaryPrimitives.WriteDoubleLittleEndian(slot[Command.SampleRate..], sampleRate);
        BinaryPrimitives.WriteInt64LittleEndian(slot[Command.IssuedAtNs..], issuedAtNs);
        BinaryPrimitives.WriteUInt32LittleEndian(slot[Command.Checksum..], Crc32C(slot[..Command.Checksum]));
    }

    private static bool IsPowerOfTwoIn(uint value, int min, int max) =>
        BitOperations.IsPow2(value) && value >= (uint)min && value <= (uint)max;

    private static uint ReadU32(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(s[offset..]);

    private static ulong ReadU64(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt64LittleEndian(s[offset..]);
}

/// <summary>Outcome of <see cref="SharedMemoryLayout.ValidateHeader"/>.</summary>
public enum HeaderStatus
{
    /// <summary>Usable.</summary>
    Ok,
    /// <summary>Magic is 0: the producer is (re)initialising.</summary>
    NotReady,
    /// <summary>Not a MeasureApp ring.</summary>
    BadMagic,
    /// <summary>A layout version this consumer does not know.</summary>
    BadVersion,
    /// <summary>Sizes, offsets or generation are impossible.</summary>
    BadLayout,
    /// <summary>The file is shorter than the layout says.</summary>
    Truncated,
}

/// <summary>Outcome of <see cref="SharedMemoryLayout.ParseRecord"/>.</summary>
public enum RecordStatus
{
    /// <summary>Valid (values may still be flagged non-finite).</summary>
    Ok,
    /// <summary>Less than one record of input.</summary>
    TooShort,
    /// <summary>The slot does not hold the expected record (stale, overwritten or not committed).</summary>
    Sequence,
    /// <summary>CRC-32C mismatch: torn or corrupt.</summary>
    Checksum,
    /// <summary>Channel count 0 or above 8 (the other fields are parsed).</summary>
    ChannelCount,
}

/// <summary>Command types of the command ring.</summary>
public enum SharedMemoryCommandType
{
    /// <summary>Start producing records for a measurement.</summary>
    Start = 1,
    /// <summary>Stop producing records for a measurement.</summary>
    Stop = 2,
}

/// <summary>Where the rings are, from a validated header.</summary>
/// <param name="Capacity">Data records (power of two).</param>
/// <param name="DataOffset">File offset of the data ring.</param>
/// <param name="CommandCapacity">Commands (power of two).</param>
/// <param name="CommandOffset">File offset of the command ring.</param>
/// <param name="MappedSize">Bytes from the file start to the end of the last ring (what gets mapped).</param>
/// <param name="Generation">Producer generation.</param>
public readonly record struct RingGeometry(int Capacity, long DataOffset, int CommandCapacity, long CommandOffset, long MappedSize, ulong Generation);

/// <summary>The fields of one parsed record.</summary>
/// <param name="MeasurementId">Measurement the record belongs to.</param>
/// <param name="UserTag">User tag (see <see cref="SharedMemoryLayout.UserTag"/>).</param>
/// <param name="TimestampNs">Sample time, ns since the Unix epoch.</param>
/// <param name="SampleCounter">Sample counter within the measurement.</param>
/// <param name="ChannelCount">Channels carried.</param>
/// <param name="NonFiniteMask">Bit c set when channel c is NaN/±Inf after conversion to float32.</param>
public readonly record struct SharedMemoryRecord(Guid MeasurementId, ulong UserTag, long TimestampNs, ulong SampleCounter, int ChannelCount, int NonFiniteMask);
