using System.Globalization;
using MeasureApp.Data;

namespace MeasureApp.Audit;

/// <summary>
/// <c>GET /api/admin/audit?user=&amp;action=&amp;measurement=&amp;from=&amp;to=&amp;page=&amp;pageSize=</c>: the audit trail,
/// newest first, for admins (others get what every admin API answers them: 403, anonymous 401).
/// <c>from</c>/<c>to</c> are ISO-8601 times (UTC unless an offset is given), <c>user</c> a user id that acted or was acted on.
/// </summary>
public static class AuditEndpoints
{
    /// <summary>One entry as the API shows it.</summary>
    public sealed record AuditEntry(long Id, DateTimeOffset At, string ActorId, string ActorName, string Action, Guid? MeasurementId,
        string? MeasurementName, string? TargetUserId, string? TargetUserName, string? Detail);

    /// <summary>A page of entries.</summary>
    public sealed record AuditEntries(IReadOnlyList<AuditEntry> Items, int Total);

    /// <summary>Maps the endpoint.</summary>
    public static IEndpointRouteBuilder MapAuditEndpoints(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/api/admin/audit", QueryAsync).RequireAuthorization(Roles.Admin);
        return app;
    }

    private static async Task<IResult> QueryAsync(HttpContext http, AuditLog audit, string? user, string? action, string? measurement, string? from, string? to, int? page, int? pageSize)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (action is { Length: > 0 } && !AuditActions.All.Contains(action))
        {
            errors["action"] = [$"Unknown action '{action}'. Known: {string.Join(", ", AuditActions.All)}."];
        }
        Guid? measurementId = null;
        if (measurement is { Length: > 0 })
        {
            if (Guid.TryParse(measurement, out var m))
            {
                measurementId = m;
            }
            else
            {
                errors["measurement"] = ["measurement must be a measurement id (GUID)."];
            }
        }
        var fromTime = ParseTime(from, "from", errors);
        var toTime = ParseTime(to, "to", errors);
        if (pageSize is < 1 or > 200)
        {
            errors["pageSize"] = ["pageSize must be between 1 and 200."];
        }
        if (page is < 0)
        {
            errors["page"] = ["page must be 0 or more."];
        }
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }
        var result = await audit.QueryAsync(new AuditQuery
        {
            UserId = string.IsNullOrEmpty(user) ? null : user,
            Action = string.IsNullOrEmpty(action) ? null : action,
            MeasurementId = measurementId,
            From = fromTime,
            To = toTime,
            Page = page ?? 0,
            PageSize = pageSize ?? 50,
        }, http.RequestAborted);
        return TypedResults.Ok(new AuditEntries([.. result.Items.Select(a => new AuditEntry(a.Id, a.At, a.ActorId, a.ActorName, a.Action, a.MeasurementId,
            a.MeasurementName, a.TargetUserId, a.TargetUserName, a.Detail))], result.Total));
    }

    private static DateTimeOffset? ParseTime(string? value, string field, Dictionary<string, string[]> errors)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
        {
            return t;
        }
        errors[field] = [$"{field} must be an ISO-8601 time, e.g. 2026-12-03T20:00:00Z."];
        return null;
    }
}
