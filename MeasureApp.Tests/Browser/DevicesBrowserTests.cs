using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>
/// In real Chromium: an admin adds a sigrok demo device on the Devices page (found with Scan), tests it,
/// starts a measurement on it from the Live page without a restart, and sees the chart move.
/// </summary>
public sealed class DevicesBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AnAdminAddsASigrokDemoDeviceTestsItAndWatchesAMeasurementOnItMove()
    {
        var page = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
        await BrowserFixture.GotoInteractiveAsync(page, "/admin/devices");
        await page.WaitForSelectorAsync("#devices-table");

        await page.ClickAsync("#device-add");
        await LivePageDriver.ChooseAsync(page, "#device-driver", "Sigrok");
        await page.WaitForSelectorAsync("#sigrok-scan");
        await page.ClickAsync("#sigrok-scan");
        var found = page.Locator("#sigrok-scan-results tr", new PageLocatorOptions { HasText = "Demo device" });
        await found.WaitForAsync();
        await found.Locator(".sigrok-use").ClickAsync();
        Assert.Equal("demo", await page.InputValueAsync("#device-field-SigrokDriver"));
        await page.FillAsync("#device-field-Id", "sr-demo-ui");
        await page.FillAsync("#device-field-Name", "sigrok demo (browser)");
        await page.FillAsync("#device-field-Channels", "A1, A2");
        await page.ClickAsync("#device-save");

        var row = page.Locator("#devices-table tr", new PageLocatorOptions { HasText = "sr-demo-ui" });
        await row.WaitForAsync();
        await row.Locator(".device-test").ClickAsync();
        await row.Locator(".device-identity", new LocatorLocatorOptions { HasText = "demo - Demo device" }).WaitForAsync();
        Assert.Contains("connected", await row.Locator(".device-health").InnerTextAsync(), StringComparison.Ordinal);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("devices.png"), FullPage = true });

        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await LivePageDriver.StartMeasurementAsync(page, "On the new device", sampleRate: 1000, channels: 2, device: "sigrok demo (browser)");
        Assert.Null(await LivePageDriver.StartErrorAsync(page));
        await LivePageDriver.WaitForPointsAsync(page, 20);
        var first = await LivePageDriver.TracePointCountAsync(page);
        await LivePageDriver.WaitForPointsAsync(page, first + 100);

        await page.ClickAsync(".stop-button");
        await page.Context.CloseAsync();
    }
}
