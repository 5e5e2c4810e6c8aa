using System.Globalization;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Data;
using MeasureApp.History;
using MeasureApp.Identity;
using MeasureApp.Limits;
using MeasureApp.Relay;
using MeasureApp.Storage;
using MeasureApp.Tags;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Api;

/// <summary>
/// The measurements REST API under cookie authentication:
/// <c>GET /api/measurements</c> (own; admins everyone's, <c>?owner=</c>), <c>GET /api/measurements/{id}</c>,
/// <c>POST /api/measurements</c>, <c>POST /api/measurements/{id}/stop</c>, <c>DELETE /api/measurements/{id}</c>.
/// Ownership is decided by <see cref="MeasurementCatalog"/> and <see cref="MeasurementEngine"/>: another
/// user's id answers exactly like an unknown one (404).
/// </summary>
/// <remarks>
/// CSRF: these endpoints read no form and take no antiforgery token. Every POST must carry
/// <c>Content-Type: application/json</c> (else 415), which a cross-site page can only send after a CORS
/// preflight that this app never grants; DELETE is preflighted anyway. The auth cookie is also
/// SameSite=Lax, so cross-site POSTs arrive without it.
/// </remarks>
public static class MeasurementEndpoints
{
    /// <summary>Maps the endpoints.</summary>
    public static IEndpointRouteBuilder MapMeasurementEndpoints(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var group = app.MapGroup("/api/measurements").RequireAuthorization().AddEndpointFilter(RequireJsonOnPost);
        group.MapGet("", ListAsync);
        group.MapGet("/{id:guid}", GetAsync);
        group.MapPost("", StartAsync);
        group.MapPost("/{id:guid}/stop", StopAsync);
        group.MapDelete("/{id:guid}", DeleteAsync);
        return app;
    }

    /// <summary>Endpoint filter: a POST without <c>Content-Type: application/json</c> gets 415 (see the CSRF remark above).</summary>
    internal static async ValueTask<object?> RequireJsonOnPost(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var request = context.HttpContext.Request;
        if (HttpMethods.IsPost(request.Method) && !request.HasJsonContentType())
        {
            return TypedResults.Problem(title: "Unsupported content type",
                detail: "Send Content-Type: application/json (also for a POST without a body).",
                statusCode: StatusCodes.Status415UnsupportedMediaType);
        }
        return await next(context);
    }

