using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Limits;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Api;

/// <summary>The measurements REST API on one instance: lifecycle, validation, ownership, limits, CSRF rule.</summary>
public abstract class MeasurementApiTests(DatabaseProvider provider) : IDisposable
{
    private readonly AppFactory _factory = new(provider);

    [Fact]
    public async Task AnOperatorStartsReadsListsStopsAndDeletesAMeasurement()
    {
        var client = await OperatorClientAsync();

        var created = await client.PostAsJsonAsync("/api/measurements", Body("api sine", channels: 2));

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var started = await ReadAsync(created);
        var id = started.GetProperty("id").GetGuid();
        Assert.Equal($"/api/measurements/{id}", created.Headers.Location?.ToString());
        Assert.Equal("Running", started.GetProperty("state").GetString());
        Assert.Equal(2, started.GetProperty("channels").GetArrayLength());
        Assert.Equal("api sine", started.GetProperty("name").GetString());

        // Samples arrive while it runs (read through the API, which shows this instance's live count).
        var waited = System.Diagnostics.Stopwatch.StartNew();
        long samples;
        do
        {
            samples = (await ReadAsync(await client.GetAsync($"/api/measurements/{id}"))).GetProperty("sampleCount").GetInt64();
        }
        while (samples == 0 && waited.Elapsed < TimeSpan.FromSeconds(30));
        Assert.True(samples > 0, "No samples were counted within 30 s.");

        var list = await ReadAsync(await client.GetAsync("/api/measurements"));
        Assert.Equal(1, list.GetProperty("total").GetInt32());
        Assert.Equal(id, list.GetProperty("items")[0].GetProperty("id").GetGuid());

        var stop = await client.PostAsync($"/api/measurements/{id}/stop", JsonBody("{}"));
        Assert.Equal(HttpStatusCode.OK, stop.StatusCode);
        var stopped = await ReadAsync(stop);
        Assert.Equal("Stopped", stopped.GetProperty("state").GetString());
        Assert.Equal("User", stopped.GetProperty("stopReason").GetString());
        Assert.True(stopped.GetProperty("sampleCount").GetInt64() >= samples);

        var again = await client.PostAsync($"/api/measurements/{id}/stop", JsonBody(""));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);

