using System.Text.Json;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Infrastructure;

/// <summary>
/// The detail page's chart in Chromium, as the cursor, annotation and share tests use it: wait until cursors.js
/// has attached, then place cursors by clicking at chart times.
/// </summary>
public static class DetailChartCursors
{
    // Client pixel position of time t at mid-height of the plot area.
    private const string PixelOfJs = """
        (t) => {
            const gd = document.getElementById('detail-chart');
            const L = gd._fullLayout;
            const box = gd.getBoundingClientRect();
            return { x: box.left + L._size.l + L.xaxis.d2p(t), y: box.top + L._size.t + L._size.h / 2 };
        }
        """;

    /// <summary>Waits until the chart is drawn and cursors.js made it focusable (it has attached to the plot).</summary>
    public static Task WaitForChartAsync(IPage page) =>
        page.WaitForFunctionAsync("() => { const gd = document.getElementById('detail-chart'); return gd && gd._fullLayout && gd.hasAttribute('tabindex'); }");

    /// <summary>Clicks the chart at each time in turn and waits until that many cursors are drawn.</summary>
    public static async Task PlaceAsync(IPage page, params double[] times)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(times);
        for (var n = 1; n <= times.Length; n++)
        {
            var p = await page.EvaluateAsync<JsonElement>(PixelOfJs, times[n - 1]);
            await page.Mouse.ClickAsync((float)p.GetProperty("x").GetDouble(), (float)p.GetProperty("y").GetDouble());
            await page.WaitForFunctionAsync("(n) => (document.getElementById('detail-chart').layout.shapes || []).filter(s => (s.name || '').startsWith('cursor-t')).length >= n", n);
        }
    }

    /// <summary>The times of the cursors drawn on the chart, ascending.</summary>
    public static Task<double[]> TimesAsync(IPage page)
    {
        ArgumentNullException.ThrowIfNull(page);
        return page.EvaluateAsync<double[]>("() => document.getElementById('detail-chart').layout.shapes.filter(s => (s.name || '').startsWith('cursor-t')).map(s => s.x0).sort((a, b) => a - b)");
    }
}
