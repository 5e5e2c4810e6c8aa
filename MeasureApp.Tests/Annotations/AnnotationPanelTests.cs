using Bunit;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Annotations;
using MeasureApp.Components.Annotations;
using MeasureApp.History;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Annotations;

/// <summary>
/// The annotation panel rendered with bUnit against the real service on a fresh SQLite database: rows in time
/// order with tags and author, drawn on the chart through the JS module, and actions only where allowed.
/// </summary>
public sealed class AnnotationPanelTests : AppComponentTestContext
{
    [Fact]
    public async Task RowsShowEachAnnotationInTimeOrderAndOnlyTheAllowedActions()
    {
        var owner = await Users.CreateOperatorAsync(Factory.Services);
        var ownerMe = new Requester(owner.Id, owner.Email!, IsAdmin: false);
        var id = await AccessProbe.StoreMeasurementAsync(Factory.Services, owner.Id, owner.Email!, "Panel run");
        var service = Provide<AnnotationService>();
        var admin = new Requester("admin-id", "admin@test.local", IsAdmin: true);
        Assert.Equal(AnnotationOutcome.Ok, (await service.CreateAsync(ownerMe, id, new AnnotationInput("Ringing", "after the edge", 1.5, 2.25, ["edge", "ringing"]), CancellationToken.None)).Outcome);
        Assert.Equal(AnnotationOutcome.Ok, (await service.CreateAsync(admin, id, new AnnotationInput("Calibrated", null, 0.25, null, []), CancellationToken.None)).Outcome);
        SignIn(ownerMe);
        var record = await Factory.Services.GetRequiredService<MeasurementCatalog>().FindAsync(ownerMe, id, CancellationToken.None);

        var panel = Render<AnnotationPanel>(p => p.Add(c => c.Record, record!).Add(c => c.ChartId, "detail-chart"));

        panel.WaitForAssertion(() => Assert.Equal(2, panel.FindAll("tr.annotation-row").Count), Wait);
        var rows = panel.FindAll("tr.annotation-row");
        Assert.Contains("Calibrated", rows[0].TextContent, StringComparison.Ordinal);
        Assert.Equal("0.25", rows[0].QuerySelector(".annotation-time")!.TextContent.Trim());
        Assert.Contains("Ringing", rows[1].TextContent, StringComparison.Ordinal);
        Assert.Equal("1.5 – 2.25", rows[1].QuerySelector(".annotation-time")!.TextContent.Trim());
        Assert.Contains("ringing", rows[1].TextContent, StringComparison.Ordinal);
        Assert.Contains(owner.Email!, rows[1].TextContent, StringComparison.Ordinal);
        // The owner edits their own note only, deletes both (it is their measurement); a range can be exported.
        Assert.Null(rows[0].QuerySelector(".annotation-edit"));
        Assert.NotNull(rows[1].QuerySelector(".annotation-edit"));
        Assert.NotNull(rows[0].QuerySelector(".annotation-delete"));
        Assert.NotNull(rows[1].QuerySelector(".annotation-delete"));
        Assert.Contains("Annotations (2)", panel.Markup, StringComparison.Ordinal);
        // Drawn on the chart through annotations.js.
        panel.WaitForAssertion(() => Assert.Contains(Context.JSInterop.Invocations, i => i.Identifier == "import" && i.Arguments.Contains("./js/annotations.js")), Wait);
    }

    [Fact]
    public async Task AnotherOperatorOfTheSameMeasurementSeesNothingAndTheEmptyHint()
    {
        var owner = await Users.CreateOperatorAsync(Factory.Services);
        var other = await Users.CreateOperatorAsync(Factory.Services);
        var ownerMe = new Requester(owner.Id, owner.Email!, IsAdmin: false);
        var id = await AccessProbe.StoreMeasurementAsync(Factory.Services, owner.Id, owner.Email!, "Private run");
        var service = Provide<AnnotationService>();
        await service.CreateAsync(ownerMe, id, new AnnotationInput("Private note", null, 1, null, []), CancellationToken.None);
        var record = await Factory.Services.GetRequiredService<MeasurementCatalog>().FindAsync(ownerMe, id, CancellationToken.None);
        SignIn(new Requester(other.Id, other.Email!, IsAdmin: false));

        // Even handed the record, the panel asks the service as the other user, which does not find the measurement.
        var panel = Render<AnnotationPanel>(p => p.Add(c => c.Record, record!).Add(c => c.ChartId, "detail-chart"));

        panel.WaitForAssertion(() => Assert.NotNull(panel.Find("#annotations-empty")), Wait);
        Assert.DoesNotContain("Private note", panel.Markup, StringComparison.Ordinal);
    }
}
