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
    public void EachLimitIsShownBesideItsField()
    {
        var limits = new UserLimits { MaxChannels = 3, MaxSampleRate = 20_000, MaxDuration = TimeSpan.FromMinutes(30) };

        var form = Render<StartForm>(p => p
            .Add(x => x.Devices, Devices)
            .Add(x => x.Limits, limits)
            .Add(x => x.Running, 1)
            .Add(x => x.OnStart, _ => Task.FromResult<string?>(null)));

        // Each caption sits in the same row as its field.
        Assert.Contains("1 – 3", RowOf(form, "#start-channels").TextContent, StringComparison.Ordinal);
        Assert.Contains("20,000 Hz", RowOf(form, "#start-rate").TextContent, StringComparison.Ordinal);
        Assert.Contains("1,800 s", RowOf(form, "#start-duration").TextContent, StringComparison.Ordinal);
        Assert.Contains("(1 running now)", form.Find("#start-limits").TextContent, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("#start-rate", "50000", "Sample rate must be between 100 Hz and 10,000 Hz (you asked for 50,000 Hz).")]
    [InlineData("#start-channels", "5", "Channels must be between 1 and 4 (you asked for 5).")]
    [InlineData("#start-duration", "7200", "Duration must be more than 0 s and at most 3,600 s (you asked for 7,200 s).")]
    public void AValueAboveTheUsersLimitIsRefusedWithTheNumbersAndNeverReachesTheServer(string field, string value, string message)
    {
        StartRequest? sent = null;
        var form = Render<StartForm>(p => p
            .Add(x => x.Devices, Devices)
            .Add(x => x.Limits, new UserLimits { MaxSampleRate = 10_000, MaxChannels = 4, MaxDuration = TimeSpan.FromHours(1) })
            .Add(x => x.OnStart, r => { sent = r; return Task.FromResult<string?>(null); }));

        form.Find(field).Change(value);
        form.Find("#start-button").Click();

        form.WaitForAssertion(() => Assert.Equal(message, form.Find("#start-error").TextContent.Trim()));
        Assert.Null(sent);
        // The value is kept as typed (not silently clamped), so the user sees what was refused.
        Assert.Equal(value, form.Find(field).GetAttribute("value")!.Replace(",", "", StringComparison.Ordinal));
    }

    private static AngleSharp.Dom.IElement RowOf(IRenderedComponent<StartForm> form, string field) =>
        form.Find(field).Closest(".start-row") ?? throw new InvalidOperationException($"{field} is not in a row");

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
