using System.Globalization;
using System.Runtime.CompilerServices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;

namespace MeasureApp.Export;

/// <summary>File formats of an export.</summary>
public enum ExportFormat
{
    /// <summary>Comma-separated text.</summary>
    Csv,
    /// <summary>Apache Parquet.</summary>
    Parquet,
}

/// <summary>How the CSV time column is written.</summary>
public enum ExportTimeStyle
{
    /// <summary>ISO-8601 UTC with nanoseconds.</summary>
    Iso,
    /// <summary>Seconds from the first sample of the measurement.</summary>
    Seconds,
}

/// <summary>Unit of the Parquet <c>time</c> column.</summary>
public enum ExportTimeUnit
{
    /// <summary>TIMESTAMP(NANOS): the stored nanoseconds exactly.</summary>
    Nanoseconds,
    /// <summary>TIMESTAMP(MICROS), truncated: for readers without nanosecond time stamps (Spark without its legacy flag).</summary>
    Microseconds,
}

/// <summary>Page compression of a Parquet export.</summary>
public enum ExportCompression
{
    /// <summary>Uncompressed pages (fastest to write).</summary>
    None,
    /// <summary>Snappy: every Parquet reader has it; fast.</summary>
    Snappy,
    /// <summary>Zstandard (level 1): smaller files, still fast.</summary>
    Zstd,
}

/// <summary>A validated export: what to read and how to write it.</summary>
public sealed record ExportPlan
{
    /// <summary>The measurement (ownership already checked).</summary>
    public required MeasurementRecord Measurement { get; init; }
    /// <summary>Names and units of all channels of the measurement.</summary>
    public required IReadOnlyList<ChannelInfo> AllChannels { get; init; }
    /// <summary>Channel numbers exported, in column order.</summary>
    public required IReadOnlyList<int> Channels { get; init; }
    /// <summary>First sample index exported.</summary>
    public required long FromIndex { get; init; }
    /// <summary>Sample index after the last exported.</summary>
    public required long ToIndex { get; init; }
    /// <summary>Time of sample index 0, ns since the epoch: the zero of "seconds from start".</summary>
    public required long StartNs { get; init; }
    /// <summary>File format.</summary>
    public required ExportFormat Format { get; init; }
    /// <summary>CSV time column style.</summary>
    public required ExportTimeStyle Time { get; init; }
    /// <summary>Parquet time column unit.</summary>
    public ExportTimeUnit TimeUnit { get; init; }
    /// <summary>Parquet page compression.</summary>
    public ExportCompression Compression { get; init; }

    /// <summary>Rows in the export.</summary>
    public long Rows => ToIndex - FromIndex;

    /// <summary>
    /// Passes <paramref name="segments"/> through and fails with <see cref="ExportIncompleteException"/>
    /// when the store ends before <see cref="ToIndex"/>: the rows were deleted (or purged) while the export
    /// ran. The writer then never writes its end (no CSV tail, no Parquet footer) and the download fails
    /// visibly instead of ending as a shorter file that looks complete.
    /// </summary>
    public async IAsyncEnumerable<SampleSegment> Complete(IAsyncEnumerable<SampleSegment> segments, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(segments);
        var reached = FromIndex;
        await foreach (var segment in segments.WithCancellation(cancellationToken))
        {
            reached = segment.FirstIndex + segment.Count;
            yield return segment;
        }
        if (reached < ToIndex)
        {
            throw new ExportIncompleteException(string.Create(CultureInfo.InvariantCulture,
                $"The measurement's data disappeared while it was being exported (deleted?): {reached - FromIndex} of {Rows} rows were read."));
        }
    }

    /// <summary>Column title of an exported channel: <c>name [unit]</c>.</summary>
    public string ColumnTitle(int channel)
    {
        var info = channel < AllChannels.Count ? AllChannels[channel] : new ChannelInfo($"ch{channel + 1}", "");
        return string.IsNullOrEmpty(info.Unit) ? info.Name : $"{info.Name} [{info.Unit}]";
    }

    /// <summary>A file name made only of [A-Za-z0-9._-], never empty.</summary>
    public string FileName()
    {
        var raw = $"{Measurement.Name}-{Measurement.Id:N}".ToCharArray();
        for (var i = 0; i < raw.Length; i++)
        {
            raw[i] = char.IsAsciiLetterOrDigit(raw[i]) || raw[i] is '.' or '_' or '-' ? raw[i] : '_';
        }
        var name = new string(raw).Trim('.');
        return (name.Length == 0 ? "measurement" : name) + (Format == ExportFormat.Csv ? ".csv" : ".parquet");
    }

    /// <summary>Channel list of a stored measurement; an unreadable list yields numbered channels.</summary>
    public static IReadOnlyList<ChannelInfo> ParseChannels(MeasurementRecord measurement) => MeasurementMapping.Channels(measurement);
}

/// <summary>The stored rows ended before the export's planned end: the file would be truncated.</summary>
public sealed class ExportIncompleteException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ExportIncompleteException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public ExportIncompleteException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public ExportIncompleteException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
