using System.Text.Json;
using MeasureApp.Api;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MeasureApp.Tags;

/// <summary>
/// <c>GET/PUT /api/measurements/{id}/tags</c> (JSON array of strings) and <c>GET/PUT /api/measurements/{id}/metadata</c>
/// (JSON object of string values). A PUT replaces the whole set (<c>[]</c> / <c>{}</c> clear it) and answers the stored
/// labels. A measurement the caller may not see answers exactly like an unknown one (404); a visible one that is not
/// the caller's to change (shared read-only) answers 403; refused input 400 with the reason. PUT needs
/// <c>Content-Type: application/json</c> (415 otherwise).
/// </summary>
public static class LabelEndpoints
{
    /// <summary>Maps the endpoints.</summary>
    public static IEndpointRouteBuilder MapLabelEndpoints(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/api/measurements/{id:guid}").RequireAuthorization().AddEndpointFilter(MeasureApp.Annotations.AnnotationEndpoints.RequireJsonBody);
        group.MapGet("/tags", GetTagsAsync);
        group.MapPut("/tags", PutTagsAsync);
        group.MapGet("/metadata", GetMetadataAsync);
        group.MapPut("/metadata", PutMetadataAsync);
        return app;
    }

    private static async Task<IResult> GetTagsAsync(Guid id, HttpContext http, MeasurementLabelService labels) =>
        await labels.GetAsync(MeasurementEndpoints.Me(http), id, http.RequestAborted) is { } found ? TypedResults.Ok(found.Tags) : NotFound();

    private static async Task<IResult> GetMetadataAsync(Guid id, HttpContext http, MeasurementLabelService labels) =>
        await labels.GetAsync(MeasurementEndpoints.Me(http), id, http.RequestAborted) is { } found ? TypedResults.Ok(found.Metadata) : NotFound();

    private static async Task<IResult> PutTagsAsync(Guid id, HttpContext http, MeasurementLabelService labels)
    {
        var (tags, refused) = await ReadAsync<List<string?>>(http, "a JSON array of strings");
        return refused ?? Answer(await labels.SetTagsAsync(MeasurementEndpoints.Me(http), id, tags, http.RequestAborted), r => r.Tags);
    }

    private static async Task<IResult> PutMetadataAsync(Guid id, HttpContext http, MeasurementLabelService labels)
    {
        var (metadata, refused) = await ReadAsync<Dictionary<string, string?>>(http, "a JSON object of string values");
        return refused ?? Answer(await labels.SetMetadataAsync(MeasurementEndpoints.Me(http), id, metadata, http.RequestAborted), r => r.Metadata);
    }

    private static IResult Answer<T>(LabelResult result, Func<MeasurementLabels, T> body) => result.Outcome switch
    {
        LabelOutcome.Ok => TypedResults.Ok(body(result.Labels!)),
        LabelOutcome.Invalid => BadRequest(result.Error!),
        LabelOutcome.Forbidden => MeasurementEndpoints.ReadOnly("Only the measurement's owner or an admin changes its tags and metadata."),
        _ => NotFound(),
    };

    // The same answer for an unknown measurement and another user's.
    private static ProblemHttpResult NotFound() =>
        TypedResults.Problem(title: "Measurement not found", detail: "No measurement with this id.", statusCode: StatusCodes.Status404NotFound);

    private static ProblemHttpResult BadRequest(string detail) =>
        TypedResults.Problem(title: "Refused input", detail: detail, statusCode: StatusCodes.Status400BadRequest);

    private static async Task<(T? Value, IResult? Refused)> ReadAsync<T>(HttpContext http, string expected) where T : class
    {
        try
        {
            return (await http.Request.ReadFromJsonAsync<T>(http.RequestAborted), null);
        }
        catch (JsonException ex)
        {
            return (null, BadRequest($"The body must be {expected}: {ex.Message}"));
        }
    }
}
