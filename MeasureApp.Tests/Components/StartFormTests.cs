using Bunit;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Components.Live;
using MeasureApp.Tests.Infrastructure;

namespace MeasureApp.Tests.Components;

public sealed class StartFormTests : MudTestContext
{
    private static readonly IReadOnlyList<DeviceOptions> Devices = [new DeviceOptions { Id = "sim-1", Name = "Signal generator" }];

    [Fact]
    public void ShowsTheUsersLimitsBesideTheFields()
    {
        var limits = new UserLimits { MaxParallelMeasurements = 2, MaxChannels = 4, MaxSampleRate = 20_000 };

        var form = Render<StartForm>(p => p
            .Add(x => x.Devices, Devices)
            .Add(x => x.Limits, limits)
            .Add(x => x.OnStart, _ => Task.FromResult<string?>(null)));

        var text = form.Find("#start-limits").TextContent;
        Assert.Contains("2 measurements at once", text, StringComparison.Ordinal);
        Assert.Contains("4 channels", text, StringComparison.Ordinal);
        Assert.Contains("20,000 Hz", text, StringComparison.Ordinal);
    }

    [Fact]
    public void StartSendsTheChosenValues()
    {
        StartRequest? sent = null;
        var form = Render<StartForm>(p => p
            .Add(x => x.Devices, Devices)
            .Add(x => x.Limits, new UserLimits())
            .Add(x => x.OnStart, r => { sent = r; return Task.FromResult<string?>(null); }));

        form.Find("#start-name").Change("Bearing test");
        form.Find("#start-channels").Change("3");
        form.Find("#start-rate").Change("5000");
        form.Find("#start-button").Click();

        form.WaitForAssertion(() => Assert.NotNull(sent));
        Assert.Equal("sim-1", sent!.DeviceId);
        Assert.Equal("Bearing test", sent.Name);
        Assert.Equal(3, sent.Channels);
        Assert.Equal(5000, sent.SampleRate);
        Assert.Empty(form.FindAll("#start-error"));
    }

    [Fact]
    public void ARateAboveTheUsersLimitNeverReachesTheServer()
    {
        StartRequest? sent = null;
        var form = Render<StartForm>(p => p
            .Add(x => x.Devices, Devices)
            .Add(x => x.Limits, new UserLimits { MaxSampleRate = 10_000 })
            .Add(x => x.OnStart, r => { sent = r; return Task.FromResult<string?>(null); }));

        form.Find("#start-rate").Change("50000");
        form.Find("#start-button").Click();

        // The field clamps to the user's limit, so the request respects it (the engine re-checks on the server).
        form.WaitForAssertion(() => Assert.NotNull(sent));
        Assert.Equal("10000", form.Find("#start-rate").GetAttribute("value"));
        Assert.Equal(10_000, sent!.SampleRate);
    }

    [Fact]
    public void AServerRefusalIsShown()
    {
        var form = Render<StartForm>(p => p
            .Add(x => x.Devices, Devices)
            .Add(x => x.Limits, new UserLimits())
            .Add(x => x.OnStart, _ => Task.FromResult<string?>("You are running 4 of 4 allowed measurements.")));

        form.Find("#start-button").Click();

        form.WaitForAssertion(() => Assert.Contains("4 of 4", form.Find("#start-error").TextContent, StringComparison.Ordinal));
    }
}
