using MeasureApp.Api;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MeasureApp.Annotations;

/// <summary>
/// <c>GET/POST /api/measurements/{id}/annotations</c> and <c>PUT/DELETE /api/measurements/{id}/annotations/{annotationId}</c>.
/// Body: JSON <c>{"title","text","from","to","tags"}</c>, times in seconds since the first sample (the export's
/// time base), <c>to</c> omitted for a point. A measurement the caller may not see answers exactly like an unknown
/// one (404); a visible annotation that is not the caller's to change answers 403; a refused field 400 naming it.
/// POST and PUT need <c>Content-Type: application/json</c> (415 otherwise: no form can forge them).
/// </summary>
public static class AnnotationEndpoints
{
    /// <summary>Maps the endpoints.</summary>
    public static IEndpointRouteBuilder MapAnnotationEndpoints(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/api/measurements/{id:guid}/annotations").RequireAuthorization().AddEndpointFilter(RequireJsonBody);
        group.MapGet("", ListAsync);
        group.MapPost("", CreateAsync);
        group.MapPut("/{annotationId:guid}", UpdateAsync);
        group.MapDelete("/{annotationId:guid}", DeleteAsync);
        return app;
    }

    /// <summary>Endpoint filter: a POST or PUT without <c>Content-Type: application/json</c> gets 415.</summary>
    internal static async ValueTask<object?> RequireJsonBody(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        if (HttpMethods.IsPut(request.Method) && !request.HasJsonContentType())
        {
            return TypedResults.Problem(title: "Unsupported content type", detail: "Send Content-Type: application/json.",
                statusCode: StatusCodes.Status415UnsupportedMediaType);
        }
        return await MeasurementEndpoints.RequireJsonOnPost(context, next);
    }

    private static async Task<Results<Ok<IReadOnlyList<AnnotationInfo>>, ProblemHttpResult>> ListAsync(Guid id, HttpContext http, AnnotationService annotations) =>
        await annotations.ListAsync(MeasurementEndpoints.Me(http), id, http.RequestAborted) is { } list
            ? TypedResults.Ok(list)
            : NotFound();

    private static async Task<IResult> CreateAsync(Guid id, HttpContext http, AnnotationService annotations)
    {
        var (input, refused) = await ReadAsync(http);
        if (refused is not null)
        {
            return refused;
        }
        var result = await annotations.CreateAsync(MeasurementEndpoints.Me(http), id, input!, http.RequestAborted);
        return result.Outcome == AnnotationOutcome.Ok
            ? TypedResults.Created($"/api/measurements/{id}/annotations/{result.Annotation!.Id}", result.Annotation)
            : Answer(result);
    }

    private static async Task<IResult> UpdateAsync(Guid id, Guid annotationId, HttpContext http, AnnotationService annotations)
    {
        var (input, refused) = await ReadAsync(http);
        if (refused is not null)
        {
            return refused;
        }
        return Answer(await annotations.UpdateAsync(MeasurementEndpoints.Me(http), id, annotationId, input!, http.RequestAborted));
    }

    private static async Task<IResult> DeleteAsync(Guid id, Guid annotationId, HttpContext http, AnnotationService annotations)
    {
        var result = await annotations.DeleteAsync(MeasurementEndpoints.Me(http), id, annotationId, http.RequestAborted);
        return result.Outcome == AnnotationOutcome.Ok ? TypedResults.NoContent() : Answer(result);
    }

    private static IResult Answer(AnnotationResult result) => result.Outcome switch
    {
        AnnotationOutcome.Ok => TypedResults.Ok(result.Annotation),
        AnnotationOutcome.Invalid => TypedResults.ValidationProblem(result.Errors!),
        AnnotationOutcome.Forbidden => TypedResults.Problem(title: "Not yours to change",
            detail: "Only its author changes an annotation; its author, the measurement's owner or an admin deletes it.",
            statusCode: StatusCodes.Status403Forbidden),
        _ => NotFound(),
    };

    // The same answer for an unknown measurement, another user's measurement and an unknown annotation.
    private static ProblemHttpResult NotFound() =>
        TypedResults.Problem(title: "Not found", detail: "No such measurement or annotation.", statusCode: StatusCodes.Status404NotFound);

    private static Task<(AnnotationInput? Body, ValidationProblem? Refused)> ReadAsync(HttpContext http) =>
        MeasureApp.Api.JsonBody.ReadAsync<AnnotationInput>(http, "A JSON object {\"title\", \"from\", \"to\", \"text\", \"tags\"} is required.");
}
