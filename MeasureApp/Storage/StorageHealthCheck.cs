using System.Globalization;
using System.Text;
using MeasureApp.Acquisition.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MeasureApp.Storage;

/// <summary>
/// Readiness of the storage path: healthy while the database takes data; degraded ("storing to
/// spool") while data waits in the spool; down while neither the database nor the spool takes data.
/// </summary>
public sealed class StorageHealthCheck(StoreWriter writer, TimeProvider time) : IHealthCheck
{
    /// <inheritdoc />
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (writer.Fault is { } fault)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"nothing can be stored: {fault}"));
        }
        if (writer.SpoolPendingBytes > 0)
        {
            var age = writer.SpoolOldest is { } oldest ? (time.GetUtcNow() - oldest).TotalSeconds : 0;
            return Task.FromResult(HealthCheckResult.Degraded(string.Create(CultureInfo.InvariantCulture,
                $"storing to spool ({writer.SpoolPendingBytes / 1e6:0.0} MB waiting, oldest {age:0} s)")));
        }
        return Task.FromResult(HealthCheckResult.Healthy());
    }

    /// <summary>
    /// Body of <c>/health/ready</c>: "Healthy", or "degraded: …" / "down: …" with what each failing
    /// check says, so an operator tells spooling from an outage without reading logs.
    /// </summary>
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        context.Response.ContentType = "text/plain; charset=utf-8";
        if (report.Status == HealthStatus.Healthy)
        {
            return context.Response.WriteAsync("Healthy");
        }
        var text = new StringBuilder(report.Status == HealthStatus.Degraded ? "degraded: " : "down: ");
        text.AppendJoin("; ", report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy)
            .Select(e => e.Value.Description ?? $"{e.Key}: {e.Value.Exception?.GetBaseException().Message ?? e.Value.Status.ToString()}"));
        return context.Response.WriteAsync(text.ToString());
    }
}
