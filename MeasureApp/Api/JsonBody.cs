using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MeasureApp.Api;

/// <summary>
/// Reads the JSON body of an API request (the content type is checked by
/// <see cref="MeasurementEndpoints.RequireJsonOnPost"/>). Malformed JSON is the caller's mistake, so it
/// answers 400 with a validation problem naming the field, never a 500.
/// </summary>
public static class JsonBody
{
    /// <summary>
    /// The body as <typeparamref name="T"/>, or the 400 to answer instead: for malformed JSON, and for
    /// an empty (<c>null</c>) body when <paramref name="requiredMessage"/> says what is expected.
    /// </summary>
    public static async Task<(T? Body, ValidationProblem? Refused)> ReadAsync<T>(HttpContext http, string? requiredMessage = null)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(http);
        try
        {
            var body = await http.Request.ReadFromJsonAsync<T>(http.RequestAborted);
            return body is null && requiredMessage is not null ? (null, Refuse("body", requiredMessage)) : (body, null);
        }
        catch (JsonException ex)
        {
            var field = string.IsNullOrEmpty(ex.Path) || ex.Path == "$" ? "body" : ex.Path.TrimStart('$', '.');
            return (null, Refuse(field, $"Not valid JSON here: {ex.Message}"));
        }
    }

    /// <summary>A 400 validation problem with one message for one field.</summary>
    public static ValidationProblem Refuse(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] });
}
