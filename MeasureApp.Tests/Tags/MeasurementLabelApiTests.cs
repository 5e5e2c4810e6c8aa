using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MeasureApp.Data;
using MeasureApp.Tags;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Tags;

/// <summary>
/// Tags and metadata over HTTP on each provider: the owner's round trip (also in the measurement and the list), an
/// admin's write, another user's measurement answering like an unknown id on every verb, refused input (400 with the
/// reason, nothing stored), content types, and labels going with their measurement.
/// </summary>
public abstract class MeasurementLabelApiTests(DatabaseProvider provider) : IDisposable
{
    private readonly AppFactory _factory = new(provider);

    [Fact]
    public async Task TheOwnerReplacesTagsAndMetadataAndSeesThemOnTheMeasurementAndInTheList()
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId);

        var tags = await PutAsync(client, $"/api/measurements/{id}/tags", new[] { "rev-b", " Calibration ", "REV-B" });
        var metadata = await PutAsync(client, $"/api/measurements/{id}/metadata", new Dictionary<string, string> { ["operator"] = "Ada", ["Serial number"] = " SN-42 " });

        Assert.Equal(["Calibration", "rev-b"], tags.EnumerateArray().Select(t => t.GetString()!).ToArray());
        Assert.Equal("SN-42", metadata.GetProperty("Serial number").GetString());
        var one = await ApiJson.GetAsync(client, $"/api/measurements/{id}");
        Assert.Equal(["Calibration", "rev-b"], one.GetProperty("tags").EnumerateArray().Select(t => t.GetString()!).ToArray());
        Assert.Equal("Ada", one.GetProperty("metadata").GetProperty("operator").GetString());
        var listed = (await ApiJson.GetAsync(client, "/api/measurements")).GetProperty("items").EnumerateArray().Single(m => m.GetProperty("id").GetGuid() == id);
        Assert.Equal(2, listed.GetProperty("metadata").EnumerateObject().Count());

        // A PUT replaces the whole set; empty ones clear it.
        Assert.Equal(["field"], (await PutAsync(client, $"/api/measurements/{id}/tags", new[] { "field" })).EnumerateArray().Select(t => t.GetString()!).ToArray());
        await PutAsync(client, $"/api/measurements/{id}/metadata", new Dictionary<string, string>());
        Assert.Empty((await ApiJson.GetAsync(client, $"/api/measurements/{id}/metadata")).EnumerateObject());
        Assert.Equal(["field"], (await ApiJson.GetAsync(client, $"/api/measurements/{id}/tags")).EnumerateArray().Select(t => t.GetString()!).ToArray());
    }

    [Fact]
    public async Task AnAdminChangesTheTagsOfSomeoneElsesMeasurement()
    {
        var (_, ownerId) = await OperatorAsync();
        var id = await StoreAsync(ownerId);
        var admin = await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);

        await PutAsync(admin, $"/api/measurements/{id}/tags", new[] { "reviewed" });

        Assert.Equal("reviewed", Assert.Single((await ApiJson.GetAsync(admin, $"/api/measurements/{id}/tags")).EnumerateArray()).GetString());
    }

    [Fact]
    public async Task AnotherUsersMeasurementAnswersLikeAnUnknownIdOnEveryTagAndMetadataVerb()
    {
        var (owner, ownerId) = await OperatorAsync();
        var (other, _) = await OperatorAsync();
        var id = await StoreAsync(ownerId);
        await PutAsync(owner, $"/api/measurements/{id}/tags", new[] { "secret-tag" });
        await PutAsync(owner, $"/api/measurements/{id}/metadata", new Dictionary<string, string> { ["project"] = "secret-project" });
        var unknownId = Guid.NewGuid();

        foreach (var request in new Func<Guid, Task<HttpResponseMessage>>[]
        {
            m => other.GetAsync($"/api/measurements/{m}/tags"),
            m => other.PutAsJsonAsync($"/api/measurements/{m}/tags", new[] { "forged" }),
            m => other.GetAsync($"/api/measurements/{m}/metadata"),
            m => other.PutAsJsonAsync($"/api/measurements/{m}/metadata", new Dictionary<string, string> { ["project"] = "forged" }),
        })
        {
            var foreign = await request(id);
            var unknown = await request(unknownId);
            Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            var foreignBody = AccessProbe.WithoutTraceId(await foreign.Content.ReadAsStringAsync());
            Assert.Equal(AccessProbe.WithoutTraceId(await unknown.Content.ReadAsStringAsync()), foreignBody);
            AccessProbe.AssertNoSecret(foreignBody, ["secret-tag", "secret-project", ownerId]);
        }
        // Nothing the other user sent changed anything, and their search finds nothing of the owner's.
        Assert.Equal("secret-tag", Assert.Single((await ApiJson.GetAsync(owner, $"/api/measurements/{id}/tags")).EnumerateArray()).GetString());
        Assert.Equal("secret-project", (await ApiJson.GetAsync(owner, $"/api/measurements/{id}/metadata")).GetProperty("project").GetString());
        Assert.Equal(0, (await ApiJson.GetAsync(other, "/api/measurements?search=secret")).GetProperty("total").GetInt32());
        Assert.Equal(HttpStatusCode.Unauthorized, (await HttpLogin.CreateClient(_factory).GetAsync($"/api/measurements/{id}/tags")).StatusCode);
    }

    [Theory]
    [InlineData("tags", """["ok",""]""", "Empty tags")]
    [InlineData("tags", """["ok","  "]""", "Empty tags")]
    [InlineData("tags", """["ok",null]""", "Empty tags")]
    [InlineData("tags", """["two\nlines"]""", "control characters")]
    [InlineData("tags", """["0123456789012345678901234567890123456789x"]""", "at most 40")]
    [InlineData("tags", """"not a list"""", "JSON array of strings")]
    [InlineData("tags", """{"a":"b"}""", "JSON array of strings")]
    [InlineData("tags", """null""", "JSON array")]
    [InlineData("metadata", """{"":"x"}""", "keys may not be empty")]
    [InlineData("metadata", """{"operator":""}""", "is empty")]
    [InlineData("metadata", """{"operator":null}""", "is empty")]
    [InlineData("metadata", """{"operator":"a","Operator":"b"}""", "appears twice")]
    [InlineData("metadata", """{"count":3}""", "JSON object of string values")]
    [InlineData("metadata", """["a"]""", "JSON object of string values")]
    public async Task RefusedTagsOrMetadataGetABadRequestWithTheReasonAndStoreNothing(string what, string body, string reason)
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId);

        var response = await client.PutAsync($"/api/measurements/{id}/{what}", new StringContent(body, Encoding.UTF8, "application/json"));

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {text}");
        Assert.Contains(reason, JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await using var db = await _factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>().CreateDbContextAsync();
        Assert.Equal(0, await db.MeasurementTags.CountAsync(t => t.MeasurementId == id));
        Assert.Equal(0, await db.MeasurementMetadata.CountAsync(m => m.MeasurementId == id));
    }

    [Fact]
    public async Task TooManyTagsOrEntriesOrATooLongValueAreRefusedWithTheNumbers()
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId);

        var manyTags = await client.PutAsJsonAsync($"/api/measurements/{id}/tags", Enumerable.Range(0, MeasurementLabelService.MaxTags + 1).Select(i => $"t{i}"));
        var manyEntries = await client.PutAsJsonAsync($"/api/measurements/{id}/metadata", Enumerable.Range(0, MeasurementLabelService.MaxEntries + 1).ToDictionary(i => $"k{i}", i => "v"));
        var longValue = await client.PutAsJsonAsync($"/api/measurements/{id}/metadata", new Dictionary<string, string> { ["notes"] = new string('x', MeasurementLabelService.MaxValueLength + 1) });

        Assert.Equal(HttpStatusCode.BadRequest, manyTags.StatusCode);
        Assert.Contains("31", await manyTags.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, manyEntries.StatusCode);
        Assert.Contains("31", await manyEntries.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, longValue.StatusCode);
        Assert.Contains("501", await longValue.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AFormPutIsRefusedAsUnsupportedMediaType()
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId);
        var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["tags"] = "forged" });

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.PutAsync($"/api/measurements/{id}/tags", form)).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.PutAsync($"/api/measurements/{id}/metadata", form)).StatusCode);
        Assert.Empty((await ApiJson.GetAsync(client, $"/api/measurements/{id}/tags")).EnumerateArray());
    }

    [Fact]
    public async Task DeletingAMeasurementDeletesItsTagsAndMetadata()
    {
        var (client, userId) = await OperatorAsync();
        var id = await StoreAsync(userId);
        var keep = await StoreAsync(userId);
        foreach (var m in new[] { id, keep })
        {
            await PutAsync(client, $"/api/measurements/{m}/tags", new[] { "t" });
            await PutAsync(client, $"/api/measurements/{m}/metadata", new Dictionary<string, string> { ["k"] = "v" });
        }

        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/measurements/{id}")).StatusCode);

        await using var db = await _factory.Services.GetRequiredService<IDbContextFactory<AppDbContext>>().CreateDbContextAsync();
        Assert.Equal(0, await db.MeasurementTags.CountAsync(t => t.MeasurementId == id) + await db.MeasurementMetadata.CountAsync(t => t.MeasurementId == id));
        Assert.Equal(2, await db.MeasurementTags.CountAsync(t => t.MeasurementId == keep) + await db.MeasurementMetadata.CountAsync(t => t.MeasurementId == keep));
    }

    private async Task<(HttpClient Client, string UserId)> OperatorAsync()
    {
        var (user, client) = await HttpLogin.LoggedInOperatorAsync(_factory);
        return (client, user.Id);
    }

    private Task<Guid> StoreAsync(string ownerId) => AccessProbe.StoreMeasurementAsync(_factory.Services, ownerId, ownerId, "Labelled");

    private static async Task<JsonElement> PutAsync<T>(HttpClient client, string path, T body)
    {
        var response = await client.PutAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteMeasurementLabelApiTests() : MeasurementLabelApiTests(DatabaseProvider.Sqlite);

public sealed class PostgresMeasurementLabelApiTests() : MeasurementLabelApiTests(DatabaseProvider.Postgres);
