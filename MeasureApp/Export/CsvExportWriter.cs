using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using MeasureApp.Acquisition.Storage;

namespace MeasureApp.Export;

/// <summary>
/// Writes an export as CSV straight into the response pipe: UTF-8, invariant culture, one row per
/// sample. Formatting goes into pipe memory with the UTF-8 formatters, so no string is made per value
/// and memory stays at one stored chunk plus the pipe's flush window.
/// </summary>
public static class CsvExportWriter
{
    // A row never exceeds this: time (≤ 32 bytes) + 8 channels × (comma + float, ≤ 16) + newline.
    private const int MaxRowBytes = 32 + (8 * 17) + 64;
    private const int FlushBytes = 64 * 1024;

    /// <summary>Writes the header and every row of <paramref name="segments"/>.</summary>
    public static async Task WriteAsync(PipeWriter output, ExportPlan plan, IAsyncEnumerable<SampleSegment> segments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(segments);
        var header = new StringBuilder("time");
        foreach (var c in plan.Channels)
        {
            header.Append(',').Append(Quote(plan.ColumnTitle(c)));
        }
        header.Append('\n');
        output.Write(Encoding.UTF8.GetBytes(header.ToString()));
        var rowBytes = MaxRowBytes + (plan.Channels.Count * 17);
        var clock = new TimeFormatter(plan);
        await foreach (var segment in segments.WithCancellation(cancellationToken))
        {
            var row = 0;
            while (row < segment.Count)
            {
                row = WriteRows(output, segment, row, rowBytes, plan.Measurement.SampleRate, clock);
                var flushed = await output.FlushAsync(cancellationToken);
                if (flushed.IsCanceled || flushed.IsCompleted)
                {
                    return;
                }
            }
        }
        await output.FlushAsync(cancellationToken);
    }

    // Writes rows from `row` until about FlushBytes are pending; returns the next row.
    private static int WriteRows(PipeWriter output, SampleSegment segment, int row, int rowBytes, double sampleRate, TimeFormatter clock)
    {
        var written = 0;
        var channels = segment.Channels.Count;
        var values = segment.Values;
        var count = segment.Count;
        for (; row < count && written < FlushBytes; row++)
        {
            var span = output.GetSpan(rowBytes);
            var n = clock.Format(span, segment.TimeOfSampleNs(row, sampleRate));
            for (var k = 0; k < channels; k++)
            {
                span[n++] = (byte)',';
                values[(k * count) + row].TryFormat(span[n..], out var w, default, CultureInfo.InvariantCulture);
                n += w;
            }
            span[n++] = (byte)'\n';
            output.Advance(n);
            written += n;
        }
        return row;
    }

    private static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\n\r") < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>Formats sample times; keeps the formatted date and second so only the fraction is new per row.</summary>
    private sealed class TimeFormatter(ExportPlan plan)
    {
        private readonly byte[] _second = new byte[32];
        private long _cachedSecond = long.MinValue;
        private int _secondLength;

        public int Format(Span<byte> span, long ns)
        {
            if (plan.Time == ExportTimeStyle.Seconds)
            {
                var offset = ns - plan.StartNs;
                var n = 0;
                if (offset < 0)
                {
                    span[n++] = (byte)'-';
                    offset = -offset;
                }
                Utf8Formatter.TryFormat(offset / 1_000_000_000, span[n..], out var w);
                n += w;
                span[n++] = (byte)'.';
                return n + Fraction(span[n..], offset % 1_000_000_000);
            }
            var second = Math.DivRem(ns, 1_000_000_000, out var fraction);
            if (fraction < 0)
            {
                second--;
                fraction += 1_000_000_000;
            }
            if (second != _cachedSecond)
            {
                var utc = DateTime.UnixEpoch.AddSeconds(second);
                utc.TryFormat(_second, out _secondLength, "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'", CultureInfo.InvariantCulture);
                _cachedSecond = second;
            }
            _second.AsSpan(0, _secondLength).CopyTo(span);
            var length = _secondLength + Fraction(span[_secondLength..], fraction);
            span[length] = (byte)'Z';
            return length + 1;
        }

        // Nine digits, zero-padded: nanoseconds exactly as stored.
        private static int Fraction(Span<byte> span, long fraction)
        {
            for (var i = 8; i >= 0; i--)
            {
                span[i] = (byte)('0' + (fraction % 10));
                fraction /= 10;
            }
            return 9;
        }
    }
}
