using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MeasureApp.Annotations;
using MeasureApp.Data;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Annotations;

/// <summary>
/// The annotations API over HTTP on each provider: the owner's whole round trip, another user's measurement
/// answering like an unknown one on every verb, who may change and delete, refused input naming the field
/// (and storing nothing), content types, and annotations going with their measurement.
/// </summary>
public abstract class AnnotationApiTests(DatabaseProvider provider) : IDisposable
{
    private readonly AppFactory _factory = new(provider);

    [Fact]
    public async Task TheOwnerAddsListsChangesAndDeletesPointAndRangeAnnotations()
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId);

        var range = await CreateAsync(client, id, new { title = "Overshoot", text = "after the relay closed", from = 1.25, to = 1.5, tags = new[] { "relay", "glitch", "Relay" } });
        var point = await CreateAsync(client, id, new { title = "Probe moved", from = 0.5 });
        Assert.Equal("Overshoot", range.GetProperty("title").GetString());
        Assert.Equal(["relay", "glitch"], range.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!).ToArray());
        Assert.Equal(JsonValueKind.Null, point.GetProperty("to").ValueKind);
        Assert.Equal(userId, point.GetProperty("authorId").GetString());

        var list = await ApiJson.GetAsync(client, $"/api/measurements/{id}/annotations");
        Assert.Equal(["Probe moved", "Overshoot"], list.EnumerateArray().Select(a => a.GetProperty("title").GetString()!).ToArray());
        Assert.Equal(1.25, list[1].GetProperty("from").GetDouble());
        Assert.Equal(1.5, list[1].GetProperty("to").GetDouble());

        var rangeId = range.GetProperty("id").GetGuid();
        var put = await client.PutAsJsonAsync($"/api/measurements/{id}/annotations/{rangeId}", new { title = "Overshoot (12 %)", from = 1.25, to = 1.75, tags = new[] { "relay" } });
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        var changed = (await ApiJson.GetAsync(client, $"/api/measurements/{id}/annotations"))[1];
        Assert.Equal("Overshoot (12 %)", changed.GetProperty("title").GetString());
        Assert.Equal(1.75, changed.GetProperty("to").GetDouble());
        Assert.Equal(JsonValueKind.Null, changed.GetProperty("text").ValueKind);

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/measurements/{id}/annotations/{point.GetProperty("id").GetGuid()}")).StatusCode);
        Assert.Single((await ApiJson.GetAsync(client, $"/api/measurements/{id}/annotations")).EnumerateArray());
    }

    [Fact]
    public async Task AnotherUsersMeasurementAnswersLikeAnUnknownIdOnEveryAnnotationVerb()
    {
        var (owner, ownerId) = await OperatorAsync();
        var (other, _) = await OperatorAsync();
        var id = await StoreAsync(ownerId);
        var annotationId = (await CreateAsync(owner, id, new { title = "Secret", from = 0.1 })).GetProperty("id").GetGuid();
        var unknownId = Guid.NewGuid();

        foreach (var (foreignRequest, unknownRequest) in new (Func<Task<HttpResponseMessage>>, Func<Task<HttpResponseMessage>>)[]
        {
            (() => other.GetAsync($"/api/measurements/{id}/annotations"), () => other.GetAsync($"/api/measurements/{unknownId}/annotations")),
            (() => other.PostAsJsonAsync($"/api/measurements/{id}/annotations", new { title = "x", from = 0 }), () => other.PostAsJsonAsync($"/api/measurements/{unknownId}/annotations", new { title = "x", from = 0 })),
            (() => other.PutAsJsonAsync($"/api/measurements/{id}/annotations/{annotationId}", new { title = "x", from = 0 }), () => other.PutAsJsonAsync($"/api/measurements/{unknownId}/annotations/{annotationId}", new { title = "x", from = 0 })),
            (() => other.DeleteAsync($"/api/measurements/{id}/annotations/{annotationId}"), () => other.DeleteAsync($"/api/measurements/{unknownId}/annotations/{annotationId}")),
        })
        {
            var foreign = await foreignRequest();
            var unknown = await unknownRequest();
            Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            var foreignBody = AccessProbe.WithoutTraceId(await foreign.Content.ReadAsStringAsync());
            Assert.Equal(AccessProbe.WithoutTraceId(await unknown.Content.ReadAsStringAsync()), foreignBody);
            Assert.DoesNotContain("Secret", foreignBody, StringComparison.Ordinal);
        }
        // Nothing the other user sent changed anything.
        var list = await ApiJson.GetAsync(owner, $"/api/measurements/{id}/annotations");
        Assert.Equal("Secret", Assert.Single(list.EnumerateArray()).GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await HttpLogin.CreateClient(_factory).GetAsync($"/api/measurements/{id}/annotations")).StatusCode);
    }

    [Fact]
    public async Task OnlyTheAuthorChangesAnAnnotationAndTheOwnerOrAnAdminMayDeleteIt()
    {
        var (owner, ownerId) = await OperatorAsync();
        var id = await StoreAsync(ownerId);
        var admin = await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
        var byAdmin = (await CreateAsync(admin, id, new { title = "Checked by the lab admin", from = 0.2 })).GetProperty("id").GetGuid();
        var byOwner = (await CreateAsync(owner, id, new { title = "Owner's note", from = 0.3 })).GetProperty("id").GetGuid();

        // The owner may not reword the admin's note, but may remove it from their measurement.
        var reworded = await owner.PutAsJsonAsync($"/api/measurements/{id}/annotations/{byAdmin}", new { title = "Forged", from = 0.2 });
        Assert.Equal(HttpStatusCode.Forbidden, reworded.StatusCode);
        var adminReworded = await admin.PutAsJsonAsync($"/api/measurements/{id}/annotations/{byOwner}", new { title = "Forged", from = 0.3 });
        Assert.Equal(HttpStatusCode.Forbidden, adminReworded.StatusCode);
        var titles = (await ApiJson.GetAsync(owner, $"/api/measurements/{id}/annotations")).EnumerateArray().Select(a => a.GetProperty("title").GetString()!).ToArray();
        Assert.Equal(["Checked by the lab admin", "Owner's note"], titles);

        Assert.Equal(HttpStatusCode.NoContent, (await owner.DeleteAsync($"/api/measurements/{id}/annotations/{byAdmin}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/measurements/{id}/annotations/{byOwner}")).StatusCode);
        Assert.Empty((await ApiJson.GetAsync(owner, $"/api/measurements/{id}/annotations")).EnumerateArray());
        // An annotation id of another measurement is not found here.
        var otherId = await StoreAsync(ownerId);
        var elsewhere = (await CreateAsync(owner, otherId, new { title = "Elsewhere", from = 0 })).GetProperty("id").GetGuid();
        Assert.Equal(HttpStatusCode.NotFound, (await owner.DeleteAsync($"/api/measurements/{id}/annotations/{elsewhere}")).StatusCode);
    }

    [Theory]
    [InlineData("""{"from":1}""", "title")]
    [InlineData("""{"title":"   ","from":1}""", "title")]
    [InlineData("""{"title":"two\nlines","from":1}""", "title")]
    [InlineData("""{"title":"ok"}""", "from")]
    [InlineData("""{"title":"ok","from":-0.5}""", "from")]
    [InlineData("""{"title":"ok","from":"soon"}""", "from")]
    [InlineData("""{"title":"ok","from":2,"to":1}""", "to")]
    [InlineData("""{"title":"ok","from":1,"tags":["a",""]}""", "tags")]
    [InlineData("""{"title":"ok","from":1,"tags":"a"}""", "tags")]
    [InlineData("""[1,2]""", "body")]
    public async Task RefusedInputGetsABadRequestNamingTheFieldAndStoresNothing(string body, string field)
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId);

        var response = await client.PostAsync($"/api/measurements/{id}/annotations", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), $"errors has no '{field}': {problem}");
        Assert.False(string.IsNullOrWhiteSpace(messages[0].GetString()));
        Assert.Empty((await ApiJson.GetAsync(client, $"/api/measurements/{id}/annotations")).EnumerateArray());
    }

    [Fact]
    public async Task TooLongTextAndTooManyTagsAreRefusedWithTheNumbers()
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId);

        var longText = await client.PostAsJsonAsync($"/api/measurements/{id}/annotations", new { title = "t", from = 0, text = new string('x', AnnotationService.MaxTextLength + 1) });
        var manyTags = await client.PostAsJsonAsync($"/api/measurements/{id}/annotations", new { title = "t", from = 0, tags = Enumerable.Range(0, AnnotationService.MaxTags + 1).Select(i => $"t{i}") });

        Assert.Equal(HttpStatusCode.BadRequest, longText.StatusCode);
        Assert.Contains("4001", await longText.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, manyTags.StatusCode);
        Assert.Contains("21", await manyTags.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFormPostOrPutIsRefusedAsUnsupportedMediaType()
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId);
        var created = (await CreateAsync(client, id, new { title = "t", from = 0 })).GetProperty("id").GetGuid();
        var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["title"] = "forged", ["from"] = "0" });

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.PostAsync($"/api/measurements/{id}/annotations", form)).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.PutAsync($"/api/measurements/{id}/annotations/{created}", form)).StatusCode);
        Assert.Equal("t", Assert.Single((await ApiJson.GetAsync(client, $"/api/measurements/{id}/annotations")).EnumerateArray()).GetProperty("title").GetString());
    }

    [Fact]
    public async Task DeletingAMeasurementDeletesItsAnnotations()
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId);
        var keep = await StoreAsync(userId);
        await CreateAsync(client, id, new { title = "goes", from = 0 });
        await CreateAsync(client, keep, new { title = "stays", from = 0 });

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/measurements/{id}")).StatusCode);

        await using var db = await _factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>().CreateDbContextAsync();
        Assert.Equal(0, await db.Annotations.CountAsync(a => a.MeasurementId == id));
        Assert.Equal(1, await db.Annotations.CountAsync(a => a.MeasurementId == keep));
    }

    private async Task<(HttpClient Client, string UserId)> OperatorAsync()
    {
        var (user, client) = await HttpLogin.LoggedInOperatorAsync(_factory);
        return (client, user.Id);
    }

    private Task<Guid> StoreAsync(string ownerId) => AccessProbe.StoreMeasurementAsync(_factory.Services, ownerId, ownerId, "Annotated");

    private static async Task<JsonElement> CreateAsync(HttpClient client, Guid id, object body)
    {
        var response = await client.PostAsJsonAsync($"/api/measurements/{id}/annotations", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode} {text}");
        Assert.NotNull(response.Headers.Location);
        return JsonDocument.Parse(text).RootElement;
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteAnnotationApiTests() : AnnotationApiTests(DatabaseProvider.Sqlite);

public sealed class PostgresAnnotationApiTests() : AnnotationApiTests(DatabaseProvider.Postgres);
