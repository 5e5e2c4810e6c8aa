using MeasureApp.Data;
using MeasureApp.Identity;

namespace MeasureApp.Devices;

/// <summary>
/// <c>GET /api/devices</c> (logged in: the devices one may start a measurement on, id/name/driver) and
/// <c>GET /api/admin/devices</c> (admins: full settings with health). Editing is on the Devices page.
/// </summary>
public static class DeviceEndpoints
{
    /// <summary>A device as an operator sees it.</summary>
    public sealed record DeviceResource(string Id, string? Name, string Driver);

    /// <summary>A device as an admin sees it.</summary>
    public sealed record AdminDeviceResource(string Id, string? Name, string Driver, MeasureApp.Acquisition.Devices.DeviceOptions Settings, int Running, DateTimeOffset? LastData, int ErrorCount, bool? Connected, string? Identity);

    /// <summary>Maps the endpoints.</summary>
    public static IEndpointRouteBuilder MapDeviceEndpoints(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/api/devices", async (DeviceCatalog catalog, CancellationToken ct) =>
        {
            await catalog.RefreshAsync(ct);
            return TypedResults.Ok(catalog.Devices.Select(d => new DeviceResource(d.Id, d.Name, d.Driver)).ToList());
        }).RequireAuthorization();
        app.MapGet("/api/admin/devices", async (HttpContext http, DeviceAdminService admin, CancellationToken ct) =>
        {
            var me = CurrentUser.FromPrincipal(http.User) ?? throw new UnauthorizedAccessException();
            var rows = await admin.ListAsync(me, ct);
            return TypedResults.Ok(rows.Select(r => new AdminDeviceResource(r.Device.Id, r.Device.Name, r.Device.Driver, r.Device, r.Running.Count, r.LastData, r.ErrorCount, r.LastProbe?.Ok, r.LastProbe?.Identity)).ToList());
        }).RequireAuthorization(Roles.Admin);
        return app;
    }
}
