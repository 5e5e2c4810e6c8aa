using System.Net;
using System.Text.Json;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>Reads of the JSON API that must answer 200; a failure names the path, the status and the body.</summary>
public static class ApiJson
{
    /// <summary>GETs <paramref name="path"/>, asserts 200 and returns the parsed body.</summary>
    public static async Task<JsonElement> GetAsync(HttpClient client, string path)
    {
        ArgumentNullException.ThrowIfNull(client);
        var response = await client.GetAsync(new Uri(path, UriKind.Relative));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement;
    }
}
