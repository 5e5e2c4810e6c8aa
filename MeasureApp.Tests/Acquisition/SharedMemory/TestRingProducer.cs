using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace MeasureApp.Tests.Acquisition.SharedMemory;

/// <summary>
/// A producer of the documented layout (docs/shared-memory.md), written from the document's offset
/// tables on purpose rather than from SharedMemoryLayout, with its own CRC-32C and FNV-1a: if the
/// driver and the document disagree, the tests fail. Works over a real mapped file or raw memory.
/// </summary>
internal sealed class TestRingProducer : IDisposable
{
    public const int HeaderBytes = 4096;
    public const int RecordBytes = 128;
    public const int CommandBytes = 64;

    private static readonly uint[] CrcTable = BuildCrcTable();
    private readonly FileStream? _file;
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly nint _p;
    private readonly bool _addedRef;
    private bool _fastChecksum;
    private ulong _write;
    private ulong _commandRead;

    private TestRingProducer(nint memory, long length, int capacity, int commandCapacity, FileStream? file, MemoryMappedFile? map, MemoryMappedViewAccessor? view, bool addedRef)
    {
        _p = memory;
        _addedRef = addedRef;
        Length = length;
        Capacity = capacity;
        CommandCapacity = commandCapacity;
        _file = file;
        _map = map;
        _view = view;
    }

    public long Length { get; }

    public int Capacity { get; }

    public int CommandCapacity { get; }

    public ulong Generation { get; private set; }

    /// <summary>Records written so far (the next record's index).</summary>
    public ulong WriteIndex => _write;

    public ulong ReadIndex => Volatile.Read(ref U64(128));

    public ulong ConsumerHeartbeat => Volatile.Read(ref U64(136));

    public static long FileSizeFor(int capacity, int commandCapacity) => HeaderBytes + (long)capacity * RecordBytes + (long)commandCapacity * CommandBytes;

    /// <summary>Creates (or overwrites) the ring file and initialises it with a fresh generation.</summary>
    public static TestRingProducer CreateFile(string path, int capacity = 1024, int commandCapacity = 64, ulong? generation = null)
    {
        var size = FileSizeFor(capacity, commandCapacity);
        var file = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        file.SetLength(size);
        var map = MemoryMappedFile.CreateFromFile(file, null, 0, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: true);
        var view = map.CreateViewAccessor(0, size, MemoryMappedFileAccess.ReadWrite);
        // No unsafe code in the test project: the view's address becomes a managed ref (see At).
        var added = false;
        view.SafeMemoryMappedViewHandle.DangerousAddRef(ref added);
        var address = view.SafeMemoryMappedViewHandle.DangerousGetHandle() + (nint)view.PointerOffset;
        var producer = new TestRingProducer(address, size, capacity, commandCapacity, file, map, view, added);
        producer.Initialise(generation ?? NewGeneration());
        return producer;
    }

    /// <summary>A producer over caller-owned memory (pinned array) of <see cref="FileSizeFor"/> bytes.</summary>
    public static TestRingProducer OverMemory(nint memory, int capacity, int commandCapacity, ulong generation)
    {
        // In-memory producers drive hot mutation loops: hardware CRC there.
        var producer = new TestRingProducer(memory, FileSizeFor(capacity, commandCapacity), capacity, commandCapacity, null, null, null, false) { _fastChecksum = true };
        producer.Initialise(generation);
        return producer;
    }

    public static ulong NewGeneration() => (ulong)Random.Shared.NextInt64(1, long.MaxValue);

    /// <summary>What a (re)starting producer does: magic 0, fence, clear everything, write the header, magic last.</summary>
    public void Initialise(ulong generation)
    {
        Volatile.Write(ref U32(0), 0u);
        Interlocked.MemoryBarrier();
        Bytes(4, (int)(Length - 4)).Clear();
        WriteStaticHeader(generation);
        Volatile.Write(ref U64(72), 1UL);
        _write = 0;
        _commandRead = 0;
        Volatile.Write(ref U32(0), 0x4D48534Du);
    }

