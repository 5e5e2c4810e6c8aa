using System.Net;
using System.Text.RegularExpressions;
using MeasureApp.Data;
using Microsoft.AspNetCore.Mvc.Testing;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>Logs in through the real login form (antiforgery token and all) with a cookie-keeping client.</summary>
public static partial class HttpLogin
{
    public static HttpClient CreateClient(AppFactory factory) =>
        factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });

    /// <summary>Reads the antiforgery token of a form page.</summary>
    public static async Task<string> GetFormTokenAsync(HttpClient client, string path)
    {
        var page = await client.GetStringAsync(path);
        var token = AntiforgeryToken().Match(page);
        Assert.True(token.Success, $"{path} has no antiforgery token.");
        return WebUtility.HtmlDecode(token.Groups[1].Value);
    }

    /// <summary>Posts the login form; returns the response (302 on success, 200 with an error otherwise).</summary>
    public static async Task<HttpResponseMessage> PostLoginAsync(HttpClient client, string email, string password)
    {
        var token = await GetFormTokenAsync(client, "/Account/Login");
        var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "login",
            ["__RequestVerificationToken"] = token,
            ["Input.Email"] = email,
            ["Input.Password"] = password,
        });
        return await client.PostAsync("/Account/Login", form);
    }

    /// <summary>Logs in and asserts success.</summary>
    public static async Task<HttpClient> LoggedInClientAsync(AppFactory factory, string email, string password)
    {
        var client = CreateClient(factory);
        var response = await PostLoginAsync(client, email, password);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.DoesNotContain("Lockout", response.Headers.Location?.ToString() ?? "", StringComparison.Ordinal);
        return client;
    }

    /// <summary>A new operator and a client logged in as them.</summary>
    public static async Task<(AppUser User, HttpClient Client)> LoggedInOperatorAsync(AppFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var user = await Users.CreateOperatorAsync(factory.Services);
        return (user, await LoggedInClientAsync(factory, user.Email!, Users.Password));
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();
}
