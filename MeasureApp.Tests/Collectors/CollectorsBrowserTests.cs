using System.Diagnostics;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MeasureApp.Tests.Collectors;

/// <summary>
/// The new-user walk of the README in real Chromium with the real collector: create a token on the
/// Collectors page, start a measurement on the Network device, copy the command from its Live card,
/// run <c>scripts/collector</c> (a child process) over TCP and then UDP and watch the chart move;
/// revoke the token on the page and the collector's open connection is refused.
/// </summary>
public sealed class CollectorsBrowserTests(BrowserFixture browser) : IClassFixture<BrowserFixture>
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(60);

    // Time of the newest point of the first trace of the first live chart (null before any).
    private const string LastXJs = "() => { const p = document.querySelector('.live-chart .js-plotly-plot'); const x = p && p.data && p.data[0] ? p.data[0].x : null; return x && x.length ? Number(x[x.length - 1]) : null; }";

    [Fact]
    public async Task ATokenFromTheCollectorsPageFeedsTheChartOverTcpAndUdpUntilItIsRevoked()
    {
        var user = await Users.CreateOperatorAsync(browser.Factory.Services);
        var page = await browser.LoggedInPageAsync(user.Email!, Users.Password);
        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await page.ClickAsync("#nav-collectors");
        await page.WaitForSelectorAsync("#create-token");
        await page.WaitForSelectorAsync("#interactive", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });

        await page.FillAsync("#token-name", "field pc");
        await page.ClickAsync("#create-token");
        await page.WaitForSelectorAsync("#token-secret");
        var token = await page.InputValueAsync("#token-secret input");
        Assert.Matches("^[0-9a-f]{64}$", token);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("collectors.png"), FullPage = true });

        await BrowserFixture.GotoInteractiveAsync(page, "/live");
        await LivePageDriver.StartMeasurementAsync(page, "remote sine", sampleRate: 1000, channels: 2, device: "Network collectors");
        await page.WaitForSelectorAsync(".feed-command-tcp");
        var tcpCommand = await page.InputValueAsync(".feed-command-tcp input");
        var udpCommand = await page.InputValueAsync(".feed-command-udp input");
        var id = await page.InputValueAsync(".feed-measurement-id input");
        Assert.Contains($"--measurement {id}", tcpCommand, StringComparison.Ordinal);
        Assert.EndsWith("--udp", udpCommand, StringComparison.Ordinal);

        // TCP: the chart moves.
        using (var tcp = Collector.Start(tcpCommand, token))
        {
            await WaitUntilChartMovesAsync(page);
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = BrowserFixture.ScreenshotPath("live-collector.png"), FullPage = true });
            tcp.Stop();
        }
        // UDP: the chart moves on.
        using (var udp = Collector.Start(udpCommand, token))
        {
            await WaitUntilChartMovesAsync(page);
            udp.Stop();
        }

        // TCP again, then the token is revoked on the Collectors page (another tab): the open connection is refused.
        using var open = Collector.Start(tcpCommand, token);
        await WaitUntilChartMovesAsync(page);
        var collectors = await page.Context.NewPageAsync();
        await BrowserFixture.GotoInteractiveAsync(collectors, "/collectors");
        await collectors.ClickAsync(".revoke-token");
        await collectors.Locator(".mud-dialog button", new PageLocatorOptions { HasText = "Revoke" }).ClickAsync();
        await collectors.WaitForSelectorAsync(".token-revoked");
        var exit = await open.WaitForExitAsync(Guard);

        Assert.Equal(2, exit);
        Assert.Contains("AuthFailed", open.Errors, StringComparison.Ordinal);
        await page.Context.CloseAsync();
    }

    private static async Task WaitUntilChartMovesAsync(IPage page)
    {
        var before = await page.EvaluateAsync<double?>(LastXJs);
        await page.WaitForFunctionAsync($"b => {{ const f = {LastXJs}; const x = f(); return x !== null && (b === null || x > b + 0.5); }}", before,
            new PageWaitForFunctionOptions { Timeout = (float)Guard.TotalMilliseconds });
    }

    /// <summary>scripts/collector run with exactly the arguments the page shows after <c>--</c>; the token comes from MEASUREAPP_TOKEN as the page says.</summary>
    private sealed class Collector : IDisposable
    {
        private readonly Process _process;
        private readonly System.Text.StringBuilder _errors = new();

        private Collector(Process process) => _process = process;

        public string Errors
        {
            get
            {
                lock (_errors)
                {
                    return _errors.ToString();
                }
            }
        }

        public static Collector Start(string command, string token)
        {
            const string prefix = "dotnet run --project scripts/collector -- ";
            Assert.StartsWith(prefix, command, StringComparison.Ordinal);
            var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "MeasureApp.Collector.dll"));
            foreach (var arg in command[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                info.ArgumentList.Add(arg);
            }
            info.Environment["MEASUREAPP_TOKEN"] = token;
            var collector = new Collector(Process.Start(info)!);
            collector._process.ErrorDataReceived += (_, e) =>
            {
                lock (collector._errors)
                {
                    collector._errors.AppendLine(e.Data);
                }
            };
            collector._process.OutputDataReceived += (_, _) => { };
            collector._process.BeginErrorReadLine();
            collector._process.BeginOutputReadLine();
            return collector;
        }

        public async Task<int> WaitForExitAsync(TimeSpan guard)
        {
            using var timeout = new CancellationTokenSource(guard);
            await _process.WaitForExitAsync(timeout.Token);
            return _process.ExitCode;
        }

        public void Stop()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit();
            }
        }

        public void Dispose()
        {
            Stop();
            _process.Dispose();
        }
    }
}
