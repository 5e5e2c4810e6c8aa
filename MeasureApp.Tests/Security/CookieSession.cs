using System.Net;
using System.Text.RegularExpressions;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;

namespace MeasureApp.Tests.Security;

/// <summary>A login whose cookies the test can see and copy (the factory's own cookie handler hides them).</summary>
public sealed partial class CookieSession(HttpClient client)
{
    public Dictionary<string, string> Cookies { get; } = new(StringComparer.Ordinal);

    /// <summary>Extra headers sent with every request (a client address, forwarded headers).</summary>
    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);

    public static CookieSession Create(AppFactory factory, Uri? baseAddress = null) =>
        new(factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = false, BaseAddress = baseAddress ?? new Uri("http://localhost") }));

    /// <summary>Logs in through the real form; asserts success.</summary>
    public static async Task<CookieSession> LoginAsync(AppFactory factory, string email, string password)
    {
        var session = Create(factory);
        using var response = await session.PostLoginAsync(email, password);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.True(session.Cookies.ContainsKey("MeasureApp.Auth"), "No login cookie was set.");
        return session;
    }

    public async Task<HttpResponseMessage> PostLoginAsync(string email, string password, string path = "/Account/Login") =>
        await PostFormAsync(path, new()
        {
            ["_handler"] = "login",
            ["__RequestVerificationToken"] = await FormTokenAsync(path),
            ["Input.Email"] = email,
            ["Input.Password"] = password,
        });

    public async Task<string> FormTokenAsync(string path)
    {
        using var response = await GetAsync(path);
        var token = Token().Match(await response.Content.ReadAsStringAsync());
        Assert.True(token.Success, $"{path} has no antiforgery token.");
        return WebUtility.HtmlDecode(token.Groups[1].Value);
    }

    public Task<HttpResponseMessage> GetAsync(string path) => SendAsync(new HttpRequestMessage(HttpMethod.Get, path));

    public Task<HttpResponseMessage> PostFormAsync(string path, Dictionary<string, string> form) =>
        SendAsync(new HttpRequestMessage(HttpMethod.Post, path) { Content = new FormUrlEncodedContent(form) });

    public async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        using (request)
        {
            if (Cookies.Count > 0)
            {
                request.Headers.Add("Cookie", string.Join("; ", Cookies.Select(c => $"{c.Key}={c.Value}")));
            }
            foreach (var (name, value) in Headers)
            {
                request.Headers.Add(name, value);
            }
            var response = await client.SendAsync(request);
            if (response.Headers.TryGetValues("Set-Cookie", out var setCookies))
            {
                foreach (var line in setCookies)
                {
                    var pair = line.Split(';', 2)[0];
                    var eq = pair.IndexOf('=', StringComparison.Ordinal);
                    var (name, value) = (pair[..eq], pair[(eq + 1)..]);
                    if (value.Length == 0 || line.Contains("expires=Thu, 01 Jan 1970", StringComparison.OrdinalIgnoreCase))
                    {
                        Cookies.Remove(name);
                    }
                    else
                    {
                        Cookies[name] = value;
                    }
                }
            }
            return response;
        }
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex Token();
}
