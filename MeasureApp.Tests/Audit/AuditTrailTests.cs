using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Admin;
using MeasureApp.Export;
using MeasureApp.Limits;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Audit;

/// <summary>
/// The audit trail on each provider: one test per recorded action (start, stop, delete, share, unshare,
/// export, limits, role) that its entry is written with actor, measurement or user acted on; the admin API's
/// filters and paging; non-admins refused; entries outlive the user and the measurement they name.
/// </summary>
public abstract class AuditTrailTests(DatabaseProvider provider) : IDisposable
{
    private readonly AppFactory _factory = new(provider);

    [Fact]
    public async Task StartingAMeasurementIsAudited()
    {
        var op = await OperatorAsync();
        var started = await op.Client.PostAsJsonAsync("/api/measurements", new { device = "sim-1", channels = 2, sampleRate = 1000, name = "audited start" });
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var id = JsonDocument.Parse(await started.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid();
        try
        {
            var entry = await SingleEntryAsync("start", id);
            Assert.Equal(op.Email, entry.GetProperty("actorName").GetString());
            Assert.Equal("audited start", entry.GetProperty("measurementName").GetString());
            Assert.Contains("sim-1, 2 ch", entry.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        finally
        {
            await op.Client.PostAsJsonAsync($"/api/measurements/{id}/stop", new { });
        }
    }

    [Fact]
    public async Task StoppingAMeasurementIsAuditedWithWhoStoppedIt()
    {
        var op = await OperatorAsync();
        var started = await _factory.Services.GetRequiredService<MeasurementEngine>().StartAsync(op.Requester, new UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = "audited stop", Channels = 1, SampleRate = 1000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        using var admin = await AdminAsync();
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsJsonAsync($"/api/measurements/{started.Measurement!.Id}/stop", new { })).StatusCode);
        var entry = await SingleEntryAsync("stop", started.Measurement.Id);
        Assert.Equal(AppFactory.AdminEmail, entry.GetProperty("actorName").GetString());
        Assert.Equal("audited stop", entry.GetProperty("measurementName").GetString());
    }

    [Fact]
    public async Task DeletingAMeasurementIsAuditedAndTheEntryOutlivesIt()
    {
        var op = await OperatorAsync();
        var id = await AccessProbe.StoreMeasurementAsync(_factory.Services, op.UserId, op.Email, "audited delete");
        Assert.Equal(HttpStatusCode.NoContent, (await op.Client.DeleteAsync($"/api/measurements/{id}")).StatusCode);
        var entry = await SingleEntryAsync("delete", id);
        Assert.Equal(op.UserId, entry.GetProperty("actorId").GetString());
        Assert.Equal("audited delete", entry.GetProperty("measurementName").GetString());
    }

    [Fact]
    public async Task SharingAMeasurementIsAuditedWithTheUserItWasSharedWith()
    {
        var op = await OperatorAsync();
        var reader = await OperatorAsync();
        var id = await AccessProbe.StoreMeasurementAsync(_factory.Services, op.UserId, op.Email, "audited share");
        Assert.Equal(HttpStatusCode.Created, (await op.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = reader.Email })).StatusCode);
        // Sharing again changes nothing and adds no entry.
        Assert.Equal(HttpStatusCode.OK, (await op.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = reader.Email })).StatusCode);
        var entry = await SingleEntryAsync("share", id);
        Assert.Equal(op.Email, entry.GetProperty("actorName").GetString());
        Assert.Equal(reader.Email, entry.GetProperty("targetUserName").GetString());
        Assert.Equal(reader.UserId, entry.GetProperty("targetUserId").GetString());
    }

    [Fact]
    public async Task UnsharingAMeasurementIsAudited()
    {
        var op = await OperatorAsync();
        var reader = await OperatorAsync();
        var id = await AccessProbe.StoreMeasurementAsync(_factory.Services, op.UserId, op.Email, "audited unshare");
        Assert.Equal(HttpStatusCode.Created, (await op.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = reader.Email })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await op.Client.DeleteAsync($"/api/measurements/{id}/shares/{Uri.EscapeDataString(reader.Email)}")).StatusCode);
        var entry = await SingleEntryAsync("unshare", id);
        Assert.Equal(reader.Email, entry.GetProperty("targetUserName").GetString());
    }

    [Fact]
    public async Task ExportingAMeasurementIsAuditedForDownloadsAndPreparedExports()
    {
        var op = await OperatorAsync();
        var id = await AccessProbe.StoreMeasurementAsync(_factory.Services, op.UserId, op.Email, "audited export");
        using (var download = await op.Client.GetAsync($"/api/measurements/{id}/export?format=csv&from=0&to=1"))
        {
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        }
        var prepared = await _factory.Services.GetRequiredService<PreparedExports>().StartAsync(op.Requester, id, new MeasureApp.Export.ExportRequest { Format = MeasureApp.Export.ExportFormat.Parquet }, CancellationToken.None);
        Assert.NotNull(prepared.Export);
        await prepared.Export.Completion.WaitAsync(TimeSpan.FromSeconds(30));

        var entries = await EntriesAsync($"action=export&measurement={id}");
        Assert.Equal(2, entries.Length);
        Assert.Contains(entries, e => e.GetProperty("detail").GetString()!.Contains("download ?format=csv&from=0&to=1", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.GetProperty("detail").GetString()!.Contains("prepared format=parquet", StringComparison.Ordinal));
        Assert.All(entries, e => Assert.Equal(op.Email, e.GetProperty("actorName").GetString()));
    }

    [Fact]
    public async Task ChangingAUsersLimitsIsAuditedWithWhoseLimits()
    {
        var op = await OperatorAsync();
        var admin = new Requester("admin-audit", AppFactory.AdminEmail, IsAdmin: true);
        var errors = await _factory.Services.GetRequiredService<LimitsAdminService>().SaveOverridesAsync(admin, op.UserId,
            new LimitOverrides { MaxParallelMeasurements = 2 }, CancellationToken.None);
        Assert.Empty(errors);
        var entry = Assert.Single(await EntriesAsync($"action=limits&user={op.UserId}"));
        Assert.Equal(op.Email, entry.GetProperty("targetUserName").GetString());
        Assert.Equal(AppFactory.AdminEmail, entry.GetProperty("actorName").GetString());
        Assert.Contains("\"MaxParallelMeasurements\":2", entry.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChangingAUsersRoleIsAuditedBothWays()
    {
        var op = await OperatorAsync();
        var admin = new Requester("admin-audit", AppFactory.AdminEmail, IsAdmin: true);
        var users = _factory.Services.GetRequiredService<UserAdminService>();
        Assert.True((await users.SetAdminAsync(admin, op.UserId, isAdmin: true)).Succeeded);
        Assert.True((await users.SetAdminAsync(admin, op.UserId, isAdmin: false)).Succeeded);
        var entries = await EntriesAsync($"action=role&user={op.UserId}");
        Assert.Equal(["admin role removed", "made admin"], entries.Select(e => e.GetProperty("detail").GetString()!).ToArray());
        Assert.All(entries, e => Assert.Equal(op.Email, e.GetProperty("targetUserName").GetString()));
    }

    [Fact]
    public async Task TheAuditApiFiltersAndPagesForAdminsOnlyAndRefusesBadFilters()
    {
        var op = await OperatorAsync();
        var reader = await OperatorAsync();
        var ids = new List<Guid>();
        for (var k = 0; k < 3; k++)
        {
            var id = await AccessProbe.StoreMeasurementAsync(_factory.Services, op.UserId, op.Email, $"run {k}");
            ids.Add(id);
            Assert.Equal(HttpStatusCode.Created, (await op.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = reader.Email })).StatusCode);
        }
        using var admin = await AdminAsync();
        var all = JsonDocument.Parse(await admin.GetStringAsync($"/api/admin/audit?user={op.UserId}&action=share&pageSize=2")).RootElement;
        Assert.Equal(3, all.GetProperty("total").GetInt32());
        Assert.Equal(2, all.GetProperty("items").GetArrayLength());
        // Newest first, then the second page.
        Assert.Equal(ids[2], all.GetProperty("items")[0].GetProperty("measurementId").GetGuid());
        var second = JsonDocument.Parse(await admin.GetStringAsync($"/api/admin/audit?user={op.UserId}&action=share&pageSize=2&page=1")).RootElement;
        Assert.Equal(ids[0], Assert.Single(second.GetProperty("items").EnumerateArray()).GetProperty("measurementId").GetGuid());
        // The grantee is found by the user filter too (acted on), and a date range around now holds them all.
        var now = DateTimeOffset.UtcNow;
        var range = $"from={Uri.EscapeDataString(now.AddMinutes(-5).ToString("O"))}&to={Uri.EscapeDataString(now.AddMinutes(5).ToString("O"))}";
        Assert.Equal(3, JsonDocument.Parse(await admin.GetStringAsync($"/api/admin/audit?user={reader.UserId}&{range}")).RootElement.GetProperty("total").GetInt32());
        Assert.Equal(0, JsonDocument.Parse(await admin.GetStringAsync($"/api/admin/audit?user={reader.UserId}&to={Uri.EscapeDataString(now.AddMinutes(-5).ToString("O"))}")).RootElement.GetProperty("total").GetInt32());

        foreach (var bad in new[] { "action=reboot", "measurement=abc", "from=yesterday", "pageSize=0", "page=-1" })
        {
            var response = await admin.GetAsync("/api/admin/audit?" + bad);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{bad}: {(int)response.StatusCode}");
        }
        Assert.Equal(HttpStatusCode.Forbidden, (await op.Client.GetAsync("/api/admin/audit")).StatusCode);
        using var anonymous = _factory.CreateClient(new Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        Assert.NotEqual(HttpStatusCode.OK, (await anonymous.GetAsync("/api/admin/audit")).StatusCode);
    }

    private sealed record Operator(string UserId, string Email, Requester Requester, HttpClient Client);

    private async Task<Operator> OperatorAsync()
    {
        var user = await Users.CreateOperatorAsync(_factory.Services);
        return new Operator(user.Id, user.Email!, new Requester(user.Id, user.Email!, IsAdmin: false), await HttpLogin.LoggedInClientAsync(_factory, user.Email!, Users.Password));
    }

    private Task<HttpClient> AdminAsync() => HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);

    private async Task<JsonElement> SingleEntryAsync(string action, Guid measurementId) =>
        Assert.Single(await EntriesAsync($"action={action}&measurement={measurementId}"));

    private async Task<JsonElement[]> EntriesAsync(string query)
    {
        using var admin = await AdminAsync();
        var response = await admin.GetAsync("/api/admin/audit?" + query);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode} {text}");
        return [.. JsonDocument.Parse(text).RootElement.GetProperty("items").EnumerateArray().Select(e => e.Clone())];
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteAuditTrailTests() : AuditTrailTests(DatabaseProvider.Sqlite);

public sealed class PostgresAuditTrailTests() : AuditTrailTests(DatabaseProvider.Postgres);
