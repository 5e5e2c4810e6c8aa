using System.Globalization;
using MeasureApp.ScpiSim;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>
/// In real Chromium: an admin adds a SCPI device (the simulator on a loopback port) through its typed form,
/// or a sigrok demo device (found with Scan), tests it, starts a measurement on it from the Live page
/// without a restart, and sees the chart move.
/// </summary>
public sealed class DevicesBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AnAdminAddsAScpiDeviceThroughItsFormTestsItAndWatchesAMeasurementOnItMove()
    {
        // The instrument: the repository's simulator on a loopback port of this test.
        await using var sim = new ScpiSimulator();
        sim.Start();
        var page = await OpenAddFormAsync("Scpi", "#scpi-channels");
        await page.FillAsync("#device-field-Id", "dmm-ui");
        await page.FillAsync("#device-field-Name", "Bench DMM (browser)");
        await page.FillAsync("#device-field-Host", "127.0.0.1");
        await page.FillAsync("#device-field-Port", sim.Port.ToString(CultureInfo.InvariantCulture));
        await page.FillAsync("#device-field-InitCommands", "*RST\nCONF:VOLT:DC 10");
        var channel = page.Locator("#scpi-channels tbody tr").Nth(0);
        await channel.Locator(".scpi-channel-name input").FillAsync("volts");
        await channel.Locator(".scpi-channel-scale input").FillAsync("2");
        await channel.Locator(".scpi-channel-offset input").FillAsync("0.5");
        await page.ClickAsync("#scpi-channel-add");
        var second = page.Locator("#scpi-channels tbody tr").Nth(1);
        await second.Locator(".scpi-channel-unit input").FillAsync("mA");
        await second.Locator(".scpi-channel-query input").FillAsync("MEAS:CURR:DC?");
        await second.Locator(".scpi-channel-scale input").FillAsync("1000");
        await page.Locator("#device-editor").ScreenshotAsync(new LocatorScreenshotOptions { Path = BrowserFixture.ScreenshotPath("devices-scpi-form.png") });
        var row = await SaveAndTestAsync(page, "dmm-ui", "MeasureApp,ScpiSim DMM+scope,SIM0001,1.0");
        Assert.Contains("*IDN? answered", await row.Locator(".device-probe-message").InnerTextAsync(), StringComparison.Ordinal);
        // The table alone: the save and test snackbars would cover the page's header.
        await page.Locator("#devices-table").ScreenshotAsync(new LocatorScreenshotOptions { Path = BrowserFixture.ScreenshotPath("devices-scpi.png") });

        var points = await WatchAMeasurementMoveAsync(page, "On the bench DMM", sampleRate: 100, device: "Bench DMM (browser)");
        Assert.True(sim.ReadingsServed > points, $"the simulator served {sim.ReadingsServed} readings for {points} points");
    }

    [Fact]
    public async Task AnAdminAddsASigrokDemoDeviceTestsItAndWatchesAMeasurementOnItMove()
    {
        var page = await OpenAddFormAsync("Sigrok", "#sigrok-scan");
        await page.ClickAsync("#sigrok-scan");
        var found = page.Locator("#sigrok-scan-results tr", new PageLocatorOptions { HasText = "Demo device" });
        await found.WaitForAsync();
        await found.Locator(".sigrok-use").ClickAsync();
        await Assertions.Expect(page.Locator("#device-field-SigrokDriver")).ToHaveValueAsync("demo");
        await page.FillAsync("#device-field-Id", "sr-demo-ui");
        await page.FillAsync("#device-field-Name", "sigrok demo (browser)");
        await page.FillAsync("#device-field-Channels", "A1, A2");
        await SaveAndTestAsync(page, "sr-demo-ui", "demo - Demo device");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("devices.png"), FullPage = true });

        await WatchAMeasurementMoveAsync(page, "On the new device", sampleRate: 1000, device: "sigrok demo (browser)");
    }

    // Saves the open form, presses the new row's Test and waits for the identity; the row.
    private static async Task<ILocator> SaveAndTestAsync(IPage page, string id, string identity)
    {
        await page.ClickAsync("#device-save");
        var row = page.Locator("#devices-table tr", new PageLocatorOptions { HasText = id });
        await row.WaitForAsync();
        await row.Locator(".device-test").ClickAsync();
        await row.Locator(".device-identity", new LocatorLocatorOptions { HasText = identity }).WaitForAsync();
        Assert.Contains("connected", await row.Locator(".device-health").InnerTextAsync(), StringComparison.Ordinal);
        return row;
    }

    // Starts a 2-channel measurement on the device from the Live page, waits until its chart gained 100
    // points after the first 20, stops it and closes the tab; the points the chart had by then.
    private static async Task<int> WatchAMeasurementMoveAsync(IPage page, string name, int sampleRate, string device)
    {
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await LivePageDriver.StartMeasurementAsync(page, name, sampleRate: sampleRate, channels: 2, device: device);
        Assert.Null(await LivePageDriver.StartErrorAsync(page));
        await LivePageDriver.WaitForPointsAsync(page, 20);
        var first = await LivePageDriver.TracePointCountAsync(page);
        await LivePageDriver.WaitForPointsAsync(page, first + 100);
        await page.ClickAsync(".stop-button");
        await page.Context.CloseAsync();
        return first + 100;
    }

    // An admin's Devices page with the add form open on a driver, once the driver's own inputs (selector) show.
    private async Task<IPage> OpenAddFormAsync(string driver, string driverInput)
    {
        var page = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
        await BrowserFixture.GotoInteractiveAsync(page, "/admin/devices");
        await page.WaitForSelectorAsync("#devices-table");
        await page.ClickAsync("#device-add");
        await LivePageDriver.ChooseAsync(page, "#device-driver", driver);
        await page.WaitForSelectorAsync(driverInput);
        return page;
    }
}
