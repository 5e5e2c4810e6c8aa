using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;
using Xunit.Abstractions;

namespace MeasureApp.Tests.ScaleOut;

/// <summary>
/// SPEC §8 scale-out with two real processes on one PostgreSQL and one Redis (issue 5): the cookie of A
/// works on B, presence agrees on both, 50 parallel starts across both never exceed the user's limit,
/// and a measurement acquired on A is watched live from B. Measured numbers go to the test output.
/// </summary>
public sealed class TwoInstancesTests(TwoInstancesFixture two, ITestOutputHelper output) : IClassFixture<TwoInstancesFixture>
{
    private const string Password = "operator-pass-2";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task BothInstancesAreReadyAndACookieFromAWorksOnBAndBack()
    {
        var email = NewEmail();
        await two.RegisterAsync(email, Password);
        using var plain = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(new Uri(two.A, "/health/ready"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(new Uri(two.B, "/health/ready"))).StatusCode);

        foreach (var (from, to) in new[] { (two.A, two.B), (two.B, two.A) })
        {
            var jar = new CookieContainer();
            using var onFrom = await TwoInstancesFixture.LoggedInClientAsync(from, email, Password, jar);
            var cookie = string.Join("; ", jar.GetCookies(from).Where(c => c.Name.StartsWith("MeasureApp.Auth", StringComparison.Ordinal)).Select(c => $"{c.Name}={c.Value}"));
            Assert.False(string.IsNullOrEmpty(cookie), $"Logging in on {from} set no auth cookie.");
            // A client without a cookie jar: only the header below is sent (cookies ignore ports, a jar would too).
            using var onTo = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = to };

            var api = await SendAsync(onTo, "/api/measurements", cookie);
            var page = await SendAsync(onTo, "/live", cookie);
            var anonymousApi = await SendAsync(onTo, "/api/measurements", null);
            var anonymousPage = await SendAsync(onTo, "/live", null);

            Assert.Equal(HttpStatusCode.OK, api.StatusCode);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, anonymousApi.StatusCode);
            Assert.Equal(HttpStatusCode.Redirect, anonymousPage.StatusCode);
            Assert.Contains("/Account/Login", anonymousPage.Headers.Location?.ToString() ?? "", StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task PresenceCountsAgreeOnBothInstances()
    {
        var (first, second) = (NewEmail(), NewEmail());
        await two.RegisterAsync(first, Password);
        await two.RegisterAsync(second, Password);
        using var adminA = await TwoInstancesFixture.LoggedInClientAsync(two.A, TwoInstancesFixture.AdminEmail, TwoInstancesFixture.AdminPassword);
        using var adminB = await TwoInstancesFixture.LoggedInClientAsync(two.B, TwoInstancesFixture.AdminEmail, TwoInstancesFixture.AdminPassword);

        var pageA = await two.LoggedInPageAsync(two.A, first, Password);
        var pageB = await two.LoggedInPageAsync(two.B, second, Password);
        await BrowserFixture.GotoInteractiveAsync(pageA, "/measurements");
        await BrowserFixture.GotoInteractiveAsync(pageB, "/measurements");
        var clock = Stopwatch.StartNew();

        // Both instances' presence streams are read until they agree and each counts both users.
        using var cts = new CancellationTokenSource(Deadline);
        var latest = new JsonElement?[2];
        var agreed = new TaskCompletionSource<(JsonElement A, JsonElement B)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new Lock();
        void OnEvent(int index, JsonElement now)
        {
            lock (gate)
            {
                latest[index] = now;
                if (latest[0] is { } a && latest[1] is { } b && Counts(a, first, second) && Counts(b, first, second)
                    && a.GetProperty("activeUsers").GetInt32() == b.GetProperty("activeUsers").GetInt32())
                {
                    agreed.TrySetResult((a, b));
                }
            }
        }
        var readers = new[] { ReadPresenceAsync(adminA, now => OnEvent(0, now), cts.Token), ReadPresenceAsync(adminB, now => OnEvent(1, now), cts.Token) };
        (JsonElement A, JsonElement B) result;
        try
        {
            result = await agreed.Task.WaitAsync(Deadline);
        }
        catch (System.TimeoutException ex)
        {
            throw new System.TimeoutException($"Presence did not agree within {Deadline.TotalSeconds} s. A: {latest[0]} B: {latest[1]}", ex);
        }
        finally
        {
            await cts.CancelAsync();
            await Task.WhenAll(readers);
        }
        var agreedAfter = clock.Elapsed;

        Assert.Equal(2, result.A.GetProperty("activeUsers").GetInt32());
        Assert.Equal(2, result.B.GetProperty("activeUsers").GetInt32());
        // The JSON API answers the same on both.
        var reportA = await ReadAsync(await adminA.GetAsync("/api/presence"));
        var reportB = await ReadAsync(await adminB.GetAsync("/api/presence"));
        Assert.Equal(2, reportA.GetProperty("now").GetProperty("activeUsers").GetInt32());
        Assert.Equal(2, reportB.GetProperty("now").GetProperty("activeUsers").GetInt32());
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"presence: both instances counted both users {agreedAfter.TotalSeconds:0.0} s after the pages were interactive; A: {result.A} B: {result.B}"));
        await pageA.Context.CloseAsync();
        await pageB.Context.CloseAsync();
    }

    [Fact]
    public async Task FiftyParallelStartsSplitAcrossBothInstancesNeverExceedTheLimit()
    {
        const int limit = 3;
        var email = NewEmail();
        var userId = await two.RegisterAsync(email, Password);
        await two.SetParallelLimitAsync(userId, limit);
        using var onA = await TwoInstancesFixture.LoggedInClientAsync(two.A, email, Password);
        using var onB = await TwoInstancesFixture.LoggedInClientAsync(two.B, email, Password);

        var clock = Stopwatch.StartNew();
        var attempts = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            var client = i % 2 == 0 ? onA : onB;
            return (Client: client, Response: await client.PostAsJsonAsync("/api/measurements", new { device = "sim-1", channels = 1, sampleRate = 1000, name = $"race {i}" }));
        }));
        var elapsed = clock.Elapsed;

        var started = attempts.Where(a => a.Response.StatusCode == HttpStatusCode.Created).ToList();
        var refused = attempts.Where(a => a.Response.StatusCode == HttpStatusCode.Conflict).ToList();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"limit race: 50 starts (25 on A, 25 on B) answered in {elapsed.TotalMilliseconds:0} ms; {started.Count} started (A {started.Count(s => s.Client == onA)}, B {started.Count(s => s.Client == onB)}), {refused.Count} refused"));
        Assert.Equal(limit, started.Count);
        Assert.Equal(50 - limit, refused.Count);
        foreach (var (_, response) in refused)
        {
            Assert.Equal($"You are running {limit} of {limit} allowed measurements.", (await ReadAsync(response)).GetProperty("detail").GetString());
        }
        // The running list (shared database) shows the same three on both instances.
        var ids = new List<Guid>();
        foreach (var (_, response) in started)
        {
            ids.Add((await ReadAsync(response)).GetProperty("id").GetGuid());
        }
        foreach (var client in new[] { onA, onB })
        {
            var list = await ReadAsync(await client.GetAsync("/api/measurements?pageSize=200"));
            var running = list.GetProperty("items").EnumerateArray().Where(m => m.GetProperty("state").GetString() == "Running").Select(m => m.GetProperty("id").GetGuid());
            Assert.Equal(ids.Order(), running.Order());
        }

        // Stopped where they run, the slots come back on every instance: the next start on B succeeds.
        foreach (var (client, response) in started)
        {
            var id = (await ReadAsync(response)).GetProperty("id").GetGuid();
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/api/measurements/{id}/stop", JsonContent.Create(new { }))).StatusCode);
        }
        var again = await onB.PostAsJsonAsync("/api/measurements", new { device = "sim-1", channels = 1, sampleRate = 1000, name = "after the race" });
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        var againId = (await ReadAsync(again)).GetProperty("id").GetGuid();
        Assert.Equal(HttpStatusCode.OK, (await onB.PostAsync($"/api/measurements/{againId}/stop", JsonContent.Create(new { }))).StatusCode);
    }

    [Fact]
    public async Task AMeasurementStartedOnAIsWatchedLiveFromB()
    {
        var email = NewEmail();
        await two.RegisterAsync(email, Password);
        using var api = await TwoInstancesFixture.LoggedInClientAsync(two.A, email, Password);
        var pageB = await two.LoggedInPageAsync(two.B, email, Password);
        var pageA = await two.LoggedInPageAsync(two.A, email, Password);
        await BrowserFixture.GotoInteractiveAsync(pageB, "/live");
        await BrowserFixture.GotoInteractiveAsync(pageA, "/live");
        await pageB.WaitForSelectorAsync("#no-running");

        var clock = Stopwatch.StartNew();
        var response = await api.PostAsJsonAsync("/api/measurements", new { device = "sim-1", channels = 2, sampleRate = 1000, name = "started on A" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await ReadAsync(response)).GetProperty("id").GetGuid();
        var chart = $".live-chart[data-measurement=\"{id}\"]";
        var points = $"() => {{ const p = document.querySelector('{chart} .js-plotly-plot'); return p && p.data && p.data[0] ? p.data[0].x.length : 0; }}";
        var wait = new PageWaitForFunctionOptions { Timeout = (float)Deadline.TotalMilliseconds };

        var onA = WatchAsync(pageA, chart, points, wait, clock);
        var onB = WatchAsync(pageB, chart, points, wait, clock);
        var (cardA, firstA) = await onA;
        (TimeSpan Card, TimeSpan First) b;
        try
        {
            b = await onB;
        }
        catch (System.TimeoutException ex)
        {
            throw new System.TimeoutException($"B never showed A's measurement. B log:\n{two.LogTail("b")}", ex);
        }

        // The trace on B keeps growing, and its chips report the rate it is fed at.
        var before = await pageB.EvaluateAsync<int>(points);
        var growth = Stopwatch.StartNew();
        await pageB.WaitForFunctionAsync($"({points})() > {before + 100}", null, wait);
        var grew = growth.Elapsed;
        var (fpsB, fpsA) = (await FramesPerSecondAsync(pageB, chart, wait), await FramesPerSecondAsync(pageA, chart, wait));
        var chipsB = await ChipsAsync(pageB, chart);
        var chipsA = await ChipsAsync(pageA, chart);
        await pageB.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("scaleout-live-on-b.png"), FullPage = true });
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"live from B: chart card after {b.Card.TotalMilliseconds:0} ms, first frame (>20 points) after {b.First.TotalMilliseconds:0} ms; on A (local) {cardA.TotalMilliseconds:0} / {firstA.TotalMilliseconds:0} ms"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"live from B: +100 points in {grew.TotalMilliseconds:0} ms; chart redraws/s over 30 redraws: B {fpsB:0.0}, A {fpsA:0.0}; chips B: {chipsB}; chips A: {chipsA}"));

        Assert.Matches("[0-9]+ fps", chipsB);
        Assert.DoesNotMatch("^0 fps", chipsB);

        // Stopped on A: the card goes away on B too.
        Assert.Equal(HttpStatusCode.OK, (await api.PostAsync($"/api/measurements/{id}/stop", JsonContent.Create(new { }))).StatusCode);
        var stopClock = Stopwatch.StartNew();
        await pageB.WaitForSelectorAsync(chart, new PageWaitForSelectorOptions { State = WaitForSelectorState.Detached, Timeout = (float)Deadline.TotalMilliseconds });
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"live from B: card removed {stopClock.Elapsed.TotalMilliseconds:0} ms after the stop on A"));
        await pageA.Context.CloseAsync();
        await pageB.Context.CloseAsync();
    }

    private static async Task<(TimeSpan Card, TimeSpan First)> WatchAsync(IPage page, string chart, string points, PageWaitForFunctionOptions wait, Stopwatch clock)
    {
        await page.WaitForSelectorAsync(chart, new PageWaitForSelectorOptions { Timeout = wait.Timeout });
        var card = clock.Elapsed;
        await page.WaitForFunctionAsync($"({points})() > 20", null, wait);
        return (card, clock.Elapsed);
    }

    // Chart draws per second as the browser saw them, 30 of them: each draw rewrites the line's SVG path (most
    // frames without a Plotly redraw, js/liveChart.js), and the observer hears each draw's rewrites as one batch.
    private static async Task<double> FramesPerSecondAsync(IPage page, string chart, PageWaitForFunctionOptions wait)
    {
        await page.EvaluateAsync($"() => {{ const p = document.querySelector('{chart} .js-plotly-plot'); window.__redraws = []; new MutationObserver(list => {{ if (list.some(m => m.target.classList && m.target.classList.contains('js-line'))) window.__redraws.push(performance.now()); }}).observe(p, {{ attributes: true, subtree: true, attributeFilter: ['d'] }}); }}");
        await page.WaitForFunctionAsync("() => window.__redraws.length > 30", null, wait);
        return await page.EvaluateAsync<double>("() => 30000 / (window.__redraws[30] - window.__redraws[0])");
    }

    private static async Task<string> ChipsAsync(IPage page, string chart)
    {
        var texts = new List<string>();
        foreach (var chip in new[] { "fps", "latency", "dropped", "rate" })
        {
            var locator = page.Locator($"{chart} .chip-{chip}");
            texts.Add(await locator.CountAsync() == 0 ? $"({chip}: none)" : (await locator.First.InnerTextAsync()).Trim());
        }
        return string.Join(", ", texts);
    }

    private static bool Counts(JsonElement now, params string[] users) =>
        now.TryGetProperty("sessionsPerUser", out var sessions) && users.All(u => sessions.TryGetProperty(u, out var n) && n.GetInt32() >= 1);

    private static async Task ReadPresenceAsync(HttpClient admin, Action<JsonElement> onEvent, CancellationToken ct)
    {
        try
        {
            using var response = await admin.GetAsync("/api/presence/stream", HttpCompletionOption.ResponseHeadersRead, ct);
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
            while (await reader.ReadLineAsync(ct) is { } line)
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    using var doc = JsonDocument.Parse(line["data: ".Length..]);
                    onEvent(doc.RootElement.Clone());
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Done: the condition held (or the deadline passed).
        }
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string path, string? cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }
        return await client.SendAsync(request);
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return doc.RootElement.Clone();
    }

    private static string NewEmail() => $"two-{Guid.NewGuid():N}@test.local";
}
