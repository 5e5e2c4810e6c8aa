namespace MeasureApp.Tags;

/// <summary>One tag of a measurement; <see cref="Normalized"/> is the lower-case form searches and filters compare.</summary>
public sealed class MeasurementTagRecord
{
    public Guid MeasurementId { get; set; }
    public required string Tag { get; set; }
    /// <summary>Lower-cased in .NET (invariant culture), so matching is case-insensitive on both providers alike (SQLite's lower() only folds ASCII).</summary>
    public required string Normalized { get; set; }
}

/// <summary>One key/value pair of a measurement's free metadata (device under test, operator, serial number, project…).</summary>
public sealed class MeasurementMetadataRecord
{
    public Guid MeasurementId { get; set; }
    public required string Key { get; set; }
    public required string Value { get; set; }
    /// <summary>"key: value" lower-cased in .NET, the text a search matches.</summary>
    public required string Normalized { get; set; }
}
