using Microsoft.Playwright;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// Drives the Live page the way a user does: browser tests start measurements through this one
/// helper, so a change of the start UI is followed in one place.
/// </summary>
public static class LivePageDriver
{
    // Number of points of a chart's first trace, by chart index on the page (0 before the first point).
    private const string PointCountJs = "i => { const p = document.querySelectorAll('.live-chart .js-plotly-plot')[i]; return p && p.data && p.data[0] ? p.data[0].x.length : 0; }";

    /// <summary>The button on the Live page that opens the start dialog (present once the page is ready).</summary>
    public const string NewMeasurementButton = "#new-measurement";

    /// <summary>Opens the start dialog on the Live page (already open and interactive), fills it and starts;
    /// waits until the start was answered: the dialog closed and a new chart card appeared, or the refusal is
    /// shown in the still open dialog (see <see cref="StartErrorAsync"/>; close it with <see cref="CancelStartAsync"/>).</summary>
    public static async Task StartMeasurementAsync(IPage page, string name, int sampleRate = 1000, int channels = 1, string? device = null, int? durationSeconds = null)
    {
        ArgumentNullException.ThrowIfNull(page);
        var before = await page.Locator(".live-chart").CountAsync();
        await OpenStartDialogAsync(page);
        await FillAndSubmitAsync(page, name, sampleRate, channels, device, durationSeconds);
        await page.WaitForFunctionAsync(
            "n => (document.querySelectorAll('.live-chart').length > n && document.querySelector('#start-button') === null) || document.querySelector('#start-error') !== null", before);
    }

    /// <summary>Opens the start dialog and waits for its form.</summary>
    public static async Task OpenStartDialogAsync(IPage page)
    {
        ArgumentNullException.ThrowIfNull(page);
        await page.Locator(NewMeasurementButton + ":not([disabled])").ClickAsync();
        await page.WaitForSelectorAsync("#start-button");
    }

    /// <summary>Closes an open start dialog without starting.</summary>
    public static async Task CancelStartAsync(IPage page)
    {
        ArgumentNullException.ThrowIfNull(page);
        await page.ClickAsync("#start-cancel");
        await page.WaitForSelectorAsync("#start-button", new PageWaitForSelectorOptions { State = WaitForSelectorState.Detached });
    }

    /// <summary>Fills and submits the open start dialog without waiting for the outcome.</summary>
    public static async Task FillAndSubmitAsync(IPage page, string name, int sampleRate = 1000, int channels = 1, string? device = null, int? durationSeconds = null)
    {
        ArgumentNullException.ThrowIfNull(page);
        await page.WaitForSelectorAsync("#start-button");
        if (device is not null)
        {
            await ChooseAsync(page, "#start-device", device);
        }
        await page.FillAsync("#start-name", name);
        await page.FillAsync("#start-channels", channels.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.FillAsync("#start-rate", sampleRate.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (durationSeconds is { } s)
        {
            await page.FillAsync("#start-duration", s.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        await page.ClickAsync("#start-button");
    }

    /// <summary>Picks the item with <paramref name="text"/> in the MudSelect whose (hidden) input has <paramref name="selector"/>.</summary>
    public static async Task ChooseAsync(IPage page, string selector, string text)
    {
        ArgumentNullException.ThrowIfNull(page);
        await page.Locator(".mud-select", new PageLocatorOptions { Has = page.Locator(selector) }).First.ClickAsync();
        await page.Locator(".mud-popover-open .mud-list-item", new PageLocatorOptions { HasText = text }).First.ClickAsync();
        // The choice has reached the server once the field shows it (the list closes before that).
        await Assertions.Expect(page.Locator(selector)).ToHaveValueAsync(text);
    }

    /// <summary>The refusal text shown for the last start, or null when none is shown.</summary>
    public static async Task<string?> StartErrorAsync(IPage page)
    {
        ArgumentNullException.ThrowIfNull(page);
        var error = page.Locator("#start-error");
        return await error.CountAsync() == 0 ? null : await error.InnerTextAsync();
    }

    /// <summary>Points in the first trace of the given live chart (0 before the first frame).</summary>
    public static Task<int> TracePointCountAsync(IPage page, int chart = 0)
    {
        ArgumentNullException.ThrowIfNull(page);
        return page.EvaluateAsync<int>(PointCountJs, chart);
    }

    /// <summary>Waits until the given live chart's first trace has more than <paramref name="points"/> points.</summary>
    public static Task WaitForPointsAsync(IPage page, int points, int chart = 0)
    {
        ArgumentNullException.ThrowIfNull(page);
        return page.WaitForFunctionAsync($"(() => {{ const f = {PointCountJs}; return f({chart}) > {points}; }})");
    }
}
