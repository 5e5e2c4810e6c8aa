using System.Globalization;
using System.Text.Json;
using MeasureApp.Tests.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Sharing;

/// <summary>
/// Sharing in Chromium as two colleagues would: the owner annotates a range on the detail page and shares the
/// measurement by e-mail; the colleague (a second browser context) finds it under "Shared with me", sees the
/// annotation and exports exactly its range; the owner revokes and the colleague's open page says so at once.
/// The admin's Audit page lists what happened.
/// </summary>
public sealed class ShareBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AColleagueSeesTheOwnersAnnotationExportsItsRangeAndLosesTheOpenPageWhenRevoked()
    {
        var owner = await Users.CreateOperatorAsync(browser.Factory.Services);
        var colleague = await Users.CreateOperatorAsync(browser.Factory.Services);
        var id = await SpikeMeasurement.CreateAsync(browser.Factory.Services, owner.Id, "Relay bounce", owner.Email);

        // The owner marks a range around the spike between two cursors.
        var page = await browser.LoggedInPageAsync(owner.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{id}");
        await DetailChartCursors.WaitForChartAsync(page);
        await DetailChartCursors.PlaceAsync(page, 6.4, 6.7);
        await page.ClickAsync("#annotation-add");
        await page.Locator("#annotation-title").FillAsync("Bounce");
        await page.ClickAsync("#annotation-save");
        await page.Locator("#annotation-table tr.annotation-row", new PageLocatorOptions { HasText = "Bounce" }).WaitForAsync();

        // …and shares it; an unknown e-mail is refused with a message naming it.
        await Assertions.Expect(page.Locator("#share-none")).ToBeVisibleAsync();
        await page.Locator("#share-email").FillAsync("nobody@nowhere.test");
        await page.ClickAsync("#share-add");
        await Assertions.Expect(page.Locator(".mud-snackbar", new PageLocatorOptions { HasText = "No user has the e-mail nobody@nowhere.test" })).ToBeVisibleAsync();
        await page.Locator("#share-email").FillAsync(colleague.Email!);
        await page.ClickAsync("#share-add");
        var chip = page.Locator($".share-chip[data-email='{colleague.Email}']");
        await Assertions.Expect(chip).ToBeVisibleAsync();
        await page.Locator("#share-panel").ScreenshotAsync(new LocatorScreenshotOptions { Path = BrowserFixture.ScreenshotPath("share-panel.png") });

        // The colleague finds it under "Shared with me" and sees the owner's annotation.
        var other = await browser.LoggedInPageAsync(colleague.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(other, "/measurements/shared");
        await other.Locator(".shared-link", new PageLocatorOptions { HasText = "Relay bounce" }).ClickAsync();
        await Assertions.Expect(other.Locator("#shared-notice")).ToContainTextAsync(owner.Email!);
        await other.WaitForSelectorAsync("#interactive", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
        var row = other.Locator("#annotation-table tr.annotation-row", new PageLocatorOptions { HasText = "Bounce" });
        await row.WaitForAsync();
        await Assertions.Expect(other.Locator("#share-panel")).ToHaveCountAsync(0);
        await other.WaitForFunctionAsync("() => (document.getElementById('detail-chart')?.layout?.shapes || []).some(s => (s.name || '').startsWith('ann-'))");
        await other.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("shared-detail.png"), FullPage = true });

        // The annotation's export button opens the export of exactly its range; the download has those samples.
        var api = await other.Context.APIRequest.GetAsync($"/api/measurements/{id}/annotations");
        Assert.True(api.Ok, await api.TextAsync());
        var stored = Assert.Single(JsonDocument.Parse(await api.TextAsync()).RootElement.EnumerateArray());
        var (from, to) = (stored.GetProperty("from").GetDouble(), stored.GetProperty("to").GetDouble());
        await row.Locator(".annotation-export").ClickAsync();
        await other.WaitForSelectorAsync("#export-start");
        Assert.Equal(from, double.Parse(await other.InputValueAsync("#export-from"), CultureInfo.InvariantCulture), 9);
        Assert.Equal(to, double.Parse(await other.InputValueAsync("#export-to"), CultureInfo.InvariantCulture), 9);
        await other.ClickAsync("#export-start");
        await other.WaitForSelectorAsync("#export-download");
        var download = await other.RunAndWaitForDownloadAsync(() => other.ClickAsync("#export-download"));
        var lines = await File.ReadAllLinesAsync(await download.PathAsync());
        var expectedRows = (long)Math.Floor((to * SpikeMeasurement.SampleRate) + 1e-6) - (long)Math.Ceiling((from * SpikeMeasurement.SampleRate) - 1e-6) + 1;
        Assert.Equal(expectedRows, lines.Length - 1);
        Assert.Contains(lines, l => l.EndsWith("," + SpikeMeasurement.SpikeValue.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal));
        await other.ClickAsync("#export-close");

        // The owner revokes: the colleague's open page drops the measurement at once and says why.
        await chip.Locator(".mud-chip-close-button").ClickAsync();
        await Assertions.Expect(chip).ToHaveCountAsync(0);
        await Assertions.Expect(other.Locator("#detail-revoked")).ToBeVisibleAsync();
        await Assertions.Expect(other.Locator("#detail-chart")).ToHaveCountAsync(0);
        await other.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("shared-revoked.png") });
        var after = await other.Context.APIRequest.GetAsync($"/api/measurements/{id}");
        Assert.Equal(404, after.Status);

        // The admin's Audit page shows the share, the export and the unshare.
        var admin = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
        await BrowserFixture.GotoInteractiveAsync(admin, "/admin/audit");
        var table = admin.Locator("#audit-table");
        foreach (var action in new[] { "share", "export", "unshare" })
        {
            await Assertions.Expect(table.Locator(".audit-action", new LocatorLocatorOptions { HasText = action }).First).ToBeVisibleAsync();
        }
        await admin.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("audit.png"), FullPage = true });
        await admin.Context.CloseAsync();
        await other.Context.CloseAsync();
        await page.Context.CloseAsync();
    }
}
