using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Storage;

namespace MeasureApp.Export;

/// <summary>
/// Writes an export as Parquet: a <c>time</c> column (INT64, TIMESTAMP(NANOS, UTC), the stored
/// nanoseconds exactly — or TIMESTAMP(MICROS) with <see cref="ExportTimeUnit.Microseconds"/>) and one
/// FLOAT column per channel, all REQUIRED and PLAIN-encoded, pages uncompressed or Snappy/ZSTD
/// (<see cref="ExportPlan.Compression"/>); row groups of <see cref="RowGroupRows"/> rows written as they
/// fill, each column chunk with min/max statistics (so engines skip row groups on a time filter); the
/// measurement's metadata in the footer's key/value metadata.
/// </summary>
/// <remarks>
/// The file is laid out here rather than by a general Parquet library: for this fixed schema a column
/// chunk is a few page headers around the raw little-endian values, so writing is a copy. Parquet.Net
/// 6.1, used before, only takes time stamps as <see cref="DateTime"/> (dropping the sub-100 ns part)
/// and encoded that column at ~14 M rows/s, against ~87 M for a float column: the export ran at
/// 4–20 M values/s (docs/benchmarks.md). Headers and the footer
/// are Thrift compact protocol (<see cref="ThriftWriter"/>). Only one row group of values is held
/// (8 + 4 × channels bytes per row); the file never exists whole, on disk or in memory. Readers
/// (DuckDB in the tests, pyarrow, Spark) need nothing beyond the Parquet format 2.x core.
/// </remarks>
public static class ParquetExportWriter
{
    /// <summary>Rows per row group (about 1M).</summary>
    public const int RowGroupRows = 1 << 20;

    /// <summary>Rows per data page: 1 MB of time stamps, 512 KB of floats.</summary>
    private const int PageRows = 128 * 1024;

    private static readonly byte[] Magic = "PAR1"u8.ToArray();

    /// <summary>Writes every row of <paramref name="segments"/> to <paramref name="output"/>.</summary>
    public static async Task WriteAsync(Stream output, ExportPlan plan, IAsyncEnumerable<SampleSegment> segments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(segments);
        var rate = plan.Measurement.SampleRate;
        var channels = plan.Channels.Count;
        var groupRows = (int)Math.Clamp(plan.Rows, 1, RowGroupRows);
        var times = ArrayPool<long>.Shared.Rent(groupRows);
        var columns = new float[channels][];
        for (var k = 0; k < channels; k++)
        {
            columns[k] = ArrayPool<float>.Shared.Rent(groupRows);
        }
        var file = new FileState(output, plan.Compression);
        var micros = plan.TimeUnit == ExportTimeUnit.Microseconds;
        try
        {
            await file.WriteAsync(Magic, cancellationToken);
            var filled = 0;
            await foreach (var segment in segments.WithCancellation(cancellationToken))
            {
                var row = 0;
                while (row < segment.Count)
                {
                    var take = Math.Min(segment.Count - row, groupRows - filled);
                    FillTimes(times.AsSpan(filled, take), segment, row, rate, micros);
                    for (var k = 0; k < channels; k++)
                    {
                        segment.Channel(k).Slice(row, take).CopyTo(columns[k].AsSpan(filled));
                    }
                    filled += take;
                    row += take;
                    if (filled == groupRows)
                    {
                        await WriteRowGroupAsync(file, times, columns, filled, cancellationToken);
                        filled = 0;
                    }
                }
            }
            if (filled > 0)
            {
                await WriteRowGroupAsync(file, times, columns, filled, cancellationToken);
            }
            var footer = Footer(plan, file.RowGroups);
            file.Dispose();
            await file.WriteAsync(footer, cancellationToken);
            var tail = new byte[8];
            BinaryPrimitives.WriteInt32LittleEndian(tail, footer.Length);
            Magic.CopyTo(tail, 4);
            await file.WriteAsync(tail, cancellationToken);
            await output.FlushAsync(cancellationToken);
        }
        finally
        {
            file.Dispose();
            ArrayPool<long>.Shared.Return(times);
            foreach (var column in columns)
            {
                ArrayPool<float>.Shared.Return(column);
            }
        }
    }

    // Exactly SampleSegment.TimeOfSampleNs, without the call per row; microseconds are floored.
    private static void FillTimes(Span<long> times, SampleSegment segment, int row, double rate, bool micros)
    {
        for (var i = 0; i < times.Length; i++)
        {
            times[i] = segment.TimeOfSampleNs(row + i, rate);
        }
        if (micros)
        {
            for (var i = 0; i < times.Length; i++)
            {
                times[i] = Math.DivRem(times[i], 1000, out var rest) - (rest < 0 ? 1 : 0);
            }
        }
    }

