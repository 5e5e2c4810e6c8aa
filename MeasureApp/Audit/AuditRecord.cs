namespace MeasureApp.Audit;

/// <summary>
/// One line of the audit trail: who did what to which measurement or user, when. Append-only: the app
/// writes rows through <see cref="AuditLog"/> and never changes or deletes them. Names are copied at the
/// time of the action, so the line still reads after a user or measurement is deleted (no foreign keys).
/// </summary>
public sealed class AuditRecord
{
    public long Id { get; set; }
    public DateTimeOffset At { get; set; }
    public required string ActorId { get; set; }
    public required string ActorName { get; set; }
    /// <summary>One of <see cref="AuditActions"/>.</summary>
    public required string Action { get; set; }
    public Guid? MeasurementId { get; set; }
    public string? MeasurementName { get; set; }
    /// <summary>The user acted on: the share's grantee, the user whose limits or role changed.</summary>
    public string? TargetUserId { get; set; }
    public string? TargetUserName { get; set; }
    /// <summary>What else matters (export format and range, new role, changed limits).</summary>
    public string? Detail { get; set; }
}

/// <summary>The actions the audit trail records.</summary>
public static class AuditActions
{
    public const string Start = "start";
    public const string Stop = "stop";
    public const string Delete = "delete";
    public const string Share = "share";
    public const string Unshare = "unshare";
    public const string Export = "export";
    public const string Limits = "limits";
    public const string Role = "role";

    /// <summary>All of them, in the order the filter lists them.</summary>
    public static IReadOnlyList<string> All { get; } = [Start, Stop, Delete, Share, Unshare, Export, Limits, Role];
}