    /// <summary>Rewrites the header fields (not the rings) as a correct producer of this generation has them.</summary>
    public void RestoreHeader()
    {
        WriteStaticHeader(Generation);
        Volatile.Write(ref U64(64), _write);
        Volatile.Write(ref U64(128), _write);
        Volatile.Write(ref U64(80), 0UL);
        Volatile.Write(ref U64(192), _commandRead);
        Volatile.Write(ref U64(256), _commandRead);
        Volatile.Write(ref U32(0), 0x4D48534Du);
    }

    /// <summary>Raw access to the header or rings, for corrupting them.</summary>
    public Span<byte> Bytes(long offset, int count) => MemoryMarshal.CreateSpan(ref At(offset), count);

    public void SetMagic(uint magic) => Volatile.Write(ref U32(0), magic);

    public void SetVersion(uint version) => Volatile.Write(ref U32(4), version);

    public void SetWriteIndex(ulong index) => Volatile.Write(ref U64(64), index);

    public void Beat(ulong value) => Volatile.Write(ref U64(72), value);

    public void AddOverruns(ulong dropped) => Volatile.Write(ref U64(80), Volatile.Read(ref U64(80)) + dropped);

    /// <summary>Appends one record the way a correct producer does (refuses to overwrite unread records).</summary>
    public void Append(Guid measurementId, ulong userTag, long timestampNs, ulong counter, ReadOnlySpan<double> values,
        uint? channelCount = null, bool corruptChecksum = false, bool publish = true)
    {
        var read = ReadIndex;
        if (read <= _write && _write - read >= (ulong)Capacity)
        {
            throw new InvalidOperationException("The test ring is full: the test wrote more than the consumer had room for.");
        }
        WriteSlot(_write, measurementId, userTag, timestampNs, counter, values, channelCount, corruptChecksum);
        _write++;
        if (publish)
        {
            Publish();
        }
    }

    /// <summary>Appends ignoring the read index (a misbehaving producer), publishing once at the end.</summary>
    public void AppendLapping(Guid measurementId, ulong userTag, long timestampNs, ulong firstCounter, int records, double value)
    {
        Span<double> values = stackalloc double[8];
        values.Fill(value);
        for (var i = 0; i < records; i++)
        {
            WriteSlot(_write, measurementId, userTag, timestampNs, firstCounter + (ulong)i, values, null, corruptChecksum: false);
            _write++;
        }
        Publish();
    }

    public void Publish() => Volatile.Write(ref U64(64), _write);

    /// <summary>
    /// Builds the 128 bytes of a record (sequence = index + 1, checksum over bytes 0–123). Hot loops may
    /// use the driver's hardware CRC (<paramref name="fastChecksum"/>); the two are shown equal elsewhere.
    /// </summary>
    public static void EncodeRecord(Span<byte> r, ulong index, Guid measurementId, ulong userTag, long timestampNs, ulong counter,
        ReadOnlySpan<double> values, uint? channelCount = null, bool fastChecksum = false)
    {
        r[..RecordBytes].Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(r, index + 1);
        measurementId.TryWriteBytes(r.Slice(8, 16), bigEndian: true, out _);
        BinaryPrimitives.WriteUInt64LittleEndian(r[24..], userTag);
        BinaryPrimitives.WriteInt64LittleEndian(r[32..], timestampNs);
        BinaryPrimitives.WriteUInt64LittleEndian(r[40..], counter);
        BinaryPrimitives.WriteUInt32LittleEndian(r[48..], channelCount ?? (uint)values.Length);
        for (var c = 0; c < Math.Min(values.Length, 8); c++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(r[(56 + 8 * c)..], values[c]);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(r[124..], fastChecksum ? MeasureApp.Acquisition.Devices.SharedMemory.SharedMemoryLayout.Crc32C(r[..124]) : Crc32C(r[..124]));
    }

    /// <summary>Recomputes the record checksum (a producer bug that still checksums its output).</summary>
    public static void FixChecksum(Span<byte> record) =>
        BinaryPrimitives.WriteUInt32LittleEndian(record[124..], Crc32C(record[..124]));

    /// <summary>Reads the commands the engine wrote since the last call and marks them consumed.</summary>
    public List<TestCommand> ReadCommands()
    {
        var commands = new List<TestCommand>();
        var written = Volatile.Read(ref U64(192));
        var ringOffset = HeaderBytes + (long)Capacity * RecordBytes;
        while (_commandRead < written)
        {
            var slot = ringOffset + (long)(_commandRead % (ulong)CommandCapacity) * CommandBytes;
            var sequence = Volatile.Read(ref U64(slot));
            ReadOnlySpan<byte> c = Bytes(slot, CommandBytes);
            if (sequence != _commandRead + 1 || Crc32C(c[..60]) != BinaryPrimitives.ReadUInt32LittleEndian(c[60..]))
            {
                throw new InvalidOperationException($"Command {_commandRead} is not committed or fails its checksum.");
            }
            commands.Add(new TestCommand(
                BinaryPrimitives.ReadUInt32LittleEndian(c[8..]),
                BinaryPrimitives.ReadUInt32LittleEndian(c[12..]),
                new Guid(c.Slice(16, 16), bigEndian: true),
                BinaryPrimitives.ReadUInt64LittleEndian(c[32..]),
                BinaryPrimitives.ReadDoubleLittleEndian(c[40..]),
                BinaryPrimitives.ReadInt64LittleEndian(c[48..])));
            _commandRead++;
        }
        Volatile.Write(ref U64(256), _commandRead);
        return commands;
    }

    /// <summary>CRC-32C, bitwise table version (independent of the driver's hardware-assisted one).</summary>
    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        return ~crc;
    }

