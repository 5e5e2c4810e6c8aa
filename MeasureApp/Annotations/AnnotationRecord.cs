namespace MeasureApp.Annotations;

/// <summary>
/// A note on a measurement: a point (<see cref="ToSeconds"/> null) or a range in seconds since the
/// measurement's first sample (the export's time base), with a title, optional text and tags.
/// </summary>
public sealed class AnnotationRecord
{
    public Guid Id { get; set; }
    public Guid MeasurementId { get; set; }
    public required string AuthorId { get; set; }
    public required string AuthorName { get; set; }
    public required string Title { get; set; }
    public string? Text { get; set; }
    public double FromSeconds { get; set; }
    public double? ToSeconds { get; set; }
    /// <summary>Tags as a JSON array of strings.</summary>
    public string TagsJson { get; set; } = "[]";
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}
