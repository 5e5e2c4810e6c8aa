using Bunit;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Components.Tags;
using MeasureApp.Data;
using MeasureApp.History;
using MeasureApp.Tags;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using MudBlazor;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Tags;

/// <summary>
/// The detail page's tag chips and metadata editor rendered with bUnit against the real service on a fresh SQLite
/// database: the owner adds a tag with Enter, removes one, saves metadata; refused input shows the reason and
/// stores nothing; a viewer without write access gets no controls.
/// </summary>
public sealed class LabelEditorTests : AppComponentTestContext
{
    [Fact]
    public async Task TheOwnerAddsATagWithEnterRemovesOneAndSavesMetadata()
    {
        var (me, record, service) = await ArrangeAsync(asOwner: true, tags: ["old"]);

        var editor = Render<LabelEditor>(p => p.Add(c => c.Record, record));
        editor.WaitForAssertion(() => Assert.Single(editor.FindAll(".label-tag")), Wait);
        editor.Find("#label-tag-input").Input("Thermal");
        editor.Find("#label-tag-input").KeyDown("Enter");
        editor.WaitForAssertion(() => Assert.Equal(2, editor.FindAll(".label-tag").Count), Wait);
        editor.FindAll(".label-tag").Single(c => c.TextContent.Trim() == "old").QuerySelector(".mud-chip-close-button")!.Click();
        editor.WaitForAssertion(() => Assert.Equal(["Thermal"], editor.FindAll(".label-tag").Select(c => c.TextContent.Trim()).ToArray()), Wait);

        editor.Find("#label-metadata-edit").Click();
        var keys = editor.FindAll(".label-key input");
        var values = editor.FindAll(".label-value input");
        values[0].Change("Board rev B");
        values[1].Change("Ada");
        editor.Find("#label-metadata-save").Click();

        editor.WaitForAssertion(() => Assert.Equal(2, editor.FindAll(".label-metadata-entry").Count), Wait);
        var stored = await service.GetAsync(me, record.Id, CancellationToken.None);
        Assert.Equal(["Thermal"], stored!.Tags);
        Assert.Equal("Board rev B", stored.Metadata["device under test"]);
        Assert.Equal("Ada", stored.Metadata["operator"]);
        Assert.Equal(2, keys.Count);
    }

    [Fact]
    public async Task RefusedMetadataShowsTheReasonAndStoresNothing()
    {
        var (me, record, service) = await ArrangeAsync(asOwner: true, tags: []);

        var editor = Render<LabelEditor>(p => p.Add(c => c.Record, record));
        editor.WaitForAssertion(() => Assert.NotNull(editor.Find("#label-metadata-edit")), Wait);
        editor.Find("#label-metadata-edit").Click();
        editor.FindAll(".label-value input")[0].Change(new string('x', MeasurementLabelService.MaxValueLength + 1));
        editor.Find("#label-metadata-save").Click();

        var snackbars = Context.Services.GetRequiredService<ISnackbar>();
        editor.WaitForAssertion(() => Assert.Contains(snackbars.ShownSnackbars, s => s.Message != null && s.Message.Contains("at most 500", StringComparison.Ordinal)), Wait);
        Assert.Empty((await service.GetAsync(me, record.Id, CancellationToken.None))!.Metadata);
        Assert.NotNull(editor.Find("#label-metadata-save"));
    }

    [Fact]
    public async Task AViewerWithoutWriteAccessSeesTheLabelsButNoControls()
    {
        var (_, record, _) = await ArrangeAsync(asOwner: false, tags: ["calibration"]);

        var editor = Render<LabelEditor>(p => p.Add(c => c.Record, record));

        editor.WaitForAssertion(() => Assert.Equal("calibration", editor.Find(".label-tag").TextContent.Trim()), Wait);
        Assert.Empty(editor.FindAll("#label-tag-input"));
        Assert.Empty(editor.FindAll("#label-metadata-edit"));
        Assert.Empty(editor.FindAll(".mud-chip-close-button"));
    }

    // asOwner false: the component is handed a record owned by someone else (what a read-only shared viewer gets);
    // the labels still load through the service, which finds the measurement for the signed-in user.
    private async Task<(Requester Me, MeasurementRecord Record, MeasurementLabelService Service)> ArrangeAsync(bool asOwner, string[] tags)
    {
        var owner = await Users.CreateOperatorAsync(Factory.Services);
        var ownerMe = new Requester(owner.Id, owner.Email!, IsAdmin: false);
        var id = await AccessProbe.StoreMeasurementAsync(Factory.Services, owner.Id, owner.Email!, "Labelled run");
        var service = Provide<MeasurementLabelService>();
        Assert.Equal(LabelOutcome.Ok, (await service.SetTagsAsync(ownerMe, id, tags, CancellationToken.None)).Outcome);
        var record = (await Factory.Services.GetRequiredService<MeasurementCatalog>().FindAsync(ownerMe, id, CancellationToken.None))!;
        SignIn(ownerMe);
        if (!asOwner)
        {
            record = new MeasurementRecord
            {
                Id = record.Id, OwnerId = "someone-else", OwnerName = "someone", Name = record.Name, DeviceId = record.DeviceId, ChannelsJson = record.ChannelsJson,
            };
        }
        return (ownerMe, record, service);
    }
}
