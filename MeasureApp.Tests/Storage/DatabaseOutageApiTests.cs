using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Storage;

/// <summary>
/// Issue 12 #4: with PostgreSQL stopped, a logged-in user keeps a usable API — no 500, no logout,
/// running measurements listed from memory, stop works, start refuses saying the database is unavailable.
/// </summary>
public sealed class DatabaseOutageApiTests : IAsyncLifetime
{
    private PrivatePostgres? _postgres;
    private AppFactory? _factory;
    private WebApplicationFactory<Program>? _app;

    public async Task InitializeAsync()
    {
        _postgres = await PrivatePostgres.StartAsync();
        _factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { ["ConnectionStrings:Database"] = _postgres.ConnectionString, ["Metrics:RequireAdmin"] = "false" });
        // Every request checks the login cookie against the database (production: every 30 s).
        _app = _factory.WithWebHostBuilder(b => b.ConfigureTestServices(s => s.Configure<SecurityStampValidatorOptions>(o => o.ValidationInterval = TimeSpan.Zero)));
    }

    [Fact]
    public async Task WithPostgresStoppedTheApiListsRunningMeasurementsStopsThemRefusesStartsAndNeverAnswers500()
    {
        var user = await Users.CreateOperatorAsync(_app!.Services);
        var client = _app.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        Assert.Equal(HttpStatusCode.Redirect, (await HttpLogin.PostLoginAsync(client, user.Email!, Users.Password)).StatusCode);
        var created = await client.PostAsync("/api/measurements", Json("""{"device":"sim-1","name":"outage api","channels":2,"sampleRate":1000}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = (await ReadAsync(created)).GetProperty("id").GetGuid();

        await _postgres!.StopServerAsync();
        var anonymous = _app.CreateClient();
        await Eventually.TrueAsync(async () => (await anonymous.GetStringAsync("/health/ready")).Contains("storing to spool", StringComparison.Ordinal),
            "readiness says the data goes to the spool", TimeSpan.FromSeconds(30));
        var ready = await anonymous.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.StartsWith("degraded: ", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Matches(@"(?m)^measureapp_store_spool_bytes [1-9]", await anonymous.GetStringAsync("/metrics"));

        var list = await client.GetAsync("/api/measurements");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        var items = (await ReadAsync(list)).GetProperty("items");
        Assert.Equal(id, Assert.Single(items.EnumerateArray()).GetProperty("id").GetGuid());
        Assert.Equal("Running", items[0].GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/measurements/{id}")).StatusCode);

        var start = await client.PostAsync("/api/measurements", Json("""{"device":"sim-1","name":"during outage","channels":1,"sampleRate":1000}"""));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, start.StatusCode);
        Assert.Contains("database is unavailable", (await ReadAsync(start)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        var unknown = await client.GetAsync($"/api/measurements/{Guid.NewGuid()}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
        var page = await client.GetAsync("/measurements");
        Assert.NotEqual(HttpStatusCode.InternalServerError, page.StatusCode);
        Assert.NotEqual(HttpStatusCode.Redirect, page.StatusCode);

        var stop = await client.PostAsync($"/api/measurements/{id}/stop", Json("{}"));
        Assert.Equal(HttpStatusCode.OK, stop.StatusCode);
        Assert.Equal("Stopped", (await ReadAsync(stop)).GetProperty("state").GetString());
        Assert.Empty(_app.Services.GetRequiredService<MeasurementEngine>().GetRunning(new Requester(user.Id, user.Email!, IsAdmin: false)));

        await _postgres.StartServerAsync();
        // Still logged in, and the stop saved from the spool once the database is back.
        await Eventually.TrueAsync(async () =>
        {
            var back = await client.GetAsync($"/api/measurements/{id}");
            return back.StatusCode == HttpStatusCode.OK && (await ReadAsync(back)).GetProperty("state").GetString() == "Stopped";
        }, "the stop reaches the database after the outage", TimeSpan.FromSeconds(60));
        await Eventually.TrueAsync(async () => await anonymous.GetStringAsync("/health/ready") == "Healthy", "readiness is healthy once the spool is replayed");
        var metrics = await anonymous.GetStringAsync("/metrics");
        Assert.Matches(@"(?m)^measureapp_store_spool_bytes 0$", metrics);
        Assert.Matches(@"(?m)^measureapp_store_chunks_replayed_total [1-9]", metrics);
        var contexts = _app.Services.GetRequiredService<IDbContextFactory<AppDbContext>>();
        await using var db = await contexts.CreateDbContextAsync();
        Assert.Equal(StopReason.User, (await db.Measurements.AsNoTracking().SingleAsync(m => m.Id == id)).StopReason);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }
        _postgres?.Dispose();
    }
}
