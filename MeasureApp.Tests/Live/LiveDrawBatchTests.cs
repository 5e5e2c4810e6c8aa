using Bunit;
using MeasureApp.Acquisition.Live;
using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Relay;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.JSInterop;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Live;

/// <summary>A tab's live charts are drawn with one browser call per drain tick; a chart the browser fails on is told alone.</summary>
public sealed class LiveDrawBatchTests : IAsyncDisposable
{
    private readonly BunitContext _browser = new();

    private static LiveFrame Frame(double x, float y)
    {
        var frame = new LiveFrame(1);
        frame.X[0].Add(x);
        frame.Y[0].Add(y);
        return frame;
    }

    private static UserSession DetachedSession() =>
        new(null!, null!, null!, null!, TimeProvider.System, NullLogger<UserSession>.Instance);

    [Fact]
    public async Task TwoQueuedChartsAreDrawnWithOneCallAndAFailingOneIsToldAlone()
    {
        var module = _browser.JSInterop.SetupModule("./js/liveChart.js");
        module.Setup<string?[]>("extendMany", _ => true).SetResult([null, "no plot element"]);
        await using var session = DetachedSession();
        var batch = new LiveDrawBatch(_browser.Services.GetRequiredService<IJSRuntime>(), session);
        Exception? first = null, second = null;

        batch.Queue("chart-a", Frame(0.5, 1), 4000, ex => first = ex);
        batch.Queue("chart-b", Frame(0.5, 2), 4000, ex => second = ex);
        await batch.FlushAsync();
        await batch.FlushAsync();

        var call = Assert.Single(module.Invocations["extendMany"]);
        Assert.Equal(["chart-a", "chart-b"], ((IEnumerable<string>)call.Arguments[0]!).ToArray());
        Assert.Null(first);
        Assert.Equal("no plot element", Assert.IsType<JSException>(second).Message);
    }

    [Fact]
    public async Task WhenTheBatchCallItselfFailsEveryChartInItIsTold()
    {
        var module = _browser.JSInterop.SetupModule("./js/liveChart.js");
        module.Setup<string?[]>("extendMany", _ => true).SetException(new JSException("Plotly is not loaded"));
        await using var session = DetachedSession();
        var batch = new LiveDrawBatch(_browser.Services.GetRequiredService<IJSRuntime>(), session);
        var told = new List<string>();

        batch.Queue("chart-a", Frame(0.5, 1), 4000, ex => told.Add("a: " + ex.Message));
        batch.Queue("chart-b", Frame(0.5, 2), 4000, ex => told.Add("b: " + ex.Message));
        await batch.FlushAsync();

        Assert.Equal(["a: Plotly is not loaded", "b: Plotly is not loaded"], told);
    }

    [Fact]
    public async Task TheTabsDrainLoopFlushesOnceATickForAllItsCharts()
    {
        var module = _browser.JSInterop.SetupModule("./js/liveChart.js");
        module.Setup<string?[]>("extendMany", _ => true).SetResult([null, null, null]);
        await using var h = await EngineHarness.StartNewAsync(writerTime: TimeProvider.System);
        await using var tab = new UserSession(h.Engine, h.Hub, null!, new CurrentUser(new LoggedIn(Alice)), h.Time, NullLogger<UserSession>.Instance);
        var batch = new LiveDrawBatch(_browser.Services.GetRequiredService<IJSRuntime>(), tab);
        var m1 = await h.StartMeasurementAsync(Alice, Request(rate: 1000));
        var m2 = await h.StartMeasurementAsync(Alice, Request(rate: 1000));
        using var one = await tab.AttachAsync(m1.Id, 200, f => Queue("chart-1", f), _ => { });
        using var two = await tab.AttachAsync(m2.Id, 200, f => Queue("chart-2", f), _ => { });

        await DrainLoopTests.StepUntilAsync(h, tab, () => module.Invocations["extendMany"].Any(c => ((IEnumerable<string>)c.Arguments[0]!).Count() == 2),
            () => $"both charts drawn in one call ({module.Invocations["extendMany"].Count} calls)");

        Assert.True(module.Invocations["extendMany"].Count <= tab.DrainTicks, $"{module.Invocations["extendMany"].Count} calls in {tab.DrainTicks} ticks");
        Assert.True(await h.Engine.StopAsync(m1.Id, Alice, CancellationToken.None));
        Assert.True(await h.Engine.StopAsync(m2.Id, Alice, CancellationToken.None));

        Task Queue(string chart, LiveFrame frame)
        {
            batch.Queue(chart, frame, 800, _ => { });
            return Task.CompletedTask;
        }
    }

    public async ValueTask DisposeAsync() => await _browser.DisposeAsync();
}
