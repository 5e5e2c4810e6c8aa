using System.Globalization;

namespace MeasureApp.Export;

/// <summary>
/// What a user asks to export, before it is checked against the stored data (that is
/// <see cref="ExportEndpoints.PlanAsync"/>'s work). The download endpoint reads it from its query string
/// (<see cref="TryParse"/>); the export dialog builds it directly and the prepared-export service takes
/// it as it is. <see cref="ToQuery"/> writes the same request in the endpoint's syntax.
/// </summary>
public sealed record ExportRequest
{
    /// <summary>File format.</summary>
    public ExportFormat Format { get; init; }

    /// <summary>How the CSV time column is written.</summary>
    public ExportTimeStyle Time { get; init; }

    /// <summary>Unit of the Parquet time column (Parquet only).</summary>
    public ExportTimeUnit TimeUnit { get; init; }

    /// <summary>Page compression (Parquet only).</summary>
    public ExportCompression Compression { get; init; }

    /// <summary>Channel numbers in column order; null or empty for all channels.</summary>
    public IReadOnlyList<int>? Channels { get; init; }

    /// <summary>Start of the range in seconds from the first sample; null for the start.</summary>
    public double? From { get; init; }

    /// <summary>End of the range in seconds from the first sample; null for the end.</summary>
    public double? To { get; init; }

    private static readonly (string Name, ExportFormat Value)[] Formats = [("csv", ExportFormat.Csv), ("parquet", ExportFormat.Parquet)];
    private static readonly (string Name, ExportTimeStyle Value)[] TimeStyles = [("iso", ExportTimeStyle.Iso), ("seconds", ExportTimeStyle.Seconds)];
    private static readonly (string Name, ExportTimeUnit Value)[] TimeUnits = [("ns", ExportTimeUnit.Nanoseconds), ("us", ExportTimeUnit.Microseconds)];
    private static readonly (string Name, ExportCompression Value)[] Compressions = [("none", ExportCompression.None), ("snappy", ExportCompression.Snappy), ("zstd", ExportCompression.Zstd)];

    /// <summary>
    /// Reads <c>format=csv|parquet&amp;channels=0,2&amp;from=s&amp;to=s&amp;time=iso|seconds&amp;timeUnit=ns|us&amp;compression=none|snappy|zstd</c>;
    /// an absent value is the default. <paramref name="error"/> says what is wrong with the text.
    /// </summary>
    public static bool TryParse(IQueryCollection query, out ExportRequest request, out string? error)
    {
        ArgumentNullException.ThrowIfNull(query);
        request = new ExportRequest();
        if (!TryChoose(query["format"].ToString(), "format", Formats, out var format, out error)
            || !TryChoose(query["time"].ToString(), "time style", TimeStyles, out var time, out error)
            || !TryChoose(query["timeUnit"].ToString(), "time unit", TimeUnits, out var unit, out error)
            || !TryChoose(query["compression"].ToString(), "compression", Compressions, out var compression, out error)
            || !TryParseChannels(query["channels"].ToString(), out var channels, out error)
            || !TryParseSeconds(query["from"].ToString(), "from", out var from, out error)
            || !TryParseSeconds(query["to"].ToString(), "to", out var to, out error))
        {
            return false;
        }
        request = new ExportRequest { Format = format, Time = time, TimeUnit = unit, Compression = compression, Channels = channels, From = from, To = to };
        return true;
    }

    /// <summary>The request in the download endpoint's query syntax (defaults left out).</summary>
    public string ToQuery()
    {
        var parts = new List<string> { "format=" + Name(Formats, Format) };
        if (Channels is { Count: > 0 } channels)
        {
            parts.Add("channels=" + string.Join(',', channels.Select(c => c.ToString(CultureInfo.InvariantCulture))));
        }
        parts.Add("time=" + Name(TimeStyles, Time));
        if (Format == ExportFormat.Parquet)
        {
            parts.Add("compression=" + Name(Compressions, Compression));
            if (TimeUnit != ExportTimeUnit.Nanoseconds)
            {
                parts.Add("timeUnit=" + Name(TimeUnits, TimeUnit));
            }
        }
        if (From is { } f)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"from={f:0.#########}"));
        }
        if (To is { } t)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"to={t:0.#########}"));
        }
        return string.Join('&', parts);
    }

    private static string Name<T>((string Name, T Value)[] choices, T value) =>
        choices.First(c => EqualityComparer<T>.Default.Equals(c.Value, value)).Name;

    // One of a few named choices; empty text is the first (the default). The error lists the names.
    private static bool TryChoose<T>(string text, string what, (string Name, T Value)[] choices, out T value, out string? error)
    {
        value = choices[0].Value;
        error = null;
        if (text.Length == 0)
        {
            return true;
        }
        foreach (var (name, choice) in choices)
        {
            if (text.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                value = choice;
                return true;
            }
        }
        error = $"Unknown {what} '{text}': use {string.Join(", ", choices[..^1].Select(c => c.Name))} or {choices[^1].Name}.";
        return false;
    }

    // Numbers only; whether they exist in the measurement is checked against its data.
    private static bool TryParseChannels(string text, out IReadOnlyList<int>? channels, out string? error)
    {
        channels = null;
        error = null;
        if (text.Trim().Length == 0)
        {
            return true;
        }
        var list = new List<int>();
        foreach (var part in text.Split(','))
        {
            if (!int.TryParse(part.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var c))
            {
                error = $"Channel '{part.Trim()}' is not a channel index.";
                return false;
            }
            list.Add(c);
        }
        channels = list;
        return true;
    }

    private static bool TryParseSeconds(string text, string name, out double? value, out string? error)
    {
        value = null;
        error = null;
        if (text.Length == 0)
        {
            return true;
        }
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
        {
            error = $"{name} '{text}' is not a number of seconds.";
            return false;
        }
        value = v;
        return true;
    }
}
