using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using MeasureApp.Acquisition.Storage;

namespace MeasureApp.Export;

/// <summary>
/// Writes an export as CSV straight into the response pipe: UTF-8, invariant culture, one row per
/// sample. Rows are formatted into pipe memory (floats by <see cref="ShortestFloat"/>, the shortest
/// text that reads back as the same float), so no string is made per value and memory stays at one
/// stored chunk plus the pipe's flush window.
/// </summary>
public static class CsvExportWriter
{
    // A row's time column and newline never exceed this (ISO: 30 bytes; seconds: ≤ 31); each channel adds a comma and a float.
    private const int MaxRowBytes = 48;
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
        var rowBytes = MaxRowBytes + (plan.Channels.Count * (ShortestFloat.MaxBytes + 1));
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

    // Writes rows from `row` until about FlushBytes are pending; returns the next row. Rows go into
    // one span of pipe memory, advanced once, rather than a span per row.
    private static int WriteRows(PipeWriter output, SampleSegment segment, int row, int rowBytes, double sampleRate, TimeFormatter clock)
    {
        var channels = segment.Channels.Count;
        var values = segment.Values;
        var count = segment.Count;
        var span = output.GetSpan(FlushBytes + rowBytes);
        var limit = span.Length - rowBytes;
        var n = 0;
        for (; row < count && n <= limit; row++)
        {
            n += clock.Format(span[n..], segment.TimeOfSampleNs(row, sampleRate));
            for (var k = 0; k < channels; k++)
            {
                span[n++] = (byte)',';
                n += ShortestFloat.Format(values[(k * count) + row], span[n..]);
            }
            span[n++] = (byte)'\n';
        }
        output.Advance(n);
        return row;
    }

    private static string Quote(string field) =>
        field.AsSpan().IndexOfAny(",\"\n\r") < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>
    /// Formats sample times. The part up to the second (ISO date and time, or whole seconds from the
    /// start) changes once per second of data, so it is formatted then and copied otherwise; only the
    /// nine-digit fraction is new per row.
    /// </summary>
    private sealed class TimeFormatter(ExportPlan plan)
    {
        private readonly byte[] _second = new byte[40];
        private long _cachedSecond = long.MinValue;
        private bool _cachedNegative;
        private int _secondLength;

        public int Format(Span<byte> span, long ns)
        {
            long second, fraction;
            var negative = false;
            if (plan.Time == ExportTimeStyle.Seconds)
            {
                var offset = ns - plan.StartNs;
                negative = offset < 0;
                second = Math.DivRem(Math.Abs(offset), 1_000_000_000, out fraction);
            }
            else
            {
                second = Math.DivRem(ns, 1_000_000_000, out fraction);
                if (fraction < 0)
                {
                    second--;
                    fraction += 1_000_000_000;
                }
            }
            if (second != _cachedSecond || negative != _cachedNegative)
            {
                FormatSecond(second, negative);
            }
            _second.AsSpan(0, _secondLength).CopyTo(span);
            var n = _secondLength + Fraction(span[_secondLength..], (int)fraction);
            if (plan.Time == ExportTimeStyle.Iso)
            {
                span[n++] = (byte)'Z';
            }
            return n;
        }

        private void FormatSecond(long second, bool negative)
        {
            var n = 0;
            if (plan.Time == ExportTimeStyle.Seconds)
            {
                if (negative)
                {
                    _second[n++] = (byte)'-';
                }
                Utf8Formatter.TryFormat(second, _second.AsSpan(n), out var w);
                n += w;
                _second[n++] = (byte)'.';
            }
            else
            {
                var utc = DateTime.UnixEpoch.AddSeconds(second);
                utc.TryFormat(_second, out n, "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'", CultureInfo.InvariantCulture);
            }
            _secondLength = n;
            _cachedSecond = second;
            _cachedNegative = negative;
        }

        // Nine digits, zero-padded: nanoseconds exactly as stored.
        private static int Fraction(Span<byte> span, int fraction)
        {
            var pairs = ShortestFloat.DigitPairs;
            var high = fraction / 100_000_000;
            var rest = fraction - (high * 100_000_000);
            span[0] = (byte)('0' + high);
            for (var at = 7; at >= 1; at -= 2)
            {
                var pair = (rest % 100) * 2;
                rest /= 100;
                span[at] = pairs[pair];
                span[at + 1] = pairs[pair + 1];
            }
            return 9;
        }
    }
}
