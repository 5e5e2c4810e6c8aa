namespace MeasureApp.Sharing;

/// <summary>
/// A read-only grant: <see cref="UserId"/> may view, replay, zoom, annotate and export measurement
/// <see cref="MeasurementId"/>, never stop, delete, edit or share it on. Goes with its measurement and its user.
/// </summary>
public sealed class MeasurementShareRecord
{
    public Guid MeasurementId { get; set; }
    public required string UserId { get; set; }
    public DateTimeOffset GrantedAt { get; set; }
    /// <summary>Who granted it (the owner or an admin).</summary>
    public required string GrantedById { get; set; }
}
