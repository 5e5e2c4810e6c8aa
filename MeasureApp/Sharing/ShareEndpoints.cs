using System.Text.Json;
using MeasureApp.Api;
using MeasureApp.History;

namespace MeasureApp.Sharing;

/// <summary>
/// <c>GET/POST /api/measurements/{id}/shares</c> (JSON <c>{"email"}</c>), <c>DELETE /api/measurements/{id}/shares/{email}</c>
/// and <c>GET /api/measurements/shared</c> (what is shared with the caller). A measurement the caller may not
/// see answers exactly like an unknown one (404); one shared with the caller read-only answers 403 on these
/// (no re-sharing, no list of who else has access); a refused e-mail 400 naming the problem.
/// </summary>
public static class ShareEndpoints
{
    /// <summary>Body of a share request.</summary>
    /// <param name="Email">The e-mail of the user to share with.</param>
    public sealed record ShareBody(string? Email);

    /// <summary>One row of "shared with me".</summary>
    public sealed record SharedMeasurement(Guid Id, string Name, string OwnerName, string DeviceId, string State, DateTimeOffset StartedAt, long SampleCount);

    /// <summary>A page of "shared with me".</summary>
    public sealed record SharedPage(IReadOnlyList<SharedMeasurement> Items, int Total);

    /// <summary>Maps the endpoints.</summary>
    public static IEndpointRouteBuilder MapShareEndpoints(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/api/measurements").RequireAuthorization().AddEndpointFilter(MeasurementEndpoints.RequireJsonOnPost);
        group.MapGet("/shared", SharedWithMeAsync);
        group.MapGet("/{id:guid}/shares", ListAsync);
        group.MapPost("/{id:guid}/shares", ShareAsync);
        group.MapDelete("/{id:guid}/shares/{email}", RevokeAsync);
        return app;
    }

    private static async Task<IResult> SharedWithMeAsync(HttpContext http, MeasurementCatalog catalog, int? page, int? pageSize)
    {
        if (pageSize is < 1 or > 200 || page is < 0)
        {
            return TypedResults.Problem(title: "Bad query", detail: "page must be 0 or more and pageSize between 1 and 200.", statusCode: StatusCodes.Status400BadRequest);
        }
        var result = await catalog.ListSharedWithAsync(MeasurementEndpoints.Me(http), page ?? 0, pageSize ?? 25, http.RequestAborted);
        return TypedResults.Ok(new SharedPage([.. result.Items.Select(m => new SharedMeasurement(m.Id, m.Name, m.OwnerName, m.DeviceId, m.State.ToString(), m.StartedAt, m.SampleCount))], result.Total));
    }

    private static async Task<IResult> ListAsync(Guid id, HttpContext http, ShareService shares) =>
        Answer(await shares.ListAsync(MeasurementEndpoints.Me(http), id, http.RequestAborted), id);

    private static async Task<IResult> ShareAsync(Guid id, HttpContext http, ShareService shares)
    {
        ShareBody? body;
        try
        {
            body = await http.Request.ReadFromJsonAsync<ShareBody>(http.RequestAborted);
        }
        catch (JsonException ex)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["email"] = [$"Not valid JSON: {ex.Message}"] });
        }
        return Answer(await shares.ShareAsync(MeasurementEndpoints.Me(http), id, body?.Email, http.RequestAborted), id);
    }

    private static async Task<IResult> RevokeAsync(Guid id, string email, HttpContext http, ShareService shares) =>
        Answer(await shares.RevokeAsync(MeasurementEndpoints.Me(http), id, email, http.RequestAborted), id);

    private static IResult Answer(ShareResult result, Guid id) => result.Outcome switch
    {
        ShareOutcome.Ok when result.Share is { } created => TypedResults.Created($"/api/measurements/{id}/shares/{Uri.EscapeDataString(created.Email)}", created),
        ShareOutcome.Ok when result.Shares is { } list => TypedResults.Ok(list),
        ShareOutcome.Ok => TypedResults.NoContent(),
        ShareOutcome.Unchanged => TypedResults.Ok(result.Share),
        ShareOutcome.ReadOnly => MeasurementEndpoints.ReadOnly(result.Message!),
        ShareOutcome.Invalid => TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["email"] = [result.Message!] }),
        ShareOutcome.NotShared => TypedResults.Problem(title: "Not shared", detail: result.Message, statusCode: StatusCodes.Status404NotFound),
        // Exactly the measurements API's unknown-id answer.
        _ => TypedResults.Problem(title: "Measurement not found", detail: "No measurement with this id.", statusCode: StatusCodes.Status404NotFound),
    };
}
