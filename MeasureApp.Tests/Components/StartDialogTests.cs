using Bunit;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Components.Live;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;

namespace MeasureApp.Tests.Components;

/// <summary>The "New measurement" dialog: limits beside the fields, refusals explained, closes on success.</summary>
public sealed class StartDialogTests : MudTestContext
{
    private static readonly IReadOnlyList<DeviceOptions> Devices = [new DeviceOptions { Id = "sim-1", Name = "Signal generator" }];

    private static readonly UserLimits Limits = new() { MaxParallelMeasurements = 2, MaxChannels = 4, MaxSampleRate = 20_000 };

    private static readonly MeasurementInfo Started = new()
    {
        Id = Guid.NewGuid(),
        OwnerId = "u",
        OwnerName = "u@test",
        DeviceId = "sim-1",
        Name = "Run",
        SampleRate = 1000,
        Channels = [new ChannelInfo("ch1", "V")],
        StartedAt = DateTimeOffset.UtcNow,
        State = MeasurementState.Running,
    };

    [Fact]
    public async Task TheDialogShowsTheLimitsBesideTheFields()
    {
        var (provider, _) = await ShowAsync(_ => Task.FromResult(new StartResult(Started, null)));

        Assert.Contains("New measurement", provider.Markup, StringComparison.Ordinal);
        Assert.Contains("1 – 4", provider.Find("#limit-channels").TextContent, StringComparison.Ordinal);
        Assert.Contains("20,000 Hz", provider.Find("#limit-rate").TextContent, StringComparison.Ordinal);
        Assert.Contains("2 measurements at once (1 running now)", provider.Find("#start-limits").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnOverLimitRateIsRefusedInTheDialogWithTheNumbers()
    {
        var calls = 0;
        var (provider, _) = await ShowAsync(_ => { calls++; return Task.FromResult(new StartResult(Started, null)); });

        provider.Find("#start-rate").Change("25000");
        provider.Find("#start-button").Click();

        provider.WaitForAssertion(() => Assert.Contains("between 100 Hz and 20,000 Hz (you asked for 25,000 Hz)", provider.Find("#start-error").TextContent, StringComparison.Ordinal));
        Assert.Equal(0, calls);
        Assert.NotEmpty(provider.FindAll("#start-button"));
    }

    [Fact]
    public async Task TheEnginesRefusalTextAppearsInTheDialogAndItStaysOpen()
    {
        const string refusal = "You are running 2 of 2 allowed measurements.";
        var (provider, dialog) = await ShowAsync(_ => Task.FromResult(new StartResult(null, refusal)));

        provider.Find("#start-button").Click();

        provider.WaitForAssertion(() => Assert.Equal(refusal, provider.Find("#start-error").TextContent.Trim()));
        Assert.False(dialog.Result.IsCompleted);
    }

    [Fact]
    public async Task ASuccessfulStartClosesTheDialogWithTheMeasurement()
    {
        StartRequest? sent = null;
        var (provider, dialog) = await ShowAsync(r => { sent = r; return Task.FromResult(new StartResult(Started, null)); });

        provider.Find("#start-name").Change("Pump test");
        provider.Find("#start-button").Click();

        var result = await dialog.Result.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(result!.Canceled);
        Assert.Same(Started, result.Data);
        Assert.Equal("Pump test", sent!.Name);
        provider.WaitForAssertion(() => Assert.Empty(provider.FindAll("#start-button")));
    }

    private async Task<(IRenderedComponent<MudDialogProvider> Provider, IDialogReference Dialog)> ShowAsync(Func<StartRequest, Task<StartResult>> start)
    {
        var provider = Render<MudDialogProvider>(_ => { });
        var dialogs = Context.Services.GetRequiredService<IDialogService>();
        var parameters = new DialogParameters<StartDialog>
        {
            { d => d.Devices, Devices },
            { d => d.Limits, Limits },
            { d => d.Running, 1 },
            { d => d.Start, start },
        };
        var dialog = await provider.InvokeAsync(() => dialogs.ShowAsync<StartDialog>("New measurement", parameters));
        provider.WaitForAssertion(() => Assert.NotEmpty(provider.FindAll("#start-button")));
        return (provider, dialog);
    }
}
