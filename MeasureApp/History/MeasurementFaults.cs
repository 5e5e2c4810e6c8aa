using System.Text.Json;

namespace MeasureApp.History;

/// <summary>Device fault counts by kind as stored with a measurement (<c>{"overrun":46}</c>).</summary>
public static class MeasurementFaults
{
    private static readonly IReadOnlyDictionary<string, long> None = new Dictionary<string, long>();

    /// <summary>The stored form; null when there were no faults.</summary>
    public static string? ToJson(IReadOnlyDictionary<string, long>? faults) =>
        faults is null || faults.Count == 0 ? null : JsonSerializer.Serialize(faults.OrderBy(f => f.Key, StringComparer.Ordinal).ToDictionary(f => f.Key, f => f.Value));

    /// <summary>The counts of a stored measurement; an unreadable value reads as none (a label must not break a page).</summary>
    public static IReadOnlyDictionary<string, long> Parse(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return None;
        }
        try
        {
            return JsonSerializer.Deserialize<Dictionary<string, long>>(json) ?? None;
        }
        catch (JsonException)
        {
            return None;
        }
    }
}
