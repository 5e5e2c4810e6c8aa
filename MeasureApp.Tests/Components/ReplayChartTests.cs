using System.Diagnostics;
using Bunit;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Annotations;
using MeasureApp.Components.Live;
using MeasureApp.History;
using MeasureApp.Identity;
using MeasureApp.Live;
using MeasureApp.Tests.History;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace MeasureApp.Tests.Components;

/// <summary>The REPLAY chart draws the way the live charts do: its frames go to js/liveChart.js, not through Plotly.Blazor.</summary>
public sealed class ReplayChartTests : MudTestContext
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);

    [Fact]
    public async Task TheReplayChartDrawsItsFramesThroughLiveChartJs()
    {
        var owner = await Users.CreateOperatorAsync(_factory.Services);
        var id = await SpikeMeasurement.CreateAsync(_factory.Services, owner.Id);
        var me = new Requester(owner.Id, owner.Email!, IsAdmin: false);
        var time = new FakeTimeProvider();
        await using var playback = new TabPlayback(_factory.Services.GetRequiredService<ISampleStore>(), _factory.Services.GetRequiredService<MeasurementCatalog>(),
            new CurrentUser(null!), time, NullLogger<TabPlayback>.Instance);
        Assert.True(await playback.LoadReplayAsync(me, id, CancellationToken.None));
        Context.Services.AddSingleton(playback);
        // The chart also shows the measurement's annotations and, paused, its cursors.
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<AnnotationService>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<MeasureApp.Analysis.AnalysisService>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<MeasurementCatalog>());
        Context.Services.AddSingleton(new CurrentUser(new TestPrincipal(me.UserId, me.UserName, me.IsAdmin)));
        var liveChart = Context.JSInterop.SetupModule("./js/liveChart.js");
        liveChart.SetupVoid("forget", _ => true).SetVoidResult();
        liveChart.SetupVoid("extend", _ => true).SetVoidResult();

        Render<ReplayChart>(p => p.Add(c => c.Source, playback.Source!));
        // Attached once the plot was drawn: the chart's id is cleared of anything an earlier chart left queued.
        await UntilAsync(() => liveChart.Invocations.Any(i => i.Identifier == "forget"), "liveChart.js forget");
        playback.Play();
        // The player's loop runs on the fake clock: it steps until a frame was drawn.
        await UntilAsync(() => liveChart.Invocations.Any(i => i.Identifier == "extend"), "liveChart.js extend",
            step: () => time.Advance(TimeSpan.FromMilliseconds(100)));

        var extend = liveChart.Invocations.First(i => i.Identifier == "extend");
        Assert.Equal("replay-plot", extend.Arguments[0]);
        var xs = Assert.Single(Assert.IsAssignableFrom<IEnumerable<List<double>>>(extend.Arguments[1]));
        var ys = Assert.Single(Assert.IsAssignableFrom<IEnumerable<object>>(extend.Arguments[2]));
        Assert.NotEmpty(xs);
        Assert.Equal(xs.Count, Assert.IsAssignableFrom<IEnumerable<float>>(ys).Count());
        Assert.Equal(xs.Order(), xs);
        Assert.Equal(4000, extend.Arguments[3]);
        Assert.Equal("forget", liveChart.Invocations.First().Identifier);
        // Nothing went through Plotly.Blazor's point-by-point extendTraces.
        Assert.DoesNotContain(Context.JSInterop.Invocations, i => i.Identifier.Contains("extendTraces", StringComparison.OrdinalIgnoreCase));
    }

    // Polls a condition until the deadline (the chart attaches and draws after async reads on other threads).
    // The condition runs on the renderer's dispatcher: the components record their JS calls there, and
    // enumerating the recorded calls from another thread meanwhile threw "Collection was modified" under load.
    private async Task UntilAsync(Func<bool> condition, string what, Action? step = null)
    {
        var waited = Stopwatch.StartNew();
        while (!await Context.Renderer.Dispatcher.InvokeAsync(condition))
        {
            step?.Invoke();
            Assert.True(waited.Elapsed < Wait, $"{what} was not called within {Wait}.");
            await Task.Yield();
        }
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _factory.Dispose();
    }
}
