using MeasureApp.Acquisition.Measurements;
using MeasureApp.History;
using MeasureApp.Tests.History;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Browser;

/// <summary>The measurements list: admins see everyone's and filter by owner; an owner deletes their own.</summary>
public sealed class MeasurementsPageBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task AnAdminFiltersByOwnerAndAnOwnerDeletesTheirOwnMeasurement()
    {
        var alpha = await Users.CreateOperatorAsync(browser.Factory.Services, "alpha-owner@test.local");
        var beta = await Users.CreateOperatorAsync(browser.Factory.Services, "beta-owner@test.local");
        var alphaRun = await SpikeMeasurement.CreateAsync(browser.Factory.Services, alpha.Id, "Alpha run", alpha.Email);
        await SpikeMeasurement.CreateAsync(browser.Factory.Services, beta.Id, "Beta run", beta.Email);

        // The admin sees both, narrows to one owner, and has no delete button on other users' rows.
        var admin = await browser.LoggedInPageAsync(AppFactory.AdminEmail, AppFactory.AdminPassword);
        await BrowserFixture.GotoInteractiveAsync(admin, "/measurements");
        await Row(admin, "Alpha run").WaitForAsync();
        await Row(admin, "Beta run").WaitForAsync();
        await LivePageDriver.ChooseAsync(admin, "#owner-filter", "beta-owner@test.local");
        await Row(admin, "Alpha run").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Detached });
        await Row(admin, "Beta run").WaitForAsync();
        Assert.Equal(0, await Row(admin, "Beta run").Locator(".delete-measurement").CountAsync());
        await admin.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("measurements-admin.png"), FullPage = true });
        await admin.Context.CloseAsync();

        // The owner sees only their own and deletes it after confirming.
        var owner = await browser.LoggedInPageAsync(alpha.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(owner, "/measurements");
        await Row(owner, "Alpha run").WaitForAsync();
        Assert.Equal(0, await Row(owner, "Beta run").CountAsync());
        Assert.Equal(0, await owner.Locator("#owner-filter").CountAsync());
        // The date range filter's label stays clear of its underline (it was drawn across it).
        var started = await owner.EvaluateAsync<double[]>(StartedLabelAndUnderlineJs);
        Assert.True(started[0] <= started[1], $"The 'Started' label ends at y = {started[0]:0.#} px, below the top of its underline at {started[1]:0.#} px.");
        await owner.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("measurements.png"), FullPage = true });
        await Row(owner, "Alpha run").Locator(".delete-measurement").ClickAsync();
        await owner.Locator(".mud-dialog button", new PageLocatorOptions { HasText = "Delete" }).ClickAsync();
        await Row(owner, "Alpha run").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Detached });
        await owner.GetByText("Deleted “Alpha run”.").WaitForAsync();

        var catalog = browser.Factory.Services.GetRequiredService<MeasurementCatalog>();
        Assert.Null(await catalog.FindAsync(new Requester(alpha.Id, alpha.Email!, IsAdmin: false), alphaRun, CancellationToken.None));
        Assert.Equal(1, (await catalog.ListAsync(new Requester(beta.Id, beta.Email!, IsAdmin: false), new MeasurementQuery(), CancellationToken.None)).Total);
        await owner.Context.CloseAsync();
    }

    // The bottom of the "Started" label's text and the top of the underline of the input it labels.
    private const string StartedLabelAndUnderlineJs = """
        () => {
            const label = [...document.querySelectorAll('#measurements-grid label')].find(l => l.textContent.trim() === 'Started');
            const input = label.closest('.mud-input-control').querySelector('.mud-input');
            const line = getComputedStyle(input, '::before');
            const range = document.createRange();
            range.selectNodeContents(label);
            const text = range.getBoundingClientRect();
            const box = input.getBoundingClientRect();
            return [text.bottom, box.bottom - parseFloat(line.borderBottomWidth || '1')];
        }
        """;

    private static ILocator Row(IPage page, string name) => page.Locator("#measurements-grid tbody tr", new PageLocatorOptions { HasText = name });
}
