using System.Text.Json;
using MeasureApp.Data;

namespace MeasureApp.Presence;

/// <summary>GET /api/presence (JSON) and /api/presence/stream (Server-Sent Events), admins only.</summary>
public static class PresenceEndpoints
{
    /// <summary>How often the stream sends the current counts.</summary>
    public static readonly TimeSpan StreamInterval = TimeSpan.FromSeconds(2);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IEndpointRouteBuilder MapPresenceEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/api/presence").RequireAuthorization(Roles.Admin);
        group.MapGet("", async (PresenceTracker tracker, CancellationToken ct) => TypedResults.Ok(await tracker.ReportAsync(ct)));
        group.MapGet("/stream", async (HttpContext http, PresenceTracker tracker, TimeProvider time) =>
        {
            http.Response.Headers.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-store";
            var ct = http.RequestAborted;
            using var timer = new PeriodicTimer(StreamInterval, time);
            try
            {
                do
                {
                    await http.Response.WriteAsync($"event: presence\ndata: {JsonSerializer.Serialize(tracker.Now(), Json)}\n\n", ct);
                    await http.Response.Body.FlushAsync(ct);
                }
                while (await timer.WaitForNextTickAsync(ct));
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Client went away.
            }
        });
        return endpoints;
    }
}
