using MeasureApp.Acquisition.Measurements;
using MeasureApp.Tags;
using MeasureApp.Tests.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Tags;

/// <summary>
/// Tags and search in Chromium: the owner tags a measurement on its page (Enter), the Measurements page finds it by
/// that tag typed in the search and by a metadata value, and a click on a tag chip filters the list by it.
/// </summary>
public sealed class LabelsBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AnOwnerTagsAMeasurementAndFindsItBySearchAndByClickingTheTag()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var tagged = await SpikeMeasurement.CreateAsync(browser.Factory.Services, op.Id, "Pump bearing", op.Email);
        await SpikeMeasurement.CreateAsync(browser.Factory.Services, op.Id, "Fan check", op.Email);
        var labels = browser.Factory.Services.GetRequiredService<MeasurementLabelService>();
        var me = new Requester(op.Id, op.Email!, IsAdmin: false);
        Assert.Equal(LabelOutcome.Ok, (await labels.SetMetadataAsync(me, tagged, new Dictionary<string, string?> { ["serial number"] = "SN-7781" }, CancellationToken.None)).Outcome);
        var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);

        await BrowserFixture.GotoInteractiveAsync(page, $"/measurements/{tagged}");
        await page.Locator("#label-tag-input").FillAsync("vibration");
        await page.Locator("#label-tag-input").PressAsync("Enter");
        await page.Locator("#label-tags .label-tag", new PageLocatorOptions { HasText = "vibration" }).WaitForAsync();
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("detail-tags.png") });

        await BrowserFixture.GotoInteractiveAsync(page, "/measurements");
        await Row(page, "Fan check").WaitForAsync();
        await page.Locator("#measurements-search").FillAsync("VIBRAT");
        await Row(page, "Fan check").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Detached });
        await Row(page, "Pump bearing").WaitForAsync();
        await page.Locator("#measurements-search").FillAsync("sn-7781");
        await Row(page, "Pump bearing").WaitForAsync();
        Assert.Equal(1, await page.Locator("#measurements-grid tbody tr.mud-table-row").CountAsync());

        await page.Locator("#measurements-search").FillAsync("");
        await Row(page, "Fan check").WaitForAsync();
        await Row(page, "Pump bearing").Locator(".measurement-tag", new LocatorLocatorOptions { HasText = "vibration" }).ClickAsync();
        await Row(page, "Fan check").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Detached });
        await Assertions.Expect(page.Locator("#measurements-tag")).ToHaveValueAsync("vibration");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("measurements-search.png") });
        await page.Context.CloseAsync();
    }

    private static ILocator Row(IPage page, string name) => page.Locator("#measurements-grid tbody tr", new PageLocatorOptions { HasText = name });
}
