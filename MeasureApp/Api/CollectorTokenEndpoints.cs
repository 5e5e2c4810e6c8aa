using MeasureApp.Acquisition.Measurements;
using MeasureApp.Collectors;
using MeasureApp.Identity;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MeasureApp.Api;

/// <summary>
/// Collector tokens under cookie authentication: <c>POST /api/collector-tokens</c> (JSON <c>{name}</c>,
/// 201 with the secret, shown this once), <c>GET /api/collector-tokens</c> (own; admins everyone's),
/// <c>DELETE /api/collector-tokens/{id}</c> (revoke). Ownership is decided by <see cref="CollectorTokenStore"/>:
/// another user's id answers exactly like an unknown one (404). Same CSRF rules as the measurements API.
/// </summary>
public static class CollectorTokenEndpoints
{
    /// <summary>Maps the endpoints.</summary>
    public static IEndpointRouteBuilder MapCollectorTokenEndpoints(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/api/collector-tokens").RequireAuthorization().AddEndpointFilter(MeasurementEndpoints.RequireJsonOnPost);
        group.MapGet("", ListAsync);
        group.MapPost("", CreateAsync);
        group.MapDelete("/{id:guid}", RevokeAsync);
        // The collector port's numbers join /metrics once (the exporter's registry outlives this call).
        _ = app.ServiceProvider.GetRequiredService<CollectorMetrics>();
        return app;
    }

    private static async Task<Ok<IReadOnlyList<CollectorTokenInfo>>> ListAsync(HttpContext http, CollectorTokenStore store) =>
        TypedResults.Ok(await store.ListAsync(Me(http), http.RequestAborted));

    private static async Task<Results<Created<CreatedCollectorToken>, ValidationProblem>> CreateAsync(HttpContext http, CollectorTokenStore store)
    {
        var (body, refused) = await JsonBody.ReadAsync<CreateTokenBody>(http, "A JSON object with a name is required.");
        if (refused is not null)
        {
            return refused;
        }
        if (CollectorTokenStore.ValidName(body!.Name) is not { } name)
        {
            return JsonBody.Refuse("name", $"The name must have 1 to {CollectorTokenStore.MaxNameLength} characters and no line breaks.");
        }
        var created = await store.CreateAsync(Me(http), name, http.RequestAborted);
        return TypedResults.Created($"/api/collector-tokens/{created.Id}", created);
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeAsync(Guid id, HttpContext http, CollectorTokenStore store) =>
        await store.RevokeAsync(Me(http), id, http.RequestAborted)
            ? TypedResults.NoContent()
            : TypedResults.Problem(title: "Token not found", detail: "No active collector token with this id.", statusCode: StatusCodes.Status404NotFound);

    private static Requester Me(HttpContext http) => MeasurementEndpoints.Me(http);

    private sealed record CreateTokenBody(string? Name);
}
