using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;

namespace MeasureApp.Tests.Collectors;

/// <summary>
/// <c>/api/collector-tokens</c> on a real app: create (secret once), list (own; admins all), revoke,
/// another user's id answers like an unknown one, bad JSON 400, non-JSON 415, anonymous 401.
/// </summary>
public abstract class CollectorTokenApiTests(DatabaseProvider provider) : IDisposable
{
    private readonly AppFactory _factory = new(provider);

    [Fact]
    public async Task AnOperatorCreatesListsAndRevokesATokenWhoseSecretIsShownOnlyOnce()
    {
        var client = await OperatorAsync();

        var response = await client.PostAsync("/api/collector-tokens", Json("""{"name":"field pc 1"}"""));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await ReadAsync(response);
        var id = created.GetProperty("id").GetGuid();
        var secret = created.GetProperty("token").GetString()!;
        Assert.Equal("field pc 1", created.GetProperty("name").GetString());
        Assert.Matches("^[0-9a-f]{64}$", secret);
        Assert.Equal($"/api/collector-tokens/{id}", response.Headers.Location?.ToString());

        var listText = await client.GetStringAsync("/api/collector-tokens");
        Assert.DoesNotContain(secret, listText, StringComparison.OrdinalIgnoreCase);
        var listed = Assert.Single(JsonDocument.Parse(listText).RootElement.EnumerateArray());
        Assert.Equal(id, listed.GetProperty("id").GetGuid());
        Assert.False(listed.TryGetProperty("token", out _));
        Assert.False(listed.TryGetProperty("hash", out _));
        Assert.Equal(JsonValueKind.Null, listed.GetProperty("revokedAt").ValueKind);

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/collector-tokens/{id}")).StatusCode);
        var revoked = Assert.Single((await ReadAsync(await client.GetAsync("/api/collector-tokens"))).EnumerateArray());
        Assert.NotEqual(JsonValueKind.Null, revoked.GetProperty("revokedAt").ValueKind);
        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync($"/api/collector-tokens/{id}")).StatusCode);
    }

    [Fact]
    public async Task AnotherUsersTokenIdAnswersExactlyLikeAnUnknownOneAndAdminsSeeEveryToken()
    {
        var alice = await OperatorAsync();
        var bob = await OperatorAsync();
        var admin = await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
        var aliceToken = (await ReadAsync(await alice.PostAsync("/api/collector-tokens", Json("""{"name":"alice's"}""")))).GetProperty("id").GetGuid();
        var bobToken = (await ReadAsync(await bob.PostAsync("/api/collector-tokens", Json("""{"name":"bob's"}""")))).GetProperty("id").GetGuid();

        var foreign = await bob.DeleteAsync($"/api/collector-tokens/{aliceToken}");
        var unknown = await bob.DeleteAsync($"/api/collector-tokens/{Guid.NewGuid()}");

        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(AccessProbe.WithoutTraceId(await unknown.Content.ReadAsStringAsync()), AccessProbe.WithoutTraceId(await foreign.Content.ReadAsStringAsync()));
        var bobSees = (await ReadAsync(await bob.GetAsync("/api/collector-tokens"))).EnumerateArray().Select(t => t.GetProperty("id").GetGuid()).ToList();
        Assert.Equal([bobToken], bobSees);
        var aliceStill = Assert.Single((await ReadAsync(await alice.GetAsync("/api/collector-tokens"))).EnumerateArray());
        Assert.Equal(JsonValueKind.Null, aliceStill.GetProperty("revokedAt").ValueKind);

        var all = (await ReadAsync(await admin.GetAsync("/api/collector-tokens"))).EnumerateArray().ToList();
        Assert.Equal([aliceToken, bobToken], all.Select(t => t.GetProperty("id").GetGuid()).Order());
        Assert.All(all, t => Assert.EndsWith("@test.local", t.GetProperty("ownerName").GetString(), StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/collector-tokens/{aliceToken}")).StatusCode);
    }

    [Theory]
    [InlineData("""{"name":""", "name")]
    [InlineData("""null""", "body")]
    [InlineData("""{"name":"   "}""", "name")]
    [InlineData("""{"name":"two\nlines"}""", "name")]
    [InlineData("""{"name":42}""", "name")]
    [InlineData("""{}""", "name")]
    public async Task BadJsonGetsABadRequestThatNamesTheFieldAndCreatesNothing(string json, string field)
    {
        var client = await OperatorAsync();

        var response = await client.PostAsync("/api/collector-tokens", Json(json));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.True((await ReadAsync(response)).GetProperty("errors").TryGetProperty(field, out _), $"The problem does not name '{field}'.");
        Assert.Empty((await ReadAsync(await client.GetAsync("/api/collector-tokens"))).EnumerateArray());
    }

    [Fact]
    public async Task NonJsonPostGets415AndAnonymousCallersGet401()
    {
        var client = await OperatorAsync();
        var anonymous = HttpLogin.CreateClient(_factory);

        var form = await client.PostAsync("/api/collector-tokens", new FormUrlEncodedContent(new Dictionary<string, string> { ["name"] = "x" }));
        var text = await client.PostAsync("/api/collector-tokens", new StringContent("""{"name":"x"}""", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
        Assert.Equal("application/problem+json", form.Content.Headers.ContentType?.MediaType);
        Assert.Empty((await ReadAsync(await client.GetAsync("/api/collector-tokens"))).EnumerateArray());
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/collector-tokens")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync("/api/collector-tokens", new { name = "x" })).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.DeleteAsync($"/api/collector-tokens/{Guid.NewGuid()}")).StatusCode);
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }

    private async Task<HttpClient> OperatorAsync() =>
        (await HttpLogin.LoggedInOperatorAsync(_factory)).Client;

    internal static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    internal static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }
}

public sealed class SqliteCollectorTokenApiTests() : CollectorTokenApiTests(DatabaseProvider.Sqlite);

public sealed class PostgresCollectorTokenApiTests() : CollectorTokenApiTests(DatabaseProvider.Postgres);
