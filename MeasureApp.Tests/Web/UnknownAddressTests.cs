using System.Net;
using System.Text.Json;
using MeasureApp.Tests.Infrastructure;

namespace MeasureApp.Tests.Web;

/// <summary>
/// Addresses nobody mapped: pages answer with the not-found page and 404, API routes with a 404 problem
/// document, malformed ids like unknown ids, and a wrong method on a GET-only endpoint with 405 and a body.
/// </summary>
public abstract class UnknownAddressTests(DatabaseProvider provider) : IDisposable
{
    private readonly AppFactory _factory = new(provider);

    [Theory]
    [InlineData("/foo")]
    [InlineData("/measurements/not-a-guid")]
    [InlineData("/admin/no-such-page")]
    public async Task AnUnknownPageShowsTheNotFoundPageWith404ToAnonymousAndSignedInUsers(string path)
    {
        var anonymous = HttpLogin.CreateClient(_factory);
        var signedIn = await OperatorClientAsync();

        foreach (var client in new[] { anonymous, signedIn })
        {
            var response = await client.GetAsync(path);

            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("Not found", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("/api/foo")]
    [InlineData("/api/measurements/not-a-guid")]
    [InlineData("/api/measurements/abc/export")]
    [InlineData("/api/measurements/abc/stop")]
    [InlineData("/api/exports/")]
    public async Task AnUnknownApiAddressAnswersA404ProblemDocument(string path)
    {
        var client = await OperatorClientAsync();

        var response = await client.GetAsync(path);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(404, problem.RootElement.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task AMalformedMeasurementIdAnswersLikeAnUnknownOne()
    {
        var client = await OperatorClientAsync();

        var unknown = await client.GetAsync($"/api/measurements/{Guid.NewGuid()}");
        var malformed = await client.GetAsync("/api/measurements/not-a-guid");
        var malformedDelete = await client.DeleteAsync("/api/measurements/not-a-guid");

        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(unknown.StatusCode, malformed.StatusCode);
        Assert.Equal(unknown.StatusCode, malformedDelete.StatusCode);
        Assert.Equal(unknown.Content.Headers.ContentType?.MediaType, malformed.Content.Headers.ContentType?.MediaType);
        Assert.Equal(unknown.Content.Headers.ContentType?.MediaType, malformedDelete.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("POST", "/api/measurements/00000000-0000-0000-0000-000000000001/export")]
    [InlineData("PUT", "/api/measurements")]
    [InlineData("POST", "/api/presence")]
    public async Task AWrongMethodOnAnEndpointAnswers405WithAProblemDocument(string method, string path)
    {
        var client = await AdminClientAsync();

        var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(405, problem.RootElement.GetProperty("status").GetInt32());
    }

    [Theory]
    [InlineData("/api/measurements/00000000-0000-0000-0000-000000000001/export")]
    [InlineData("/api/measurements")]
    public async Task HeadOnAGetOnlyApiEndpointAnswers405(string path)
    {
        var client = await OperatorClientAsync();

        var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }

    public void Dispose()
    {
        _factory.Dispose();
        GC.SuppressFinalize(this);
    }

    private async Task<HttpClient> OperatorClientAsync() =>
        (await HttpLogin.LoggedInOperatorAsync(_factory)).Client;

    private Task<HttpClient> AdminClientAsync() =>
        HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
}

public sealed class SqliteUnknownAddressTests() : UnknownAddressTests(DatabaseProvider.Sqlite);

public sealed class PostgresUnknownAddressTests() : UnknownAddressTests(DatabaseProvider.Postgres);
