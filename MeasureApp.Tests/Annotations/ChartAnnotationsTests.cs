using System.Text.Json;
using Bunit;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Annotations;
using MeasureApp.Components.Annotations;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;

namespace MeasureApp.Tests.Annotations;

/// <summary>
/// The annotations of the replay and live charts (ChartAnnotations) with bUnit against the real service: the
/// measurement's annotations are handed to annotations.js for the given chart, and nothing of a measurement the
/// viewer may not see.
/// </summary>
public sealed class ChartAnnotationsTests : AppComponentTestContext
{
    [Theory]
    [InlineData(true, 2)]
    [InlineData(false, 0)]
    public async Task TheReplayChartGetsTheAnnotationsOfAMeasurementTheViewerMaySee(bool viewerIsOwner, int drawn)
    {
        var owner = await Users.CreateOperatorAsync(Factory.Services);
        var other = await Users.CreateOperatorAsync(Factory.Services);
        var ownerMe = new Requester(owner.Id, owner.Email!, IsAdmin: false);
        var id = await AccessProbe.StoreMeasurementAsync(Factory.Services, owner.Id, owner.Email!, "Replayed run");
        var service = Provide<AnnotationService>();
        await service.CreateAsync(ownerMe, id, new AnnotationInput("Spike", null, 1.5, null, []), CancellationToken.None);
        await service.CreateAsync(ownerMe, id, new AnnotationInput("Window", null, 0.5, 1, []), CancellationToken.None);
        var viewer = viewerIsOwner ? ownerMe : new Requester(other.Id, other.Email!, IsAdmin: false);
        SignIn(viewer);
        var module = Context.JSInterop.SetupModule("./js/annotations.js");
        module.SetupVoid("show", _ => true).SetVoidResult();

        Render<ChartAnnotations>(p => p.Add(c => c.MeasurementId, id).Add(c => c.ChartId, "replay-plot"));

        var show = await WaitForShowAsync(module);
        Assert.Equal("replay-plot", show.Arguments[0]);
        var items = JsonSerializer.SerializeToElement(show.Arguments[1]);
        Assert.Equal(drawn, items.GetArrayLength());
        if (drawn > 0)
        {
            Assert.Equal(["Window", "Spike"], items.EnumerateArray().Select(i => i.GetProperty("title").GetString()!).ToArray());
            Assert.Equal(1.0, items[0].GetProperty("to").GetDouble());
        }
    }

    // Polls the recorded module calls until the deadline (the component draws after its first render's async reads).
    private static async Task<JSRuntimeInvocation> WaitForShowAsync(BunitJSModuleInterop module)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!module.Invocations.Any(i => i.Identifier == "show"))
        {
            Assert.True(waited.Elapsed < Wait, $"annotations.js show was not called within {Wait}.");
            await Task.Yield();
        }
        return module.Invocations.First(i => i.Identifier == "show");
    }
}
