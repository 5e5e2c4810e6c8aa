using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;
using MeasureApp.Acquisition.Measurements;
using Microsoft.Win32.SafeHandles;

namespace MeasureApp.Acquisition.Storage;

/// <summary>Where the store writer keeps data while the database is unreachable (configuration section <c>Spool</c>).</summary>
public sealed class SpoolOptions
{
    /// <summary>Configuration section.</summary>
    public const string SectionName = "Storage:Spool";

    /// <summary>Folder of the spool file; the host sets it under its data directory. Null: a fresh temp folder (tests, tools).</summary>
    public string? Directory { get; set; }

    /// <summary>Largest spool file; beyond it the writer holds data in memory until the bounded queue stops measurements.</summary>
    public long MaxBytes { get; set; } = 32L * 1024 * 1024 * 1024;

    /// <summary>
    /// The spool is a row of files of about this size: appends go to the newest, the replay reads the
    /// oldest and deletes each as soon as it is stored, so the spool shrinks while it is replayed.
    /// </summary>
    public long SegmentBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// When blocks wait longer than this in memory for the database (it is slower than the data), they
    /// go to the spool instead, which the replay feeds to the database behind them: a crash then loses
    /// at most about this much queued data, plus the chunk being built.
    /// </summary>
    public TimeSpan OverflowAfter { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The problem with these options (naming the key), or null when they are usable.</summary>
    public string? Problem() =>
        MaxBytes < 1024 * 1024 ? $"{SectionName}:MaxBytes must be at least 1 MiB (got {MaxBytes})."
        : OverflowAfter <= TimeSpan.Zero ? $"{SectionName}:OverflowAfter must be more than 0 (got {OverflowAfter})."
        : SegmentBytes < 64 * 1024 ? $"{SectionName}:SegmentBytes must be at least 64 KiB (got {SegmentBytes})."
        : Directory is { Length: 0 } ? $"{SectionName}:Directory must not be empty (leave it out for the default under Storage:DataDirectory)."
        : null;
}

/// <summary>A record read back from the spool: a chunk, or a measurement's final metadata.</summary>
internal abstract record SpoolRecord;

internal sealed record SpooledChunk(StoredChunk Chunk) : SpoolRecord;

internal sealed record SpooledUpdate(MeasurementInfo Measurement) : SpoolRecord;

/// <summary>
/// Append-only file of chunks and metadata updates, replayed in order once the database is back.
/// Each record is [u32 body length][u32 CRC-32C of body][body]; a record that is cut short or whose
/// checksum does not match ends the file — the torn tail of a crash is detected and dropped, never
/// replayed as garbage. Written with positioned writes straight to the OS, so a killed process loses
/// nothing it appended. Only the store writer's loop touches it (not thread-safe).
/// </summary>
internal sealed class SpoolFile : IDisposable
{
    public const string FileName = "store.spool";
    private const int HeaderSize = 8;
    private const int RecordHeaderSize = 8;
    private const int MaxRecordBytes = 1 << 30;
    private const byte ChunkKind = 1;
    private const byte UpdateKind = 2;
    private const int ChunkFixedSize = 1 + 16 + 8 + 8 + 8 + 4 + 4;

    private readonly SafeFileHandle _handle;

    private SpoolFile(string path, SafeFileHandle handle, long length, long droppedTail)
    {
        Path = path;
        _handle = handle;
        Length = length;
        ReadPosition = HeaderSize;
        DroppedTailBytes = droppedTail;
    }

    private static ReadOnlySpan<byte> Magic => "MASPOOL1"u8;

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    private long _length;

    /// <summary>End of the valid records (where the next one is appended). Published after each record is written, so a replay on another thread reads only whole records.</summary>
    public long Length
    {
        get => Volatile.Read(ref _length);
        private set => Volatile.Write(ref _length, value);
    }

    /// <summary>Start of the first record not yet replayed.</summary>
    public long ReadPosition { get; private set; }

    /// <summary>Bytes of records appended but not yet replayed.</summary>
    public long PendingBytes => Length - ReadPosition;

    /// <summary>True while records wait for replay.</summary>
    public bool HasPending => ReadPosition < Length;

    /// <summary>Bytes of a torn or corrupt tail dropped when the file was opened.</summary>
    public long DroppedTailBytes { get; }