    private static async Task WriteRowGroupAsync(FileState file, long[] times, float[][] columns, int rows, CancellationToken cancellationToken)
    {
        var group = new RowGroupInfo(rows, file.Position);
        group.Columns.Add(await WriteColumnChunkAsync(file, times, rows, TimeStatistics(times.AsSpan(0, rows)), cancellationToken));
        foreach (var column in columns)
        {
            group.Columns.Add(await WriteColumnChunkAsync(file, column, rows, FloatStatistics(column.AsSpan(0, rows)), cancellationToken));
        }
        file.RowGroups.Add(group);
    }

    // Min/max of a time column chunk as PLAIN INT64 bytes.
    private static Statistics TimeStatistics(ReadOnlySpan<long> times)
    {
        long min = long.MaxValue, max = long.MinValue;
        foreach (var t in times)
        {
            min = Math.Min(min, t);
            max = Math.Max(max, t);
        }
        var bytes = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, min);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), max);
        return new Statistics(bytes[..8], bytes[8..]);
    }

    // Min/max of a FLOAT column chunk, NaN ignored (Parquet's rule); none when every value is NaN. A zero
    // bound is written as -0.0 (min) / +0.0 (max), as the format asks, so readers never skip a signed zero.
    private static Statistics? FloatStatistics(ReadOnlySpan<float> values)
    {
        var (min, max) = M4.MinMax(values);
        if (!(min <= max))
        {
            return null;
        }
        var bytes = new byte[8];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, min == 0 ? -0.0f : min);
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4), max == 0 ? 0.0f : max);
        return new Statistics(bytes[..4], bytes[4..]);
    }

    // One column chunk: pages of PageRows rows, each a header plus the values as they lie in memory
    // (PLAIN is little-endian, as is every platform .NET runs this on), compressed when asked.
    private static async Task<ColumnChunkInfo> WriteColumnChunkAsync<T>(FileState file, T[] values, int rows, Statistics? statistics, CancellationToken cancellationToken)
        where T : unmanaged
    {
        var width = Unsafe.SizeOf<T>();
        var bytes = new UnmanagedBytes<T>(values).Memory;
        var start = file.Position;
        long uncompressed = 0;
        var header = new ThriftWriter();
        for (var from = 0; from < rows; from += PageRows)
        {
            var count = Math.Min(PageRows, rows - from);
            var page = file.Compress(bytes.Slice(from * width, count * width));
            header.Clear();
            header.FieldI32(1, 0); // type: DATA_PAGE
            header.FieldI32(2, count * width); // uncompressed_page_size
            header.FieldI32(3, page.Length); // compressed_page_size
            header.BeginStruct(5); // data_page_header
            header.FieldI32(1, count); // num_values
            header.FieldI32(2, 0); // encoding: PLAIN
            header.FieldI32(3, 3); // definition_level_encoding: RLE (no levels: the column is REQUIRED)
            header.FieldI32(4, 3); // repetition_level_encoding: RLE
            header.EndStruct();
            header.Stop();
            uncompressed += header.Written.Length + (count * width);
            await file.WriteAsync(header.Written, cancellationToken);
            await file.WriteAsync(page, cancellationToken);
        }
        return new ColumnChunkInfo(start, file.Position - start, uncompressed, rows, statistics);
    }

    private static byte[] Footer(ExportPlan plan, List<RowGroupInfo> groups)
    {
        var t = new ThriftWriter();
        t.FieldI32(1, 2); // version
        // schema: the root, then the columns in order.
        t.BeginList(2, ThriftWriter.Struct, 2 + plan.Channels.Count);
        t.BeginElement();
        t.FieldString(4, "schema");
        t.FieldI32(5, 1 + plan.Channels.Count); // num_children
        t.EndElement();
        t.BeginElement();
        t.FieldI32(1, 2); // type: INT64
        t.FieldI32(3, 0); // repetition_type: REQUIRED
        t.FieldString(4, "time");
        t.BeginStruct(10); // logicalType
        t.BeginStruct(8); // TIMESTAMP
        t.FieldBool(1, true); // isAdjustedToUTC
        t.BeginStruct(2); // unit
        t.BeginStruct(plan.TimeUnit == ExportTimeUnit.Microseconds ? (short)2 : (short)3); // MICROS or NANOS
        t.EndStruct();
        t.EndStruct();
        t.EndStruct();
        t.EndStruct();
        t.EndElement();
        foreach (var c in plan.Channels)
        {
            t.BeginElement();
            t.FieldI32(1, 4); // type: FLOAT
            t.FieldI32(3, 0); // REQUIRED
            t.FieldString(4, plan.ColumnTitle(c));
            t.EndElement();
        }
        t.FieldI64(3, groups.Sum(g => (long)g.Rows)); // num_rows
        t.BeginList(4, ThriftWriter.Struct, groups.Count); // row_groups
        foreach (var g in groups)
        {
            t.BeginElement();
            t.BeginList(1, ThriftWriter.Struct, g.Columns.Count);
            for (var i = 0; i < g.Columns.Count; i++)
            {
                var c = g.Columns[i];
                t.BeginElement();
                t.FieldI64(2, c.Offset); // file_offset
                t.BeginStruct(3); // meta_data
                t.FieldI32(1, i == 0 ? 2 : 4); // type
                t.BeginList(2, ThriftWriter.I32, 2); // encodings
                t.ElementI32(0); // PLAIN
                t.ElementI32(3); // RLE
                t.BeginList(3, ThriftWriter.Binary, 1); // path_in_schema
                t.ElementString(i == 0 ? "time" : plan.ColumnTitle(plan.Channels[i - 1]));
                t.FieldI32(4, Codec(plan.Compression)); // codec
                t.FieldI64(5, c.Values); // num_values
                t.FieldI64(6, c.UncompressedLength); // total_uncompressed_size
                t.FieldI64(7, c.Length); // total_compressed_size
                t.FieldI64(9, c.Offset); // data_page_offset
                if (c.Statistics is { } stats)
                {
                    t.BeginStruct(12); // statistics
                    t.FieldI64(3, 0); // null_count
                    t.FieldBinary(5, stats.Max); // max_value
                    t.FieldBinary(6, stats.Min); // min_value
                    t.EndStruct();
                }
                t.EndStruct();
                t.EndElement();
            }
            t.FieldI64(2, g.Columns.Sum(c => c.UncompressedLength)); // total_byte_size
            t.FieldI64(3, g.Rows); // num_rows
            t.FieldI64(5, g.Offset); // file_offset
            t.FieldI64(6, g.Columns.Sum(c => c.Length)); // total_compressed_size
            t.EndElement();
        }
        var metadata = Metadata(plan);
        t.BeginList(5, ThriftWriter.Struct, metadata.Count); // key_value_metadata
        foreach (var (key, value) in metadata)
        {
            t.BeginElement();
            t.FieldString(1, key);
            t.FieldString(2, value);
            t.EndElement();
        }
        t.FieldString(6, "MeasureApp export");
        t.Stop();
        return t.Written.ToArray();
    }

    private static List<KeyValuePair<string, string>> Metadata(ExportPlan plan)
    {
        var m = plan.Measurement;
        return
        [
            new("measureapp.id", m.Id.ToString()),
            new("measureapp.name", m.Name),
            new("measureapp.owner", m.OwnerName),
            new("measureapp.owner_id", m.OwnerId),
            new("measureapp.device", m.DeviceId),
            new("measureapp.sample_rate", m.SampleRate.ToString("R", CultureInfo.InvariantCulture)),
            new("measureapp.channels", m.ChannelsJson),
            new("measureapp.exported_channels", string.Join(',', plan.Channels)),
            new("measureapp.started", m.StartedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)),
            new("measureapp.first_index", plan.FromIndex.ToString(CultureInfo.InvariantCulture)),
        ];
    }

    private static int Codec(ExportCompression compression) => compression switch
    {
        ExportCompression.Snappy => 1,
        ExportCompression.Zstd => 6,
        _ => 0,
    };

    private sealed record Statistics(byte[] Min, byte[] Max);

    private sealed record ColumnChunkInfo(long Offset, long Length, long UncompressedLength, long Values, Statistics? Statistics);

    private sealed record RowGroupInfo(int Rows, long Offset)
    {
        public List<ColumnChunkInfo> Columns { get; } = [];
    }

    /// <summary>The output, the byte offset the footer needs (the response cannot tell its position) and the page compressor.</summary>
    private sealed class FileState(Stream output, ExportCompression compression) : IDisposable
    {
        private ZstdSharp.Compressor? _zstd = compression == ExportCompression.Zstd ? new ZstdSharp.Compressor(1) : null;
        private byte[]? _compressed;

        public long Position { get; private set; }

        public List<RowGroupInfo> RowGroups { get; } = [];

        // The page as it goes into the file; a compressed page lives in one reused buffer until the next call.
        public ReadOnlyMemory<byte> Compress(ReadOnlyMemory<byte> page)
        {
            if (compression == ExportCompression.None)
            {
                return page;
            }
            var bound = compression == ExportCompression.Snappy ? Snappier.Snappy.GetMaxCompressedLength(page.Length) : ZstdSharp.Compressor.GetCompressBound(page.Length);
            if (_compressed is null || _compressed.Length < bound)
            {
                if (_compressed is not null)
                {
                    ArrayPool<byte>.Shared.Return(_compressed);
                }
                _compressed = ArrayPool<byte>.Shared.Rent(bound);
            }
            var length = compression == ExportCompression.Snappy
                ? Snappier.Snappy.Compress(page.Span, _compressed)
                : _zstd!.Wrap(page.Span, _compressed);
            return _compressed.AsMemory(0, length);
        }

        public void Dispose()
        {
            _zstd?.Dispose();
            _zstd = null;
            if (_compressed is not null)
            {
                ArrayPool<byte>.Shared.Return(_compressed);
                _compressed = null;
            }
        }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
        {
            await output.WriteAsync(bytes, cancellationToken);
            Position += bytes.Length;
        }
    }

    /// <summary>A pooled array of unmanaged values seen as bytes, without copying.</summary>
    private sealed class UnmanagedBytes<T>(T[] values) : MemoryManager<byte>
        where T : unmanaged
    {
        public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(values.AsSpan());

        public override MemoryHandle Pin(int elementIndex = 0) => throw new NotSupportedException();

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }

    /// <summary>The subset of the Thrift compact protocol that Parquet's page headers and footer need.</summary>
    private sealed class ThriftWriter
    {
        public const byte I32 = 5;
        public const byte Binary = 8;
        public const byte Struct = 12;
        private const byte BoolTrue = 1;
        private const byte BoolFalse = 2;
        private const byte I64 = 6;

        private readonly ArrayBufferWriter<byte> _buffer = new(256);
        private readonly Stack<short> _lastField = new();
        private short _last;

        public ReadOnlyMemory<byte> Written => _buffer.WrittenMemory;

        public void Clear()
        {
            _buffer.ResetWrittenCount();
            _lastField.Clear();
            _last = 0;
        }

        public void FieldI32(short id, int value)
        {
            Header(id, I32);
            VarInt(ZigZag(value));
        }

        public void FieldI64(short id, long value)
        {
            Header(id, I64);
            VarInt(ZigZag(value));
        }

        public void FieldBool(short id, bool value) => Header(id, value ? BoolTrue : BoolFalse);

        public void FieldString(short id, string value)
        {
            Header(id, Binary);
            ElementString(value);
        }

        public void BeginStruct(short id)
        {
            Header(id, Struct);
            _lastField.Push(_last);
            _last = 0;
        }

        public void EndStruct()
        {
            Stop();
            _last = _lastField.Pop();
        }

        public void BeginList(short id, byte elementType, int count)
        {
            Header(id, 9);
            if (count < 15)
            {
                Byte((byte)((count << 4) | elementType));
            }
            else
            {
                Byte((byte)(0xF0 | elementType));
                VarInt((ulong)count);
            }
        }

        // A struct inside a list: its own field ids start again from 0.
        public void BeginElement()
        {
            _lastField.Push(_last);
            _last = 0;
        }

        public void EndElement() => EndStruct();

        public void ElementI32(int value) => VarInt(ZigZag(value));

        public void FieldBinary(short id, ReadOnlySpan<byte> value)
        {
            Header(id, Binary);
            VarInt((ulong)value.Length);
            value.CopyTo(_buffer.GetSpan(value.Length));
            _buffer.Advance(value.Length);
        }

        public void ElementString(string value)
        {
            var count = Encoding.UTF8.GetByteCount(value);
            VarInt((ulong)count);
            var span = _buffer.GetSpan(count);
            Encoding.UTF8.GetBytes(value, span);
            _buffer.Advance(count);
        }

        public void Stop() => Byte(0);

        private void Header(short id, byte type)
        {
            var delta = id - _last;
            if (delta is > 0 and <= 15)
            {
                Byte((byte)((delta << 4) | type));
            }
            else
            {
                Byte(type);
                VarInt(ZigZag(id));
            }
            _last = id;
        }

        private void Byte(byte value)
        {
            _buffer.GetSpan(1)[0] = value;
            _buffer.Advance(1);
        }

        private void VarInt(ulong value)
        {
            while (value >= 0x80)
            {
                Byte((byte)(value | 0x80));
                value >>= 7;
            }
            Byte((byte)value);
        }

        private static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));
    }
}
