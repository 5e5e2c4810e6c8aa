using System.Buffers;
using System.Globalization;
using MeasureApp.Acquisition.Storage;
using Parquet;
using Parquet.Schema;

namespace MeasureApp.Export;

/// <summary>
/// Writes an export as Parquet: a <c>time</c> column (INT64, TIMESTAMP(NANOS, UTC)) and one FLOAT
/// column per channel, row groups of <see cref="RowGroupRows"/> rows written as they fill, and the
/// measurement's metadata in the footer's key/value metadata.
/// </summary>
/// <remarks>
/// Parquet.Net writes synchronously into its output and asks for its position, while the response
/// allows neither synchronous writes nor positions. It writes into <see cref="ForwardStream"/>, which
/// counts bytes and keeps them until the next row group is done, then sends them asynchronously: the
/// file never exists whole, on disk or in memory; at most one encoded row group is held.
/// </remarks>
public static class ParquetExportWriter
{
    /// <summary>Rows per row group (about 1M).</summary>
    public const int RowGroupRows = 1 << 20;

    // Time stamps are all distinct: a quick sample skips the dictionary attempt (a hash table of 1M
    // entries per row group). The writer's stream pool is unbounded by default, which a server that
    // exports for days cannot have.
    private static readonly ParquetOptions Options = new()
    {
        DictionaryEncodingSampleSize = 10_000,
        MaximumSmallPoolFreeBytes = 1 << 20,
        MaximumLargePoolFreeBytes = 8 << 20,
    };

    /// <summary>Writes every row of <paramref name="segments"/> to <paramref name="output"/>.</summary>
    public static async Task WriteAsync(Stream output, ExportPlan plan, IAsyncEnumerable<SampleSegment> segments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(segments);
        var rate = plan.Measurement.SampleRate;
        var timeField = new DateTimeDataField("time", DateTimeFormat.Timestamp, isAdjustedToUTC: true, unit: DateTimeTimeUnit.Nanos, isNullable: false);
        var channelFields = plan.Channels.Select(c => new DataField<float>(plan.ColumnTitle(c))).ToArray();
        var schema = new ParquetSchema([timeField, .. channelFields]);
        var groupRows = (int)Math.Clamp(plan.Rows, 1, RowGroupRows);
        var times = ArrayPool<DateTime>.Shared.Rent(groupRows);
        var columns = channelFields.Select(_ => ArrayPool<float>.Shared.Rent(groupRows)).ToArray();
        await using var forward = new ForwardStream(output);
        try
        {
            await using (var writer = await ParquetWriter.CreateAsync(schema, forward, Options, cancellationToken: cancellationToken))
            {
                writer.CustomMetadata = Metadata(plan);
                var filled = 0;
                await foreach (var segment in segments.WithCancellation(cancellationToken))
                {
                    var row = 0;
                    while (row < segment.Count)
                    {
                        var take = Math.Min(segment.Count - row, groupRows - filled);
                        for (var i = 0; i < take; i++)
                        {
                            times[filled + i] = ToDateTime(segment.TimeOfSampleNs(row + i, rate));
                        }
                        for (var k = 0; k < columns.Length; k++)
                        {
                            segment.Channel(k).Slice(row, take).CopyTo(columns[k].AsSpan(filled));
                        }
                        filled += take;
                        row += take;
                        if (filled == groupRows)
                        {
                            await WriteGroupAsync(writer, timeField, channelFields, times, columns, filled, cancellationToken);
                            filled = 0;
                            await forward.SendAsync(cancellationToken);
                        }
                    }
                }
                if (filled > 0)
                {
                    await WriteGroupAsync(writer, timeField, channelFields, times, columns, filled, cancellationToken);
                }
            }
            await forward.SendAsync(cancellationToken);
        }
        finally
        {
            ArrayPool<DateTime>.Shared.Return(times);
            foreach (var column in columns)
            {
                ArrayPool<float>.Shared.Return(column);
            }
        }
    }

    private static async Task WriteGroupAsync(ParquetWriter writer, DateTimeDataField timeField, DataField<float>[] channelFields,
        DateTime[] times, float[][] columns, int rows, CancellationToken cancellationToken)
    {
        using var group = writer.CreateRowGroup();
        await group.WriteAsync<DateTime>(timeField, times.AsMemory(0, rows), cancellationToken: cancellationToken);
        for (var k = 0; k < channelFields.Length; k++)
        {
            await group.WriteAsync<float>(channelFields[k], columns[k].AsMemory(0, rows), cancellationToken: cancellationToken);
        }
    }

    // DateTime holds 100 ns ticks: the finer part of a device time stamp is lost (see the report).
    private static DateTime ToDateTime(long ns) => new(DateTime.UnixEpoch.Ticks + (ns / 100), DateTimeKind.Utc);

    private static Dictionary<string, string> Metadata(ExportPlan plan)
    {
        var m = plan.Measurement;
        return new()
        {
            ["measureapp.id"] = m.Id.ToString(),
            ["measureapp.name"] = m.Name,
            ["measureapp.owner"] = m.OwnerName,
            ["measureapp.owner_id"] = m.OwnerId,
            ["measureapp.device"] = m.DeviceId,
            ["measureapp.sample_rate"] = m.SampleRate.ToString("R", CultureInfo.InvariantCulture),
            ["measureapp.channels"] = m.ChannelsJson,
            ["measureapp.exported_channels"] = string.Join(',', plan.Channels),
            ["measureapp.started"] = m.StartedAt.UtcDateTime.ToString("O", CultureInfo.InvariantCulture),
            ["measureapp.first_index"] = plan.FromIndex.ToString(CultureInfo.InvariantCulture),
        };
    }

    /// <summary>
    /// Counts what is written (the writer's offsets need a position) and holds it until
    /// <see cref="SendAsync"/> passes it on; cannot seek or read.
    /// </summary>
    private sealed class ForwardStream(Stream inner) : Stream
    {
        private readonly MemoryStream _pending = new();
        private long _position;

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _position;
        public override long Position
        {
            get => _position;
            set => throw new NotSupportedException();
        }

        public async Task SendAsync(CancellationToken cancellationToken)
        {
            if (_pending.Length == 0)
            {
                return;
            }
            await inner.WriteAsync(_pending.GetBuffer().AsMemory(0, (int)_pending.Length), cancellationToken);
            await inner.FlushAsync(cancellationToken);
            // Keep the capacity: the next row group needs about as much.
            _pending.SetLength(0);
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _pending.Write(buffer);
            _position += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override void Flush()
        {
            // Held until SendAsync: the response cannot be written synchronously.
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _pending.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
