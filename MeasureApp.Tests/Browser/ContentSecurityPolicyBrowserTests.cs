using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>
/// The Content-Security-Policy (issue 13: scripts from this origin plus the nonce'd import map, no
/// inline script, no eval) leaves Blazor, MudBlazor and Plotly working in real Chromium: the browser
/// reports no violation on the main pages, the live and detail charts draw, dialogs open and close.
/// </summary>
public sealed class ContentSecurityPolicyBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    // Every violation the browser reports, also those of pages left since (kept in sessionStorage).
    private const string ReportViolations = """
        document.addEventListener('securitypolicyviolation', e => {
            const all = JSON.parse(sessionStorage.getItem('csp-violations') || '[]');
            all.push(`${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
            sessionStorage.setItem('csp-violations', JSON.stringify(all));
        });
        """;

    [Fact]
    public async Task LoginLiveChartDetailChartDialogsAndAdminPagesRunWithoutAPolicyViolation()
    {
        var page = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword, enforceCsp: true);
        await page.Context.AddInitScriptAsync(ReportViolations);
        var console = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase) || message.Text.Contains("Refused to", StringComparison.Ordinal))
            {
                console.Add(message.Text);
            }
        };
        page.PageError += (_, error) => console.Add(error);

        // Live page: the start dialog, the live chart, stop.
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await LivePageDriver.StartMeasurementAsync(page, "CSP sine");
        await page.WaitForSelectorAsync(".live-chart");
        await LivePageDriver.WaitForPointsAsync(page, 50);
        var id = await page.Locator(".live-chart").First.GetAttributeAsync("data-measurement");
        await page.ClickAsync(".stop-button");
        await page.WaitForSelectorAsync("#no-running");

        // Detail page: the chart draws from the store; the export dialog opens and closes.
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");
        await page.WaitForFunctionAsync("() => { const gd = document.querySelector('#detail-chart'); return gd && gd.data && gd.data[0] && gd.data[0].x.length > 10; }");
        await page.ClickAsync("#export-open");
        await page.WaitForSelectorAsync(".mud-dialog");
        await page.ClickAsync("#export-close");
        await page.WaitForSelectorAsync(".mud-dialog", new PageWaitForSelectorOptions { State = WaitForSelectorState.Detached });

        // The other pages of the navigation, Plotly's monitor charts among them.
        foreach (var path in new[] { "/measurements", "/collectors", "/admin/users", "/admin/limits", "/admin/devices", "/admin/monitor" })
        {
            await BrowserFixture.GotoInteractiveAsync(page, path);
        }
        await page.WaitForSelectorAsync(".js-plotly-plot", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
        await page.ClickAsync("#logout");
        await page.WaitForURLAsync(url => url.Contains("/Account/Login", StringComparison.Ordinal));
        var reported = await page.EvaluateAsync<string[]>("() => JSON.parse(sessionStorage.getItem('csp-violations') || '[]')");
        Assert.Empty(reported);
        Assert.Empty(console);

        await page.Context.CloseAsync();
    }
}
