using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>
/// SPEC §10 access matrix in real Chromium: two operators in two browser contexts, each with a stored
/// and a running measurement. Every id-bearing page and API tried with the other's ids answers exactly
/// like an unknown id and shows neither the name nor the owner; an admin sees both.
/// </summary>
public sealed class CrossAccessBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private sealed record Party(string UserId, string Email, IPage Page, Guid Stored, string StoredName, Guid Running, string RunningName);

    [Fact]
    public async Task EachUserSeesOnlyTheirOwnAndEveryGuessedAddressOfTheOtherAnswersLikeAnUnknownId()
    {
        var engine = browser.Factory.Services.GetRequiredService<MeasurementEngine>();
        var alice = await CreatePartyAsync("alice");
        var bob = await CreatePartyAsync("bob");
        try
        {
            await AssertIsolatedAsync(alice, bob);
            await AssertIsolatedAsync(bob, alice);

            // Nothing the guesses tried (stop, delete) had an effect.
            var admin = new Requester("admin-check", AppFactory.AdminEmail, IsAdmin: true);
            Assert.NotNull(engine.Find(alice.Running, admin));
            Assert.NotNull(engine.Find(bob.Running, admin));
            var catalog = browser.Factory.Services.GetRequiredService<MeasureApp.History.MeasurementCatalog>();
            Assert.NotNull(await catalog.FindAsync(admin, alice.Stored, CancellationToken.None));
            Assert.NotNull(await catalog.FindAsync(admin, bob.Stored, CancellationToken.None));

            // The admin sees both users' measurements, with owners, and may open and export them.
            var adminPage = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
            await BrowserFixture.GotoInteractiveAsync(adminPage, "/measurements");
            foreach (var p in new[] { alice, bob })
            {
                var row = adminPage.Locator("#measurements-grid tr", new PageLocatorOptions { HasText = p.StoredName });
                await row.WaitForAsync();
                Assert.Contains(p.Email, await row.InnerTextAsync(), StringComparison.Ordinal);
                await BrowserFixture.GotoInteractiveAsync(adminPage, $"/measurements/{p.Stored}");
                await Assertions.Expect(adminPage.Locator("#detail-name")).ToHaveTextAsync(p.StoredName);
                var export = await adminPage.Context.APIRequest.GetAsync($"/api/measurements/{p.Stored}/export?format=csv");
                Assert.Equal(200, export.Status);
                await BrowserFixture.GotoInteractiveAsync(adminPage, "/measurements");
            }
            await adminPage.Context.CloseAsync();
        }
        finally
        {
            var admin = new Requester("admin-cleanup", AppFactory.AdminEmail, IsAdmin: true);
            await engine.StopAsync(alice.Running, admin, CancellationToken.None);
            await engine.StopAsync(bob.Running, admin, CancellationToken.None);
            await alice.Page.Context.CloseAsync();
            await bob.Page.Context.CloseAsync();
        }
    }

    // One user logged in in their own browser context, a stored measurement and one started on the Live page.
    private async Task<Party> CreatePartyAsync(string who)
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        var user = await Users.CreateOperatorAsync(browser.Factory.Services, $"{who}-{tag}@test.local");
        var storedName = $"{who} stored {tag}";
        var stored = await AccessProbe.StoreMeasurementAsync(browser.Factory.Services, user.Id, user.Email!, storedName);
        var page = await browser.LoggedInPageAsync(user.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        var runningName = $"{who} running {tag}";
        await LivePageDriver.StartMeasurementAsync(page, runningName);
        var card = page.Locator(".live-chart", new PageLocatorOptions { HasText = runningName });
        await card.WaitForAsync();
        var running = Guid.Parse((await card.GetAttributeAsync("data-measurement"))!);
        return new Party(user.Id, user.Email!, page, stored, storedName, running, runningName);
    }

    private static async Task AssertIsolatedAsync(Party me, Party other)
    {
        var page = me.Page;
        var unknown = Guid.NewGuid();
        var secrets = new[] { other.StoredName, other.RunningName, other.Email };

        // Measurements page: mine are listed, the other's are not.
        await BrowserFixture.GotoInteractiveAsync(page, "/measurements");
        await page.Locator("#measurements-grid tr", new PageLocatorOptions { HasText = me.StoredName }).WaitForAsync();
        await page.Locator("#measurements-grid tr", new PageLocatorOptions { HasText = me.RunningName }).WaitForAsync();
        AccessProbe.AssertNoSecret(await page.InnerTextAsync("body"), secrets);

        // Live page: only my running measurement has a chart.
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await page.Locator(".live-chart", new PageLocatorOptions { HasText = me.RunningName }).WaitForAsync();
        Assert.Equal([me.Running.ToString()], await page.Locator(".live-chart").EvaluateAllAsync<string[]>("cards => cards.map(c => c.dataset.measurement)"));
        AccessProbe.AssertNoSecret(await page.InnerTextAsync("body"), secrets);

        // Detail page of the other's stored and running measurement: the same page as an unknown id.
        var unknownDetail = await DetailTextAsync(page, unknown);
        foreach (var id in new[] { other.Stored, other.Running })
        {
            var text = await DetailTextAsync(page, id);
            Assert.Equal(unknownDetail, text);
            AccessProbe.AssertNoSecret(text, secrets);
        }

        // APIs with my cookies: export in both formats and the REST resource (get, stop, delete).
        var api = page.Context.APIRequest;
        Assert.Equal(200, (await api.GetAsync($"/api/measurements/{me.Stored}")).Status);
        foreach (var (method, path) in ForeignRequests())
        {
            var expected = await SendAsync(api, method, AccessProbe.Format(path, unknown));
            Assert.Equal(404, expected.Status);
            foreach (var id in new[] { other.Stored, other.Running })
            {
                var response = await SendAsync(api, method, AccessProbe.Format(path, id));
                Assert.True(response.Status == 404, $"{method} {path} with the other's id answered {response.Status}");
                Assert.Equal(expected.Body, response.Body);
                AccessProbe.AssertNoSecret(response.RawBody, secrets);
            }
        }
        // The list, also when asking for the other's owner id or searching for the other's name (admin-only filters).
        foreach (var query in new[] { "", $"?owner={other.UserId}", $"?search={Uri.EscapeDataString(other.StoredName)}", "?pageSize=200" })
        {
            var list = await api.GetAsync("/api/measurements" + query);
            Assert.Equal(200, list.Status);
            var text = await list.TextAsync();
            AccessProbe.AssertNoSecret(text, [.. secrets, other.Stored.ToString(), other.Running.ToString(), other.UserId]);
            if (!query.Contains("search", StringComparison.Ordinal))
            {
                Assert.Contains(me.Stored.ToString(), text, StringComparison.Ordinal);
            }
        }

        // Replay: the picker lists only mine; a forged option with the other's id plays nothing and says what an unknown id says.
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await page.ClickAsync("#mode-replay");
        await page.WaitForSelectorAsync("#replay-select");
        var options = await page.Locator("#replay-select option").AllInnerTextsAsync();
        Assert.Contains(options, o => o.Contains(me.StoredName, StringComparison.Ordinal));
        AccessProbe.AssertNoSecret(string.Join("\n", options), secrets);
        var unknownReplay = await ForgedReplayAsync(page, unknown);
        foreach (var id in new[] { other.Stored, other.Running })
        {
            var answer = await ForgedReplayAsync(page, id);
            Assert.Equal(unknownReplay, answer);
            AccessProbe.AssertNoSecret(answer, secrets);
        }
    }

    // (method, path with {0} = id); every one must answer 404 for a foreign id.
    private static IEnumerable<(string Method, string Path)> ForeignRequests() =>
    [
        ("GET", "/api/measurements/{0}/export?format=csv"),
        ("GET", "/api/measurements/{0}/export?format=parquet"),
        ("GET", "/api/measurements/{0}/export?format=csv&from=0&to=1&channels=0"),
        ("GET", "/api/measurements/{0}"),
        ("POST", "/api/measurements/{0}/stop"),
        ("DELETE", "/api/measurements/{0}"),
    ];

    // Body: JSON answers compared whole (minus the trace id); a page answer (the app's not-found page carries
    // per-request render state) by its content type only.
    private sealed record ApiAnswer(int Status, string ContentType, string Body, string RawBody);

    private static async Task<ApiAnswer> SendAsync(IAPIRequestContext api, string method, string url)
    {
        var response = method switch
        {
            "GET" => await api.GetAsync(url),
            // The REST API takes POSTs only as JSON (else 415), so a guess must send JSON to reach the ownership check.
            "POST" => await api.PostAsync(url, new APIRequestContextOptions
            {
                Headers = new Dictionary<string, string> { ["Content-Type"] = "application/json" },
                Data = "{}",
            }),
            "DELETE" => await api.DeleteAsync(url),
            _ => throw new ArgumentOutOfRangeException(nameof(method)),
        };
        var body = await response.TextAsync();
        var type = response.Headers.TryGetValue("content-type", out var t) ? t : "";
        // Problem details carry a per-request trace id; everything else must be identical.
        var comparable = type.Contains("json", StringComparison.Ordinal) ? AccessProbe.WithoutTraceId(body) : type;
        return new ApiAnswer(response.Status, type, comparable, body);
    }

    private static async Task<string> DetailTextAsync(IPage page, Guid id)
    {
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");
        await Assertions.Expect(page.Locator("#detail-not-found")).ToBeVisibleAsync();
        Assert.Equal(0, await page.Locator(".js-plotly-plot").CountAsync());
        Assert.Equal(0, await page.Locator("#measurement-detail").CountAsync());
        return $"{await page.TitleAsync()}\n{await page.InnerTextAsync("body")}";
    }

    // Puts an option with the id into the replay picker and picks it, as a tampering user could.
    private static async Task<string> ForgedReplayAsync(IPage page, Guid id)
    {
        var notFound = page.Locator(".mud-snackbar", new PageLocatorOptions { HasText = "not found" });
        await Assertions.Expect(notFound).ToHaveCountAsync(0, new LocatorAssertionsToHaveCountOptions { Timeout = 15_000 });
        await page.EvaluateAsync("""
            id => {
                const s = document.querySelector('#replay-select');
                const o = document.createElement('option');
                o.value = id;
                o.text = 'forged';
                s.appendChild(o);
                s.value = id;
                s.dispatchEvent(new Event('change', { bubbles: true }));
            }
            """, id.ToString());
        await notFound.First.WaitForAsync();
        Assert.Equal(0, await page.Locator("#replay-play").CountAsync());
        Assert.Equal(0, await page.Locator(".js-plotly-plot").CountAsync());
        var text = await notFound.First.InnerTextAsync();
        // Let it go away so the next forged pick is judged on its own.
        var close = notFound.First.Locator("button");
        if (await close.CountAsync() > 0)
        {
            await close.First.ClickAsync();
        }
        return text;
    }
}