    /// <summary>FNV-1a 64 of the UTF-8 user id, as the document defines the user tag.</summary>
    public static ulong UserTag(string userId)
    {
        var h = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes(userId))
        {
            h = unchecked((h ^ b) * 1099511628211UL);
        }
        return h;
    }

    public void Dispose()
    {
        if (_view is not null)
        {
            if (_addedRef)
            {
                _view.SafeMemoryMappedViewHandle.DangerousRelease();
            }
            _view.Dispose();
        }
        _map?.Dispose();
        _file?.Dispose();
    }

    private void WriteStaticHeader(ulong generation)
    {
        Generation = generation;
        var h = Bytes(0, 64);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], HeaderBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], (uint)Capacity);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], RecordBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(h[24..], HeaderBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(h[32..], (uint)CommandCapacity);
        BinaryPrimitives.WriteUInt32LittleEndian(h[36..], CommandBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(h[40..], (ulong)(HeaderBytes + (long)Capacity * RecordBytes));
        BinaryPrimitives.WriteUInt64LittleEndian(h[48..], (ulong)Length);
        BinaryPrimitives.WriteUInt64LittleEndian(h[56..], generation);
    }

    private void WriteSlot(ulong index, Guid measurementId, ulong userTag, long timestampNs, ulong counter, ReadOnlySpan<double> values, uint? channelCount, bool corruptChecksum)
    {
        Span<byte> r = stackalloc byte[RecordBytes];
        EncodeRecord(r, index, measurementId, userTag, timestampNs, counter, values, channelCount, _fastChecksum);
        if (corruptChecksum)
        {
            r[124] ^= 0x5A;
        }
        var slot = HeaderBytes + (long)(index % (ulong)Capacity) * RecordBytes;
        r[8..].CopyTo(Bytes(slot + 8, RecordBytes - 8));
        Volatile.Write(ref U64(slot), index + 1);
    }

    private ref byte At(long offset) => ref Unsafe.AddByteOffset(ref Unsafe.NullRef<byte>(), _p + (nint)offset);

    private ref ulong U64(long offset) => ref Unsafe.As<byte, ulong>(ref At(offset));

    private ref uint U32(long offset) => ref Unsafe.As<byte, uint>(ref At(offset));

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0x82F63B78u ^ (c >> 1) : c >> 1;
            }
            table[i] = c;
        }
        return table;
    }
}

/// <summary>A command as the producer reads it.</summary>
internal sealed record TestCommand(uint Type, uint Channels, Guid MeasurementId, ulong UserTag, double SampleRate, long IssuedAtNs)
{
    public const uint Start = 1;
    public const uint Stop = 2;
}
