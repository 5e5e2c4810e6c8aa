using System.Globalization;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Browser;

/// <summary>
/// js/liveChart.js in Chromium: while the axes stand still a frame rewrites the line's SVG path without a Plotly
/// redraw, and the path ends at the newest sample; a zoom by the user holds (frames do not move it) until autorange.
/// </summary>
public sealed class LiveChartPagingBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task FramesInsideThePageRewriteTheLineWithoutAPlotlyRedrawAndAZoomHoldsUntilAutorange()
    {
        var op = await Users.CreateOperatorAsync(browser.Factory.Services);
        var engine = browser.Factory.Services.GetRequiredService<MeasurementEngine>();
        var owner = new Requester(op.Id, op.Email!, IsAdmin: false);
        var started = await engine.StartAsync(owner, new UserLimits(),
            new StartRequest { DeviceId = "sim-1", Name = "Paging", Channels = 1, SampleRate = 1000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        var id = started.Measurement!.Id;
        var chart = $"chart-{id:N}";
        try
        {
            var page = await browser.LoggedInPageAsync(op.Email!, Users.Password);
            await BrowserFixture.GotoInteractiveAsync(page, "/live");
            await page.WaitForFunctionAsync($"() => {{ const p = document.getElementById('{chart}'); return p && p.data && p.data[0] && p.data[0].x.length > 50; }}");

            // Count the line's rewrites (every draw, fast or not) and Plotly's redraws from here on.
            await page.EvaluateAsync($$"""
                () => {
                    const gd = document.getElementById('{{chart}}');
                    window.__paging = { rewrites: 0, redraws: 0 };
                    for (const name of ['redraw', 'extendTraces', 'react', 'newPlot']) {
                        const original = window.Plotly[name];
                        window.Plotly[name] = function () { window.__paging.redraws++; return original.apply(this, arguments); };
                    }
                    new MutationObserver(list => { window.__paging.rewrites += list.filter(m => m.attributeName === 'd' && m.target.classList.contains('js-line')).length; })
                        .observe(gd, { attributes: true, subtree: true, attributeFilter: ['d'] });
                }
                """);
            await page.WaitForFunctionAsync("() => window.__paging.rewrites >= 30");
            var counts = await page.EvaluateAsync<int[]>("() => [window.__paging.rewrites, window.__paging.redraws]");
            Assert.True(counts[1] * 3 < counts[0], $"{counts[0]} line rewrites took {counts[1]} Plotly redraws: most frames must not redraw");

            // The drawn line ends at the newest sample, in the axes' own pixels.
            var end = await page.EvaluateAsync<double[]>($$"""
                () => {
                    const gd = document.getElementById('{{chart}}');
                    const d = gd.querySelector('.scatterlayer .trace path.js-line').getAttribute('d');
                    const last = d.split(/[ML]/).filter(s => s.length).pop().split(',').map(Number);
                    const x = gd.data[0].x, y = gd.data[0].y;
                    return [last[0], gd._fullLayout.xaxis.c2p(x[x.length - 1]), last[1], gd._fullLayout.yaxis.c2p(y[y.length - 1])];
                }
                """);
            // The path's numbers have one decimal.
            Assert.True(Math.Abs(end[1] - end[0]) <= 0.051 && Math.Abs(end[3] - end[2]) <= 0.051, $"path ends at ({end[0]}, {end[2]}), newest sample at ({end[1]}, {end[3]})");

            // A zoom by the user (what a drag-zoom sends) holds while frames arrive ...
            var newest = await page.EvaluateAsync<double>($"() => {{ const x = document.getElementById('{chart}').data[0].x; return x[x.length - 1]; }}");
            var zoom = new[] { Math.Max(0, newest - 0.5), newest - 0.25 };
            await page.EvaluateAsync($"([a, b]) => window.Plotly.relayout('{chart}', {{ 'xaxis.range[0]': a, 'xaxis.range[1]': b }})", zoom);
            await page.WaitForFunctionAsync($"(t) => {{ const x = document.getElementById('{chart}').data[0].x; return x[x.length - 1] > t + 1; }}", newest);
            var range = await page.EvaluateAsync<double[]>($"() => document.getElementById('{chart}')._fullLayout.xaxis.range.map(Number)");
            Assert.Equal(zoom[0], range[0], 6);
            Assert.Equal(zoom[1], range[1], 6);

            // ... and autorange (a double-click) gives the axes back to the paging, which follows the newest points again.
            await page.EvaluateAsync($"() => window.Plotly.relayout('{chart}', {{ 'xaxis.autorange': true, 'yaxis.autorange': true }})");
            await page.WaitForFunctionAsync($$"""
                () => {
                    const gd = document.getElementById('{{chart}}');
                    const x = gd.data[0].x;
                    return gd.layout.xaxis.autorange === false && gd._fullLayout.xaxis.range[1] >= x[x.length - 1] && gd._fullLayout.xaxis.range[0] <= x[0];
                }
                """);
            await page.Context.CloseAsync();
        }
        finally
        {
            await engine.StopAsync(id, owner, CancellationToken.None);
        }
    }
}
