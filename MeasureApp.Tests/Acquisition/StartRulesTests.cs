using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;

namespace MeasureApp.Tests.Acquisition;

/// <summary>The one start-request rule shared by the engine, the REST API and the start dialog.</summary>
public sealed class StartRulesTests
{
    [Fact]
    public void AValidRequestHasNoProblemAndAnEmptyOneHasOnePerMissingField()
    {
        Assert.Empty(StartRules.Check("pump", 2, 1000, TimeSpan.FromSeconds(10), new UserLimits()));

        var problems = StartRules.Check(null, null, null, null, limits: null);

        Assert.Equal([StartField.Name, StartField.Channels, StartField.SampleRate], problems.Select(p => p.Field));
        Assert.Equal("Channels must be between 1 and 8 (you asked for none).", problems[1].Message);
    }

    [Fact]
    public void AUsersLimitsNarrowTheEngineBoundsAndTheMessageStatesBoth()
    {
        var limits = new UserLimits { MaxChannels = 4, MaxSampleRate = 10_000, MaxDuration = TimeSpan.FromHours(1) };

        var problems = StartRules.Check("pump", 5, 50_000, TimeSpan.FromHours(2), limits);

        Assert.Equal(
            [
                "Channels must be between 1 and 4 (you asked for 5).",
                "Sample rate must be between 100 Hz and 10,000 Hz (you asked for 50,000 Hz).",
                "Duration must be more than 0 s and at most 3,600 s (you asked for 7,200 s).",
            ],
            problems.Select(p => p.Message));
        // Without the user's limits only the engine's bounds apply.
        Assert.Empty(StartRules.Check("pump", 5, 50_000, TimeSpan.FromHours(2), limits: null));
    }

    [Fact]
    public void LimitsAboveTheEngineBoundsDoNotWidenThem()
    {
        var generous = new UserLimits { MaxChannels = 64, MaxSampleRate = 1e9, MaxDuration = TimeSpan.FromDays(365) };

        var problems = StartRules.Check("pump", 9, 100_001, TimeSpan.FromDays(31), generous);

        Assert.Equal([StartField.Channels, StartField.SampleRate, StartField.Duration], problems.Select(p => p.Field));
    }
}