    private static async Task<Results<Ok<MeasurementListResource>, ProblemHttpResult>> ListAsync(
        HttpContext http, MeasurementCatalog catalog, MeasurementEngine engine,
        int? page, int? pageSize, string? sort, bool? descending, string? search, string? owner,
        string? tag, string? device, string? state, DateTimeOffset? from, DateTimeOffset? to)
    {
        var me = Me(http);
        if (pageSize is < 1 or > 200 || page is < 0)
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad query", "page must be 0 or more and pageSize between 1 and 200.");
        }
        MeasurementState? stateFilter = null;
        if (!string.IsNullOrEmpty(state))
        {
            if (!Enum.TryParse<MeasurementState>(state, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed) || int.TryParse(state, out _))
            {
                return Problem(StatusCodes.Status400BadRequest, "Bad query", $"state must be one of {string.Join(", ", Enum.GetNames<MeasurementState>())}.");
            }
            stateFilter = parsed;
        }
        if (search is { Length: > 200 } || tag is { Length: > 200 } || device is { Length: > 200 })
        {
            return Problem(StatusCodes.Status400BadRequest, "Bad query", "search, tag and device may have at most 200 characters.");
        }
        MeasurementPage result;
        try
        {
            result = await catalog.ListAsync(me, new MeasurementQuery
            {
                Page = page ?? 0,
                PageSize = pageSize ?? 25,
                SortBy = sort,
                Descending = descending ?? true,
                Search = search,
                OwnerId = owner,
                Tag = tag,
                Device = device,
                State = stateFilter,
                StartedFrom = from,
                StartedBefore = to,
            }, http.RequestAborted);
        }
        catch (Exception ex) when (DatabaseOutage.IsOutage(ex))
        {
            // The database is away: what runs here is still known (from memory), the rest is not.
            http.Response.Headers.Warning = $"199 - \"{DatabaseOutage.Message} Only running measurements are listed.\"";
            var running = engine.GetRunning(me);
            return TypedResults.Ok(new MeasurementListResource([.. running.Select(MeasurementResource.From)], running.Count));
        }
        var labels = await http.RequestServices.GetRequiredService<MeasurementLabelService>().LoadAsync([.. result.Items.Select(r => r.Id)], http.RequestAborted);
        return TypedResults.Ok(new MeasurementListResource([.. result.Items.Select(r => WithLabels(MeasurementResource.From(r, engine.Find(r.Id, me)), labels))], result.Total));
    }

    private static async Task<Results<Ok<MeasurementResource>, ProblemHttpResult>> GetAsync(
        Guid id, HttpContext http, MeasurementCatalog catalog, MeasurementEngine engine)
    {
        var me = Me(http);
        MeasurementRecord? record;
        try
        {
            // Read access: a user the owner shared it with sees it too (read-only).
            record = await catalog.FindReadableAsync(me, id, http.RequestAborted);
        }
        catch (Exception ex) when (DatabaseOutage.IsOutage(ex) && engine.Find(id, me) is { } live)
        {
            return TypedResults.Ok(MeasurementResource.From(live));
        }
        if (record is null)
        {
            return NotFound();
        }
        var labels = await http.RequestServices.GetRequiredService<MeasurementLabelService>().LoadAsync([id], http.RequestAborted);
        return TypedResults.Ok(WithLabels(MeasurementResource.From(record, engine.Find(id, me)), labels));
    }

    private static MeasurementResource WithLabels(MeasurementResource resource, Dictionary<Guid, MeasurementLabels> labels)
    {
        var found = labels.GetValueOrDefault(resource.Id, MeasurementLabels.Empty);
        return resource with { Tags = found.Tags, Metadata = found.Metadata };
    }

    private static async Task<Results<Created<MeasurementResource>, ValidationProblem, ProblemHttpResult>> StartAsync(
        HttpContext http, MeasurementEngine engine, LimitsService limits)
    {
        var me = Me(http);
        var (body, refused) = await JsonBody.ReadAsync<StartMeasurementBody>(http);
        if (refused is not null)
        {
            return refused;
        }
        var errors = Validate(body, engine);
        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }
        var request = new StartRequest
        {
            DeviceId = body!.Device!,
            Name = body.Name!,
            Channels = body.Channels!.Value,
            SampleRate = body.SampleRate!.Value,
            Duration = body.DurationSeconds is { } s ? TimeSpan.FromSeconds(s) : null,
        };
        var userLimits = await limits.GetAsync(me.UserId, http.RequestAborted);
        var result = await engine.StartAsync(me, userLimits, request, http.RequestAborted);
        await MeasureApp.Audit.AuditLog.StartedAsync(http.RequestServices.GetService<MeasureApp.Audit.AuditLog>(), me, result.Measurement);
        if (result.Error == MeasurementEngine.DatabaseUnavailable)
        {
            return Problem(StatusCodes.Status503ServiceUnavailable, "The database is unavailable", result.Error);
        }
        // The engine refuses with a sentence that states the numbers ("You are running 4 of 4 allowed
        // measurements."); the request itself was well-formed, so it is a conflict with the user's limits.
        return result.Measurement is { } started
            ? TypedResults.Created($"/api/measurements/{started.Id}", MeasurementResource.From(started))
            : Problem(StatusCodes.Status409Conflict, "Measurement not started", result.Error ?? "Refused.");
    }

    // Stops the measurement wherever it runs: here, or (with Redis) on the instance running it.
    private static async Task<Results<Ok<MeasurementResource>, ProblemHttpResult>> StopAsync(
        Guid id, HttpContext http, MeasurementCatalog catalog, MeasurementEngine engine)
    {
        var me = Me(http);
        var ct = http.RequestAborted;
        if (await ReadOnlyAsync(catalog, me, id, ct))
        {
            return ReadOnly("Only the owner or an admin stops a measurement.");
        }
        var live = engine.Find(id, me);
        var outcome = await engine.StopAnywhereAsync(http.RequestServices.GetService<LiveRelayClient>(), id, me, ct, http.RequestServices.GetService<MeasureApp.Audit.AuditLog>());
        MeasurementRecord? record;
        try
        {
            record = await catalog.FindAsync(me, id, ct);
        }
        catch (Exception ex) when (DatabaseOutage.IsOutage(ex) && outcome == StopOutcome.Stopped && live is not null)
        {
            // Stopped here; its final save waits in the spool until the database is back.
            return TypedResults.Ok(MeasurementResource.From(live with { State = MeasurementState.Stopped, StopReason = live.OwnerId == me.UserId ? StopReason.User : StopReason.Admin }));
        }
        if (record is null)
        {
            return NotFound();
        }
        return outcome switch
        {
            StopOutcome.Stopped => TypedResults.Ok(MeasurementResource.From(record, null)),
            StopOutcome.NoAnswer => Problem(StatusCodes.Status503ServiceUnavailable, "Instance did not answer", MeasurementStopping.Describe(outcome)),
            _ when record.State == MeasurementState.Stopped => Problem(StatusCodes.Status409Conflict, "Not running", "The measurement has already stopped."),
            _ => Problem(StatusCodes.Status409Conflict, "Running elsewhere", "The measurement runs on another instance; stop it there."),
        };
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        Guid id, HttpContext http, MeasurementCatalog catalog, MeasurementEngine engine, ISampleStore store, IDbContextFactory<AppDbContext> contexts, MeasureApp.Export.ExportsInProgress exports)
    {
        var me = Me(http);
        var outcome = await MeasurementDeletion.DeleteAsync(me, id, catalog, engine, store, contexts, exports, http.RequestAborted);
        return outcome switch
        {
            DeletionOutcome.Deleted => TypedResults.NoContent(),
            DeletionOutcome.NotFound => NotFound(),
            DeletionOutcome.NotOwner => ReadOnly("Only the owner deletes a measurement."),
            DeletionOutcome.Exporting => Problem(StatusCodes.Status409Conflict, "Being exported", "An export of this measurement is being written; delete it when the download has finished."),
            _ => Problem(StatusCodes.Status409Conflict, "Still running", "Stop the measurement before deleting it."),
        };
    }

    private static Dictionary<string, string[]> Validate(StartMeasurementBody? body, MeasurementEngine engine)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (body is null)
        {
            errors["body"] = ["A JSON object with device, channels, sampleRate and name is required."];
            return errors;
        }
        var inv = CultureInfo.InvariantCulture;
        if (string.IsNullOrWhiteSpace(body.Device))
        {
            errors["device"] = ["The device is required."];
        }
        else if (!engine.Devices.Any(d => string.Equals(d.Id, body.Device, StringComparison.Ordinal)))
        {
            errors["device"] = [$"Unknown device '{body.Device}'. Known: {string.Join(", ", engine.Devices.Select(d => d.Id))}."];
        }
        TimeSpan? duration = null;
        if (body.DurationSeconds is { } seconds)
        {
            if (!double.IsFinite(seconds) || seconds <= 0 || seconds > StartRules.MaxDuration.TotalSeconds)
            {
                errors["durationSeconds"] = [string.Create(inv, $"The duration must be a number of seconds more than 0 and at most {StartRules.MaxDuration.TotalSeconds:#,0} (got {seconds}).")];
            }
            else
            {
                duration = TimeSpan.FromSeconds(seconds);
            }
        }
        // The engine's bounds here (400); the user's own limits are the engine's to refuse (409).
        foreach (var problem in StartRules.Check(body.Name, body.Channels, body.SampleRate, duration, limits: null))
        {
            errors[problem.Field switch
            {
                StartField.Name => "name",
                StartField.Channels => "channels",
                StartField.SampleRate => "sampleRate",
                _ => "durationSeconds",
            }] = [problem.Message];
        }
        return errors;
    }

    // RequireAuthorization has run: an anonymous caller got 401 before reaching a handler.
    internal static Requester Me(HttpContext http) =>
        CurrentUser.FromPrincipal(http.User) ?? throw new InvalidOperationException("The endpoint requires an authenticated user.");

    /// <summary>
    /// Whether the requester reads this measurement through a share only: a write then answers 403 (it is
    /// visible to them), where an unrelated user's guess answers 404 like an unknown id.
    /// </summary>
    internal static async Task<bool> ReadOnlyAsync(MeasurementCatalog catalog, Requester me, Guid id, CancellationToken ct)
    {
        try
        {
            return (await catalog.FindWritableAsync(me, id, ct)).Verdict == WriteVerdict.ReadOnly;
        }
        catch (Exception ex) when (DatabaseOutage.IsOutage(ex))
        {
            // Without the database no share is known; the engine's owner/admin rule still decides.
            return false;
        }
    }

    /// <summary>403 for a write on a measurement the caller may only read (shared with them, or an admin deleting another's).</summary>
    internal static ProblemHttpResult ReadOnly(string detail) => Problem(StatusCodes.Status403Forbidden, "Read-only", detail);

    private static ProblemHttpResult NotFound() =>
        Problem(StatusCodes.Status404NotFound, "Measurement not found", "No measurement with this id.");

    private static ProblemHttpResult Problem(int status, string title, string detail) =>
        TypedResults.Problem(title: title, detail: detail, statusCode: status);
}
