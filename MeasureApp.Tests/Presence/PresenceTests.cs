using System.Net;
using System.Text.Json;
using MeasureApp.Presence;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Presence;

/// <summary>Presence API: admin only, JSON report with periods, SSE stream; snapshots persist.</summary>
public abstract class PresenceTests(DatabaseProvider provider) : IDisposable
{
    private readonly AppFactory _factory = new(provider);

    [Fact]
    public async Task OperatorsGetForbiddenOnThePresenceApi()
    {
        var op = await Users.CreateOperatorAsync(_factory.Services);
        var client = await HttpLogin.LoggedInClientAsync(_factory, op.Email!, Users.Password);

        foreach (var path in new[] { "/api/presence", "/api/presence/stream" })
        {
            var response = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }
    }

    [Fact]
    public async Task AnonymousCallersGetUnauthorizedOnThePresenceApi()
    {
        var client = HttpLogin.CreateClient(_factory);

        var response = await client.GetAsync("/api/presence");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task StoredSnapshotsFeedThePeakOfTheReport()
    {
        var tracker = _factory.Services.GetRequiredService<PresenceTracker>();
        await tracker.SnapshotAsync(CancellationToken.None);
        var client = await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);

        var json = await client.GetStringAsync("/api/presence");

        using var doc = JsonDocument.Parse(json);
        var periods = doc.RootElement.GetProperty("periods");
        Assert.Equal(3, periods.GetArrayLength());
        Assert.Equal("1h", periods[0].GetProperty("period").GetString());
        Assert.True(periods[0].GetProperty("samples").GetInt32() >= 1);
        Assert.True(doc.RootElement.GetProperty("now").TryGetProperty("activeUsers", out _));
    }

    [Fact]
    public async Task TheStreamDeliversPresenceEvents()
    {
        var client = await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)); // hang guard only

        using var response = await client.GetAsync("/api/presence/stream", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
        var events = 0;
        while (events < 2)
        {
            var line = await reader.ReadLineAsync(cts.Token);
            Assert.NotNull(line);
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                using var doc = JsonDocument.Parse(line["data: ".Length..]);
                Assert.True(doc.RootElement.TryGetProperty("activeUsers", out _));
                events++;
            }
        }
        Assert.Equal(2, events);
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqlitePresenceTests() : PresenceTests(DatabaseProvider.Sqlite);

public sealed class PostgresPresenceTests() : PresenceTests(DatabaseProvider.Postgres);
