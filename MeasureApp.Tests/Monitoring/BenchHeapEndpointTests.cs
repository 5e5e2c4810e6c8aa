using System.Net;
using System.Net.Http.Json;
using MeasureApp.Monitoring;
using MeasureApp.Tests.Infrastructure;

namespace MeasureApp.Tests.Monitoring;

/// <summary><c>GET /api/bench/heap</c>: the circuit bench's live-heap reading exists only with Bench:Diagnostics, and only for admins.</summary>
public sealed class BenchHeapEndpointTests
{
    [Fact]
    public async Task WithoutTheBenchSettingTheHeapEndpointDoesNotExistEvenForAnAdmin()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite);
        using var admin = await HttpLogin.LoggedInClientAsync(factory, AppFactory.AdminEmail, AppFactory.AdminPassword);

        var response = await admin.GetAsync(new Uri("/api/bench/heap", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task WithTheBenchSettingAnAdminReadsTheLiveHeapAndAnOperatorIsRefused()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { ["Bench:Diagnostics"] = "true" });
        using var admin = await HttpLogin.LoggedInClientAsync(factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
        var (_, op) = await HttpLogin.LoggedInOperatorAsync(factory);
        using var _op = op;

        var reading = await admin.GetFromJsonAsync<HeapReading>(new Uri("/api/bench/heap", UriKind.Relative));
        var refused = await op.GetAsync(new Uri("/api/bench/heap", UriKind.Relative));

        Assert.NotNull(reading);
        Assert.InRange(reading.LiveBytes, 1, reading.WorkingSetBytes);
        Assert.True(reading.CommittedBytes >= reading.HeapBytes - reading.HeapBytes / 2, $"{reading}");
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }
}