        var delete = await client.DeleteAsync($"/api/measurements/{id}");
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/measurements/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync($"/api/measurements/{id}")).StatusCode);
        Assert.Equal(0, (await ReadAsync(await client.GetAsync("/api/measurements"))).GetProperty("total").GetInt32());
    }

    [Theory]
    [InlineData("""{"channels":1,"sampleRate":1000,"name":"x"}""", "device")]
    [InlineData("""{"device":"no-such-device","channels":1,"sampleRate":1000,"name":"x"}""", "device")]
    [InlineData("""{"device":"sim-1","channels":0,"sampleRate":1000,"name":"x"}""", "channels")]
    [InlineData("""{"device":"sim-1","channels":9,"sampleRate":1000,"name":"x"}""", "channels")]
    [InlineData("""{"device":"sim-1","sampleRate":1000,"name":"x"}""", "channels")]
    [InlineData("""{"device":"sim-1","channels":1,"sampleRate":50,"name":"x"}""", "sampleRate")]
    [InlineData("""{"device":"sim-1","channels":1,"sampleRate":100001,"name":"x"}""", "sampleRate")]
    [InlineData("""{"device":"sim-1","channels":1,"name":"x"}""", "sampleRate")]
    [InlineData("""{"device":"sim-1","channels":1,"sampleRate":1000,"name":"  "}""", "name")]
    [InlineData("""{"device":"sim-1","channels":1,"sampleRate":1000}""", "name")]
    [InlineData("""{"device":"sim-1","channels":1,"sampleRate":1000,"name":"x","durationSeconds":-1}""", "durationSeconds")]
    [InlineData("""{"device":"sim-1","channels":1,"sampleRate":1000,"name":"x","durationSeconds":0}""", "durationSeconds")]
    [InlineData("""{"device":"sim-1","channels":"two","sampleRate":1000,"name":"x"}""", "channels")]
    [InlineData("""{"device":"sim-1","channels":1,""", "body")]
    [InlineData("""null""", "body")]
    public async Task InvalidStartRequestsGetABadRequestThatNamesTheFieldAndStartNothing(string json, string field)
    {
        var client = await OperatorClientAsync();

        var response = await client.PostAsync("/api/measurements", JsonBody(json));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await ReadAsync(response);
        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out var messages), $"No error for '{field}' in {problem}");
        Assert.False(string.IsNullOrWhiteSpace(messages[0].GetString()));
        Assert.Equal(0, (await ReadAsync(await client.GetAsync("/api/measurements"))).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task PostsWithoutAJsonContentTypeAreRefusedAndChangeNothing()
    {
        var client = await OperatorClientAsync();
        var id = await StartAsync(client, "csrf target");

        var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["device"] = "sim-1", ["channels"] = "1", ["sampleRate"] = "1000", ["name"] = "form" });
        var formStart = await client.PostAsync("/api/measurements", form);
        var plainStop = await client.PostAsync($"/api/measurements/{id}/stop", new StringContent("", Encoding.UTF8, "text/plain"));
        var bareStop = await client.PostAsync($"/api/measurements/{id}/stop", null);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, formStart.StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, plainStop.StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, bareStop.StatusCode);
        Assert.Contains("application/json", (await ReadAsync(bareStop)).GetProperty("detail").GetString(), StringComparison.Ordinal);
        var list = await ReadAsync(await client.GetAsync("/api/measurements"));
        Assert.Equal(1, list.GetProperty("total").GetInt32());
        Assert.Equal("Running", list.GetProperty("items")[0].GetProperty("state").GetString());
    }

    [Fact]
    public async Task AnotherUsersMeasurementIsNotFoundOnEveryVerbAndStaysUntouched()
    {
        var owner = await OperatorClientAsync();
        var other = await OperatorClientAsync();
        var id = await StartAsync(owner, "private");
        var unknown = Guid.CreateVersion7();

        foreach (var target in new[] { id, unknown })
        {
            var get = await other.GetAsync($"/api/measurements/{target}");
            var stop = await other.PostAsync($"/api/measurements/{target}/stop", JsonBody("{}"));
            var delete = await other.DeleteAsync($"/api/measurements/{target}");

            foreach (var response in new[] { get, stop, delete })
            {
                Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
                Assert.Equal("Measurement not found", (await ReadAsync(response)).GetProperty("title").GetString());
            }
        }
        Assert.Equal(0, (await ReadAsync(await other.GetAsync("/api/measurements"))).GetProperty("total").GetInt32());
        // ?owner= is for admins only: an operator still sees only their own.
        var ownerId = (await ReadAsync(await owner.GetAsync($"/api/measurements/{id}"))).GetProperty("ownerId").GetString();
        Assert.Equal(0, (await ReadAsync(await other.GetAsync($"/api/measurements?owner={ownerId}"))).GetProperty("total").GetInt32());
        Assert.Equal("Running", (await ReadAsync(await owner.GetAsync($"/api/measurements/{id}"))).GetProperty("state").GetString());
    }

    [Fact]
    public async Task AdminsSeeEveryonesMeasurementsFilterByOwnerStopThemButDoNotDeleteThem()
    {
        var owner = await OperatorClientAsync();
        var admin = await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
        var id = await StartAsync(owner, "watched by admin");
        await StartAsync(admin, "admin's own");
        var ownerId = (await ReadAsync(await owner.GetAsync($"/api/measurements/{id}"))).GetProperty("ownerId").GetString();

        Assert.Equal(2, (await ReadAsync(await admin.GetAsync("/api/measurements"))).GetProperty("total").GetInt32());
        var filtered = await ReadAsync(await admin.GetAsync($"/api/measurements?owner={ownerId}"));
        Assert.Equal(1, filtered.GetProperty("total").GetInt32());
        Assert.Equal(id, filtered.GetProperty("items")[0].GetProperty("id").GetGuid());

        Assert.Equal(HttpStatusCode.Conflict, (await owner.DeleteAsync($"/api/measurements/{id}")).StatusCode);
        var stop = await admin.PostAsync($"/api/measurements/{id}/stop", JsonBody("{}"));
        Assert.Equal(HttpStatusCode.OK, stop.StatusCode);
        Assert.Equal("Admin", (await ReadAsync(stop)).GetProperty("stopReason").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, (await admin.DeleteAsync($"/api/measurements/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await owner.GetAsync($"/api/measurements/{id}")).StatusCode);
    }

    [Fact]
    public async Task AStartOverTheParallelLimitIsRefusedWithAConflictThatStatesTheNumbers()
    {
        var (client, userId) = await OperatorWithIdAsync();
        await SetParallelLimitAsync(userId, 2);
        await StartAsync(client, "one");
        await StartAsync(client, "two");

        var third = await client.PostAsJsonAsync("/api/measurements", Body("three"));

        Assert.Equal(HttpStatusCode.Conflict, third.StatusCode);
        Assert.Equal("application/problem+json", third.Content.Headers.ContentType?.MediaType);
        Assert.Equal("You are running 2 of 2 allowed measurements.", (await ReadAsync(third)).GetProperty("detail").GetString());
        Assert.Equal(2, (await ReadAsync(await client.GetAsync("/api/measurements"))).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task AStartOverTheUsersChannelLimitIsRefusedWithTheNumbers()
    {
        var (client, userId) = await OperatorWithIdAsync();
        await _factory.Services.GetRequiredService<LimitsAdminService>()
            .SaveOverridesAsync(AdminRequester, userId, new LimitOverrides { MaxChannels = 2 }, CancellationToken.None);

        var response = await client.PostAsJsonAsync("/api/measurements", Body("wide", channels: 4));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("Channels must be between 1 and 2 (you asked for 4).", (await ReadAsync(response)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task AnonymousCallersGetUnauthorizedOnEveryVerb()
    {
        var client = HttpLogin.CreateClient(_factory);
        var id = Guid.CreateVersion7();

        var responses = new[]
        {
            await client.GetAsync("/api/measurements"),
            await client.GetAsync($"/api/measurements/{id}"),
            await client.PostAsJsonAsync("/api/measurements", Body("anon")),
            await client.PostAsync($"/api/measurements/{id}/stop", JsonBody("{}")),
            await client.DeleteAsync($"/api/measurements/{id}"),
        };

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode));
    }

    [Fact]
    public async Task FiftyParallelStartsByOneUserNeverExceedTheLimit()
    {
        const int limit = 3;
        var (client, userId) = await OperatorWithIdAsync();
        await SetParallelLimitAsync(userId, limit);

        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => client.PostAsJsonAsync("/api/measurements", Body($"race {i}"))));

        Assert.Equal(limit, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(50 - limit, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict));
        foreach (var refused in responses.Where(r => r.StatusCode == HttpStatusCode.Conflict))
        {
            Assert.Equal($"You are running {limit} of {limit} allowed measurements.", (await ReadAsync(refused)).GetProperty("detail").GetString());
        }
        var engine = _factory.Services.GetRequiredService<MeasurementEngine>();
        Assert.Equal(limit, engine.GetRunning(new Requester(userId, "op", IsAdmin: false)).Count);
        var list = await ReadAsync(await client.GetAsync("/api/measurements?pageSize=200"));
        Assert.Equal(limit, list.GetProperty("total").GetInt32());
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }

    private static readonly Requester AdminRequester = new("admin", AppFactory.AdminEmail, IsAdmin: true);

    private static object Body(string name, int channels = 1, double sampleRate = 1000) =>
        new { device = "sim-1", channels, sampleRate, name };

    private static StringContent JsonBody(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }

    private static async Task<Guid> StartAsync(HttpClient client, string name)
    {
        var response = await client.PostAsJsonAsync("/api/measurements", Body(name));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await ReadAsync(response)).GetProperty("id").GetGuid();
    }

    private async Task<HttpClient> OperatorClientAsync() => (await OperatorWithIdAsync()).Client;

    private async Task<(HttpClient Client, string UserId)> OperatorWithIdAsync()
    {
        var (user, client) = await HttpLogin.LoggedInOperatorAsync(_factory);
        return (client, user.Id);
    }

    private async Task SetParallelLimitAsync(string userId, int limit)
    {
        var errors = await _factory.Services.GetRequiredService<LimitsAdminService>()
            .SaveOverridesAsync(AdminRequester, userId, new LimitOverrides { MaxParallelMeasurements = limit }, CancellationToken.None);
        Assert.Empty(errors);
    }
}

public sealed class SqliteMeasurementApiTests() : MeasurementApiTests(DatabaseProvider.Sqlite);

public sealed class PostgresMeasurementApiTests() : MeasurementApiTests(DatabaseProvider.Postgres);
