using MeasureApp.Data;

namespace MeasureApp.Monitoring;

/// <summary>
/// GET /api/bench/heap (admins only, and only when <c>Bench:Diagnostics</c> is true, as the circuit load bench
/// sets it): the managed heap after a full blocking collection, so the bench can count the live memory each
/// tab holds apart from what the GC keeps in reserve (RSS). A production server never maps it.
/// </summary>
public static class BenchEndpoints
{
    /// <summary>Maps the endpoint when the configuration asks for it.</summary>
    public static IEndpointRouteBuilder MapBenchEndpoints(this IEndpointRouteBuilder endpoints, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(configuration);
        if (configuration.GetValue<bool>("Bench:Diagnostics"))
        {
            endpoints.MapGet("/api/bench/heap", () =>
            {
                var live = GC.GetTotalMemory(forceFullCollection: true);
                var info = GC.GetGCMemoryInfo();
                return TypedResults.Ok(new HeapReading(live, info.HeapSizeBytes, info.TotalCommittedBytes, Environment.WorkingSet));
            }).RequireAuthorization(Roles.Admin);
        }
        return endpoints;
    }
}

/// <summary>Managed memory of the server process, bytes: live after a full collection, heap and committed as the GC reports them, the working set.</summary>
public sealed record HeapReading(long LiveBytes, long HeapBytes, long CommittedBytes, long WorkingSetBytes);