    /// <summary>Opens the spool at <paramref name="path"/>, creating it, or validating and trimming a leftover one.</summary>
    public static SpoolFile Open(string path)
    {
        var folder = System.IO.Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows())
        {
            System.IO.Directory.CreateDirectory(folder);
        }
        else
        {
            // Spooled samples are user data: owner-only folder and file.
            System.IO.Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(handle, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        try
        {
            var fileLength = RandomAccess.GetLength(handle);
            Span<byte> header = stackalloc byte[HeaderSize];
            if (fileLength < HeaderSize || RandomAccess.Read(handle, header, 0) != HeaderSize || !header.SequenceEqual(Magic))
            {
                // New, or not even the header survived: start over.
                RandomAccess.SetLength(handle, 0);
                RandomAccess.Write(handle, Magic, 0);
                return new SpoolFile(path, handle, HeaderSize, Math.Max(0, fileLength));
            }
            var valid = ScanValidEnd(handle, fileLength);
            if (valid < fileLength)
            {
                RandomAccess.SetLength(handle, valid);
            }
            return new SpoolFile(path, handle, valid, fileLength - valid);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Bytes a chunk takes in the spool.</summary>
    public static long SizeOf(StoredChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        return RecordHeaderSize + ChunkFixedSize + 8L * chunk.ChannelCount + chunk.Payload.Length;
    }

    /// <summary>Appends a chunk.</summary>
    public void Append(StoredChunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        var meta = new byte[RecordHeaderSize + ChunkFixedSize + 8 * chunk.ChannelCount];
        var body = meta.AsSpan(RecordHeaderSize);
        body[0] = ChunkKind;
        chunk.MeasurementId.TryWriteBytes(body[1..17]);
        BinaryPrimitives.WriteInt64LittleEndian(body[17..], chunk.Sequence);
        BinaryPrimitives.WriteInt64LittleEndian(body[25..], chunk.FirstSampleIndex);
        BinaryPrimitives.WriteInt64LittleEndian(body[33..], chunk.T0Ns);
        BinaryPrimitives.WriteInt32LittleEndian(body[41..], chunk.SampleCount);
        BinaryPrimitives.WriteInt32LittleEndian(body[45..], chunk.ChannelCount);
        var extremes = MemoryMarshal.Cast<byte, float>(body[ChunkFixedSize..]);
        chunk.Min.AsSpan(0, chunk.ChannelCount).CopyTo(extremes);
        chunk.Max.AsSpan(0, chunk.ChannelCount).CopyTo(extremes[chunk.ChannelCount..]);
        var crc = Crc32C(Crc32C(uint.MaxValue, body), chunk.Payload);
        WriteRecord(meta, body.Length + chunk.Payload.Length, crc, chunk.Payload);
    }

    /// <summary>Appends a measurement's metadata (its final state at stop).</summary>
    public void Append(MeasurementInfo measurement)
    {
        ArgumentNullException.ThrowIfNull(measurement);
        var json = JsonSerializer.SerializeToUtf8Bytes(measurement);
        var meta = new byte[RecordHeaderSize + 1];
        meta[RecordHeaderSize] = UpdateKind;
        var crc = Crc32C(Crc32C(uint.MaxValue, meta.AsSpan(RecordHeaderSize)), json);
        WriteRecord(meta, 1 + json.Length, crc, json);
    }

    /// <summary>
    /// Reads records from <see cref="ReadPosition"/> without consuming them: up to
    /// <paramref name="maxChunks"/> chunks or about <paramref name="maxBytes"/>. Call
    /// <see cref="Commit"/> with <paramref name="next"/> once they are stored.
    /// </summary>
    public List<SpoolRecord> ReadBatch(int maxChunks, long maxBytes, out long next)
    {
        var records = new List<SpoolRecord>();
        var position = ReadPosition;
        var chunks = 0;
        Span<byte> header = stackalloc byte[RecordHeaderSize];
        while (position < Length && chunks < maxChunks && position - ReadPosition < maxBytes)
        {
            if (RandomAccess.Read(_handle, header, position) != RecordHeaderSize)
            {
                throw new InvalidDataException($"Spool {Path}: record header at {position} is cut short.");
            }
            var length = BinaryPrimitives.ReadInt32LittleEndian(header);
            var crc = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
            if (length <= 0 || length > MaxRecordBytes || position + RecordHeaderSize + length > Length)
            {
                throw new InvalidDataException($"Spool {Path}: record at {position} has an impossible length {length}.");
            }
            var body = new byte[length];
            if (RandomAccess.Read(_handle, body, position + RecordHeaderSize) != length || Crc32C(uint.MaxValue, body) != crc)
            {
                throw new InvalidDataException($"Spool {Path}: record at {position} does not match its checksum.");
            }
            var record = Decode(body);
            if (record is SpooledChunk)
            {
                chunks++;
            }
            records.Add(record);
            position += RecordHeaderSize + length;
        }
        next = position;
        return records;
    }

    /// <summary>Marks everything before <paramref name="next"/> as replayed.</summary>
    public void Commit(long next)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(next, ReadPosition);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(next, Length);
        ReadPosition = next;
    }

    /// <summary>Drops unreplayable records from <paramref name="position"/> on (a corrupt record found during replay).</summary>
    public void TruncateAt(long position)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(position, ReadPosition);
        RandomAccess.SetLength(_handle, position);
        Length = position;
    }

    /// <summary>Every valid record, from the start (diagnostics and tests).</summary>
    public List<SpoolRecord> ReadAll()
    {
        var saved = ReadPosition;
        ReadPosition = HeaderSize;
        try
        {
            return ReadBatch(int.MaxValue, long.MaxValue, out _);
        }
        finally
        {
            ReadPosition = saved;
        }
    }

    /// <summary>Forces what was appended onto the disk (fsync), so it survives a power cut, not only a killed process.</summary>
    public void FlushToDisk() => RandomAccess.FlushToDisk(_handle);

    /// <summary>Closes and deletes the file (everything was replayed).</summary>
    public void Delete()
    {
        _handle.Dispose();
        File.Delete(Path);
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

    private void WriteRecord(byte[] meta, int bodyLength, uint crc, byte[] tail)
    {
        BinaryPrimitives.WriteInt32LittleEndian(meta, bodyLength);
        BinaryPrimitives.WriteUInt32LittleEndian(meta.AsSpan(4), crc);
        // One gathered write per record: the payload is not copied again.
        RandomAccess.Write(_handle, [meta, tail], Length);
        Length += meta.Length + tail.Length;
    }

    private static SpoolRecord Decode(byte[] body)
    {
        var span = body.AsSpan();
        switch (span[0])
        {
            case ChunkKind:
                var channels = BinaryPrimitives.ReadInt32LittleEndian(span[45..]);
                var samples = BinaryPrimitives.ReadInt32LittleEndian(span[41..]);
                if (channels < 1 || channels > MeasurementLimits.MaxChannels || samples < 1
                    || body.Length != ChunkFixedSize + 8 * channels + (long)samples * channels * sizeof(float))
                {
                    throw new InvalidDataException("Spooled chunk has inconsistent sizes.");
                }
                var extremes = MemoryMarshal.Cast<byte, float>(span.Slice(ChunkFixedSize, 8 * channels));
                return new SpooledChunk(new StoredChunk
                {
                    MeasurementId = new Guid(span[1..17]),
                    Sequence = BinaryPrimitives.ReadInt64LittleEndian(span[17..]),
                    FirstSampleIndex = BinaryPrimitives.ReadInt64LittleEndian(span[25..]),
                    T0Ns = BinaryPrimitives.ReadInt64LittleEndian(span[33..]),
                    SampleCount = samples,
                    ChannelCount = channels,
                    Min = extremes[..channels].ToArray(),
                    Max = extremes[channels..].ToArray(),
                    Payload = span[(ChunkFixedSize + 8 * channels)..].ToArray(),
                });
            case UpdateKind:
                return new SpooledUpdate(JsonSerializer.Deserialize<MeasurementInfo>(span[1..])
                    ?? throw new InvalidDataException("Spooled measurement update is empty."));
            default:
                throw new InvalidDataException($"Unknown spool record kind {span[0]}.");
        }
    }

    private static long ScanValidEnd(SafeFileHandle handle, long fileLength)
    {
        var position = (long)HeaderSize;
        Span<byte> header = stackalloc byte[RecordHeaderSize];
        var buffer = new byte[1 << 20];
        while (position + RecordHeaderSize <= fileLength)
        {
            RandomAccess.Read(handle, header, position);
            var length = BinaryPrimitives.ReadInt32LittleEndian(header);
            var expected = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
            if (length <= 0 || length > MaxRecordBytes || position + RecordHeaderSize + length > fileLength)
            {
                break;
            }
            var crc = uint.MaxValue;
            for (long done = 0; done < length;)
            {
                var n = RandomAccess.Read(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, length - done)), position + RecordHeaderSize + done);
                if (n <= 0)
                {
                    return position;
                }
                crc = Crc32C(crc, buffer.AsSpan(0, n));
                done += n;
            }
            if (crc != expected)
            {
                break;
            }
            position += RecordHeaderSize + length;
        }
        return position;
    }

    private static uint Crc32C(uint crc, ReadOnlySpan<byte> data)
    {
        // Hardware CRC-32C (SSE4.2 / ARM) through BitOperations, 8 bytes per step.
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (var w in words)
        {
            crc = BitOperations.Crc32C(crc, w);
        }
        foreach (var b in data[(words.Length * sizeof(ulong))..])
        {
            crc = BitOperations.Crc32C(crc, b);
        }
        return crc;
    }
}
