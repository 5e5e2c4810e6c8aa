using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;

namespace MeasureApp.Tests.Sharing;

/// <summary>
/// Read-only sharing over HTTP on each provider — the cross-user matrix for the sharing paths: a user the owner
/// shared with reads through every read path (resource, export, statistics, annotations, shared list) and is
/// refused every write with 403; an unrelated user gets exactly the unknown-id answer on every new endpoint;
/// a revoke ends access at once; a refused e-mail answers 400 naming the problem.
/// </summary>
public abstract class ShareApiTests(DatabaseProvider provider) : IDisposable
{
    private readonly AppFactory _factory = new(provider);

    // Read paths a shared user may use (all must answer 200).
    private static readonly string[] ReadPaths =
    [
        "/api/measurements/{0}",
        "/api/measurements/{0}/export?format=csv&time=seconds",
        "/api/measurements/{0}/export?format=parquet",
        "/api/measurements/{0}/stats?from=0&to=1",
        "/api/measurements/{0}/edges?from=0&to=1&channel=0",
        "/api/measurements/{0}/spectrum?from=0&to=1&channel=0",
        "/api/measurements/{0}/annotations",
    ];

    [Fact]
    public async Task ASharedUserReadsEveryReadPathAndIsRefusedEveryWriteWith403()
    {
        var owner = await PartyAsync();
        var reader = await PartyAsync();
        var id = await StoreAsync(owner, "Shared secret run");
        var ownerNote = await CreateAnnotationAsync(owner.Client, id, "owner's note");

        var shared = await owner.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = reader.Email });
        Assert.Equal(HttpStatusCode.Created, shared.StatusCode);

        foreach (var path in ReadPaths)
        {
            using var response = await reader.Client.GetAsync(AccessProbe.Format(path, id));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        Assert.Contains(id.ToString(), await reader.Client.GetStringAsync("/api/measurements/shared"), StringComparison.Ordinal);
        // Their own list stays their own: a share is not ownership.
        Assert.DoesNotContain(id.ToString(), await reader.Client.GetStringAsync("/api/measurements"), StringComparison.Ordinal);

        // They annotate (the annotation is theirs) but cannot change or delete the owner's.
        var mine = await CreateAnnotationAsync(reader.Client, id, "reader's note");
        Assert.Equal(reader.UserId, mine.GetProperty("authorId").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.Client.PutAsJsonAsync($"/api/measurements/{id}/annotations/{ownerNote.GetProperty("id").GetGuid()}", new { title = "x", from = 0 })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await reader.Client.DeleteAsync($"/api/measurements/{id}/annotations/{ownerNote.GetProperty("id").GetGuid()}")).StatusCode);

        // Every write: 403 "read-only", nothing changes.
        var third = await PartyAsync();
        foreach (var (method, path, body) in new (string, string, string?)[]
        {
            ("POST", $"/api/measurements/{id}/stop", "{}"),
            ("DELETE", $"/api/measurements/{id}", null),
            ("GET", $"/api/measurements/{id}/shares", null),
            ("POST", $"/api/measurements/{id}/shares", JsonSerializer.Serialize(new { email = third.Email })),
            ("DELETE", $"/api/measurements/{id}/shares/{Uri.EscapeDataString(reader.Email)}", null),
        })
        {
            var answer = await SendAsync(reader.Client, method, path, body);
            Assert.True(answer.Status == HttpStatusCode.Forbidden, $"{method} {path}: {(int)answer.Status} {answer.Raw}");
        }
        Assert.Equal(HttpStatusCode.NotFound, (await third.Client.GetAsync($"/api/measurements/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await owner.Client.GetAsync($"/api/measurements/{id}")).StatusCode);
        var list = await owner.Client.GetStringAsync($"/api/measurements/{id}/shares");
        Assert.Contains(reader.Email, list, StringComparison.Ordinal);
        Assert.DoesNotContain(third.Email, list, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnrelatedUserGetsExactlyTheUnknownIdAnswerOnEverySharingPath()
    {
        var owner = await PartyAsync();
        var reader = await PartyAsync();
        var stranger = await PartyAsync();
        var name = "Private run " + Guid.NewGuid().ToString("N")[..6];
        var id = await StoreAsync(owner, name);
        Assert.Equal(HttpStatusCode.Created, (await owner.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = reader.Email })).StatusCode);
        var unknown = Guid.NewGuid();
        string[] secrets = [name, owner.Email, owner.UserId, reader.Email, reader.UserId];

        foreach (var (method, path, body) in new (string, string, string?)[]
        {
            ("GET", "/api/measurements/{0}/shares", null),
            ("POST", "/api/measurements/{0}/shares", JsonSerializer.Serialize(new { email = stranger.Email })),
            ("POST", "/api/measurements/{0}/shares", JsonSerializer.Serialize(new { email = "nobody@nowhere.test" })),
            ("DELETE", "/api/measurements/{0}/shares/" + Uri.EscapeDataString(reader.Email), null),
            ("DELETE", "/api/measurements/{0}/shares/" + Uri.EscapeDataString(stranger.Email), null),
            ("GET", "/api/measurements/{0}", null),
            ("POST", "/api/measurements/{0}/stop", "{}"),
            ("DELETE", "/api/measurements/{0}", null),
        })
        {
            var expected = await SendAsync(stranger.Client, method, AccessProbe.Format(path, unknown), body);
            Assert.Equal(HttpStatusCode.NotFound, expected.Status);
            var answer = await SendAsync(stranger.Client, method, AccessProbe.Format(path, id), body);
            Assert.True(answer.Status == expected.Status, $"{method} {path}: {(int)answer.Status}");
            Assert.Equal(expected.Comparable, answer.Comparable);
            AccessProbe.AssertNoSecret(answer.Raw, secrets);
        }
        AccessProbe.AssertNoSecret(await stranger.Client.GetStringAsync("/api/measurements/shared"), [.. secrets, id.ToString()]);
        // Nothing the stranger sent changed the shares.
        var shares = JsonDocument.Parse(await owner.Client.GetStringAsync($"/api/measurements/{id}/shares")).RootElement;
        Assert.Equal([reader.Email], shares.EnumerateArray().Select(s => s.GetProperty("email").GetString()!).ToArray());
    }

    [Fact]
    public async Task RevokingAShareEndsReadAccessAtOnceWithTheUnknownIdAnswer()
    {
        var owner = await PartyAsync();
        var reader = await PartyAsync();
        var id = await StoreAsync(owner, "Revoked run");
        Assert.Equal(HttpStatusCode.Created, (await owner.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = reader.Email })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await reader.Client.GetAsync($"/api/measurements/{id}")).StatusCode);

        // The e-mail is matched like a login: case does not matter.
        Assert.Equal(HttpStatusCode.NoContent, (await owner.Client.DeleteAsync($"/api/measurements/{id}/shares/{Uri.EscapeDataString(reader.Email.ToUpperInvariant())}")).StatusCode);

        var unknown = Guid.NewGuid();
        foreach (var path in ReadPaths)
        {
            var expected = await SendAsync(reader.Client, "GET", AccessProbe.Format(path, unknown), null);
            var answer = await SendAsync(reader.Client, "GET", AccessProbe.Format(path, id), null);
            Assert.Equal(HttpStatusCode.NotFound, answer.Status);
            Assert.Equal(expected.Comparable, answer.Comparable);
        }
        Assert.DoesNotContain(id.ToString(), await reader.Client.GetStringAsync("/api/measurements/shared"), StringComparison.Ordinal);
        // Revoking again: not shared (404 naming the e-mail), not a 500.
        var again = await owner.Client.DeleteAsync($"/api/measurements/{id}/shares/{Uri.EscapeDataString(reader.Email)}");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        Assert.Contains("not shared with", await again.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SharingWithAnUnknownEmailOrTheOwnerIsRefusedWith400NamingTheProblemAndAShareTwiceIsOne()
    {
        var owner = await PartyAsync();
        var reader = await PartyAsync();
        var id = await StoreAsync(owner, "Run");

        var unknown = await owner.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = "nobody@nowhere.test" });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("No user has the e-mail nobody@nowhere.test", await unknown.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var self = await owner.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = owner.Email });
        Assert.Equal(HttpStatusCode.BadRequest, self.StatusCode);
        Assert.Contains("owns this measurement", await self.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        foreach (var body in new[] { "{}", "{\"email\":\"\"}", "{\"email\":\"no-at-sign\"}", "not json" })
        {
            var bad = await SendAsync(owner.Client, "POST", $"/api/measurements/{id}/shares", body);
            Assert.True(bad.Status == HttpStatusCode.BadRequest, $"{body}: {(int)bad.Status} {bad.Raw}");
            Assert.Contains("email", bad.Raw, StringComparison.Ordinal);
        }
        using var form = new StringContent("email=" + reader.Email, Encoding.UTF8, "application/x-www-form-urlencoded");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await owner.Client.PostAsync($"/api/measurements/{id}/shares", form)).StatusCode);

        Assert.Equal(HttpStatusCode.Created, (await owner.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = reader.Email })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await owner.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = reader.Email.ToUpperInvariant() })).StatusCode);
        Assert.Single(JsonDocument.Parse(await owner.Client.GetStringAsync($"/api/measurements/{id}/shares")).RootElement.EnumerateArray());
    }

    [Fact]
    public async Task AnAdminSeesWhoHasAccessAndDeletingTheMeasurementEndsItsShares()
    {
        var owner = await PartyAsync();
        var reader = await PartyAsync();
        var id = await StoreAsync(owner, "Run");
        Assert.Equal(HttpStatusCode.Created, (await owner.Client.PostAsJsonAsync($"/api/measurements/{id}/shares", new { email = reader.Email })).StatusCode);
        using var admin = await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
        var list = JsonDocument.Parse(await admin.GetStringAsync($"/api/measurements/{id}/shares")).RootElement;
        var share = Assert.Single(list.EnumerateArray());
        Assert.Equal(reader.Email, share.GetProperty("email").GetString());
        Assert.Equal(owner.Email, share.GetProperty("grantedBy").GetString());

        Assert.Equal(HttpStatusCode.NoContent, (await owner.Client.DeleteAsync($"/api/measurements/{id}")).StatusCode);
        Assert.DoesNotContain(id.ToString(), await reader.Client.GetStringAsync("/api/measurements/shared"), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await reader.Client.GetAsync($"/api/measurements/{id}")).StatusCode);
    }

    internal sealed record Party(string UserId, string Email, HttpClient Client);

    private async Task<Party> PartyAsync()
    {
        var user = await Users.CreateOperatorAsync(_factory.Services);
        return new Party(user.Id, user.Email!, await HttpLogin.LoggedInClientAsync(_factory, user.Email!, Users.Password));
    }

    private Task<Guid> StoreAsync(Party owner, string name) => AccessProbe.StoreMeasurementAsync(_factory.Services, owner.UserId, owner.Email, name);

    private static async Task<JsonElement> CreateAnnotationAsync(HttpClient client, Guid id, string title)
    {
        var response = await client.PostAsJsonAsync($"/api/measurements/{id}/annotations", new { title, from = 0.5, to = 1.0 });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    internal sealed record Answer(HttpStatusCode Status, string Comparable, string Raw);

    internal static async Task<Answer> SendAsync(HttpClient client, string method, string url, string? jsonBody)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), url);
        if (jsonBody is not null)
        {
            request.Content = new StringContent(jsonBody, Encoding.UTF8, "application/json");
        }
        using var response = await client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var type = response.Content.Headers.ContentType?.ToString() ?? "";
        return new Answer(response.StatusCode, type + "\n" + AccessProbe.WithoutTraceId(body), body);
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteShareApiTests() : ShareApiTests(DatabaseProvider.Sqlite);

public sealed class PostgresShareApiTests() : ShareApiTests(DatabaseProvider.Postgres);
