using Bunit;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Annotations;
using MeasureApp.Components.Annotations;
using MeasureApp.Data;
using MeasureApp.History;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Annotations;

/// <summary>
/// The live card's "mark now" rendered with bUnit against the real services on a fresh SQLite database: the button
/// and the M key (as markNow.js reports it) each add a point annotation at the newest sample's time, tagged "mark".
/// </summary>
public sealed class MarkNowButtonTests : AppComponentTestContext
{
    [Fact]
    public async Task TheButtonAddsAPointAnnotationAtTheNewestSampleTime()
    {
        var (me, info, service) = await ArrangeAsync();

        var button = Render<MarkNowButton>(p => p.Add(c => c.Measurement, info).Add(c => c.ChartId, "live-chart-x"));
        await button.Find("button.mark-now").ClickAsync(new MouseEventArgs());

        var expected = info.SampleCount / info.SampleRate;
        var mark = Assert.Single((await service.ListAsync(me, info.Id, CancellationToken.None))!);
        Assert.Equal(expected, mark.From, 6);
        Assert.Null(mark.To);
        Assert.Equal(["mark"], mark.Tags);
        Assert.StartsWith("Mark at ", mark.Title, StringComparison.Ordinal);
        Assert.Equal(me.UserId, mark.AuthorId);
    }

    [Fact]
    public async Task TheMKeyListenerIsRegisteredAndAKeyPressAddsAMark()
    {
        var (me, info, service) = await ArrangeAsync();

        var button = Render<MarkNowButton>(p => p.Add(c => c.Measurement, info).Add(c => c.ChartId, "live-chart-x"));
        button.WaitForAssertion(() => Assert.Contains(Context.JSInterop.Invocations, i => i.Identifier == "import" && i.Arguments.Contains("./js/markNow.js")), Wait);
        await button.InvokeAsync(() => button.Instance.OnMarkKeyAsync());

        Assert.Equal(["mark"], Assert.Single((await service.ListAsync(me, info.Id, CancellationToken.None))!).Tags);
    }

    // A closing tab cancels the circuit's pending interop calls: the button's dispose (stop listening, release the
    // module) must take that cancellation instead of raising it as an unhandled circuit exception.
    [Fact]
    public async Task ClosingTheTabWhileTheKeyListenerStopsIsNotAnError()
    {
        var (_, info, _) = await ArrangeAsync();
        var keys = Context.JSInterop.SetupModule("./js/markNow.js");
        keys.SetupVoid("listen", _ => true).SetVoidResult();
        keys.SetupVoid("stop", _ => true).SetException(new TaskCanceledException("The tab closed."));
        var annotations = Context.JSInterop.SetupModule("./js/annotations.js");
        annotations.SetupVoid("detach", _ => true).SetException(new TaskCanceledException("The tab closed."));

        var button = Render<MarkNowButton>(p => p.Add(c => c.Measurement, info).Add(c => c.ChartId, "live-chart-x"));
        button.WaitForAssertion(() => Assert.Contains(keys.Invocations, i => i.Identifier == "listen"), Wait);

        await Context.DisposeComponentsAsync();

        Assert.Contains(keys.Invocations, i => i.Identifier == "stop");
        Assert.Contains(annotations.Invocations, i => i.Identifier == "detach");
        var failed = Context.Renderer.UnhandledException;
        Assert.False(failed.IsCompleted, failed.IsCompleted ? (await failed).ToString() : "");
    }

    private async Task<(Requester Me, MeasurementInfo Info, AnnotationService Service)> ArrangeAsync()
    {
        var owner = await Users.CreateOperatorAsync(Factory.Services);
        var me = new Requester(owner.Id, owner.Email!, IsAdmin: false);
        var id = await AccessProbe.StoreMeasurementAsync(Factory.Services, owner.Id, owner.Email!, "Marked run");
        var record = (await Factory.Services.GetRequiredService<MeasurementCatalog>().FindAsync(me, id, CancellationToken.None))!;
        var service = Provide<AnnotationService>();
        Provide<MeasurementEngine>();
        SignIn(me);
        return (me, record.ToInfo(), service);
    }
}
