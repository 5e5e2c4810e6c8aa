using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>The Content-Security-Policy (issue 13) leaves Blazor, MudBlazor and Plotly working in real Chromium.</summary>
public sealed class ContentSecurityPolicyBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task LoginLiveChartAndLogoutRunWithoutAPolicyViolation()
    {
        var page = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
        var violations = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase) || message.Text.Contains("Refused to", StringComparison.Ordinal))
            {
                violations.Add(message.Text);
            }
        };
        page.PageError += (_, error) => violations.Add(error);

        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await LivePageDriver.StartMeasurementAsync(page, "CSP sine");
        await page.WaitForSelectorAsync(".live-chart");
        await LivePageDriver.WaitForPointsAsync(page, 50);
        await page.ClickAsync(".stop-button");
        await page.WaitForSelectorAsync("#no-running");
        await page.ClickAsync("#logout");
        await page.WaitForURLAsync(url => url.Contains("/Account/Login", StringComparison.Ordinal));

        Assert.Empty(violations);
        await page.Context.CloseAsync();
    }
}
