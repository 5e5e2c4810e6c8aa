using Bunit;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Components.Live;
using MeasureApp.Export;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;

namespace MeasureApp.Tests.Components;

/// <summary>The export dialog: starts at the current zoom, refuses an export without channels, sends the chosen request (shown in the endpoint's query syntax).</summary>
public sealed class ExportDialogTests : MudTestContext
{
    private static readonly IReadOnlyList<ChannelInfo> Channels = [new("Pressure", "bar"), new("Flow", "l/min")];

    // The dialog follows a preparation through the app's progress service.
    public ExportDialogTests() => Context.Services.AddSingleton(new ExportProgress(TimeProvider.System));

    [Fact]
    public async Task TheRangeStartsAtTheCurrentZoom()
    {
        var (provider, _) = await ShowAsync(zoomFrom: 2.5, zoomTo: 4.25, _ => throw new InvalidOperationException("not expected"));

        Assert.Equal("2.5", provider.Find("#export-from").GetAttribute("value"));
        Assert.Equal("4.25", provider.Find("#export-to").GetAttribute("value"));
        Assert.Contains("preset to the current zoom", provider.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutAZoomTheRangeIsTheWholeMeasurementAndTheQueryHasNoRange()
    {
        string? sent = null;
        var (provider, _) = await ShowAsync(zoomFrom: null, zoomTo: null, q => { sent = q.ToQuery(); return Task.FromResult(new PrepareResult(null, "stop here")); });

        Assert.Equal("0", provider.Find("#export-from").GetAttribute("value"));
        Assert.Equal("10", provider.Find("#export-to").GetAttribute("value"));
        provider.Find("#export-start").Click();

        provider.WaitForAssertion(() => Assert.Equal("format=csv&channels=0,1&time=iso", sent));
    }

    [Fact]
    public async Task TheChosenChannelsAndZoomGoIntoTheQuery()
    {
        string? sent = null;
        var (provider, _) = await ShowAsync(zoomFrom: 2.5, zoomTo: 4.25, q => { sent = q.ToQuery(); return Task.FromResult(new PrepareResult(null, "stop here")); });

        provider.FindAll(".export-channel input")[0].Change(false);
        provider.Find("#export-start").Click();

        provider.WaitForAssertion(() => Assert.Equal("format=csv&channels=1&time=iso&from=2.5&to=4.25", sent));
        // The service's refusal is shown in the dialog.
        provider.WaitForAssertion(() => Assert.Equal("stop here", provider.Find("#export-error").TextContent.Trim()));
    }

    [Fact]
    public async Task AnExportWithoutChannelsIsRefusedAndNeverAsked()
    {
        var calls = 0;
        var (provider, _) = await ShowAsync(zoomFrom: null, zoomTo: null, _ => { calls++; return Task.FromResult(new PrepareResult(null, "x")); });

        foreach (var box in provider.FindAll(".export-channel input"))
        {
            box.Change(false);
        }
        provider.Find("#export-start").Click();

        provider.WaitForAssertion(() => Assert.Equal("Choose at least one channel to export.", provider.Find("#export-error").TextContent.Trim()));
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task ARangeWithFromAfterToIsRefusedWithTheNumbers()
    {
        var calls = 0;
        var (provider, _) = await ShowAsync(zoomFrom: null, zoomTo: null, _ => { calls++; return Task.FromResult(new PrepareResult(null, "x")); });

        provider.Find("#export-from").Change("7");
        provider.Find("#export-to").Change("3");
        provider.Find("#export-start").Click();

        provider.WaitForAssertion(() => Assert.Equal("From (7 s) must be before To (3 s).", provider.Find("#export-error").TextContent.Trim()));
        Assert.Equal(0, calls);
    }

    private async Task<(IRenderedComponent<MudDialogProvider> Provider, IDialogReference Dialog)> ShowAsync(double? zoomFrom, double? zoomTo, Func<ExportRequest, Task<PrepareResult>> prepare)
    {
        var provider = Render<MudDialogProvider>(_ => { });
        var dialogs = Context.Services.GetRequiredService<IDialogService>();
        var parameters = new DialogParameters<ExportDialog>
        {
            { d => d.MeasurementName, "Pump" },
            { d => d.Channels, Channels },
            { d => d.DurationSeconds, 10.0 },
            { d => d.SampleRate, 1000.0 },
            { d => d.ZoomFrom, zoomFrom },
            { d => d.ZoomTo, zoomTo },
            { d => d.Prepare, prepare },
            { d => d.Cancel, _ => { } },
        };
        var dialog = await provider.InvokeAsync(() => dialogs.ShowAsync<ExportDialog>("Export", parameters));
        provider.WaitForAssertion(() => Assert.NotEmpty(provider.FindAll("#export-start")));
        return (provider, dialog);
    }
}
