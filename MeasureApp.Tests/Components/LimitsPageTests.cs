using MeasureApp.Acquisition.Measurements;
using MeasureApp.Limits;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Components;

/// <summary>Limit overrides: validation messages state the numbers; only admins may change them.</summary>
public sealed class LimitsValidationTests : IDisposable
{
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);

    [Fact]
    public void OutOfRangeValuesAreRefusedWithTheAllowedRange()
    {
        var errors = new LimitOverrides { MaxChannels = 12, MaxSampleRate = 50, MaxParallelMeasurements = 0, MaxDuration = TimeSpan.FromDays(40) }.Validate();

        Assert.Contains(errors, e => e.Contains("Channels must be between 1 and 8 (got 12)", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Sample rate must be between 100 Hz and 100,000 Hz (got 50 Hz)", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("Parallel measurements must be between 1 and 64 (got 0)", StringComparison.Ordinal));
        Assert.Contains("Duration must be between 1 s and 30 days (got 40 days).", errors);
    }

    [Fact]
    public void BandwidthIsRefusedInTheUnitThePageUses()
    {
        var errors = new LimitOverrides { MaxLiveBytesPerSecond = 5_000 }.Validate();

        Assert.Equal(["Live bandwidth must be between 0.01 MB/s and 1,000 MB/s (got 0.005 MB/s)."], errors);
    }

    [Fact]
    public void EmptyOverridesAreValid() => Assert.Empty(new LimitOverrides().Validate());

    [Fact]
    public async Task SavedOverridesBecomeTheUsersEffectiveLimitsAndInvalidOnesAreNotStored()
    {
        var op = await Users.CreateOperatorAsync(_factory.Services);
        var admin = new Requester("admin-id", "admin", IsAdmin: true);
        var service = _factory.Services.GetRequiredService<LimitsAdminService>();

        var refused = await service.SaveOverridesAsync(admin, op.Id, new LimitOverrides { MaxChannels = 99 }, CancellationToken.None);
        var saved = await service.SaveOverridesAsync(admin, op.Id, new LimitOverrides { MaxParallelMeasurements = 2, MaxChannels = 3 }, CancellationToken.None);

        Assert.NotEmpty(refused);
        Assert.Empty(saved);
        await using var scope = _factory.Services.CreateAsyncScope();
        var effective = await scope.ServiceProvider.GetRequiredService<LimitsService>().GetAsync(op.Id, CancellationToken.None);
        Assert.Equal(2, effective.MaxParallelMeasurements);
        Assert.Equal(3, effective.MaxChannels);
        Assert.Equal(100_000, effective.MaxSampleRate);
    }

    [Fact]
    public async Task AnOperatorCannotChangeLimits()
    {
        var op = await Users.CreateOperatorAsync(_factory.Services);
        var service = _factory.Services.GetRequiredService<LimitsAdminService>();

        await Assert.ThrowsAsync<UnauthorizedAccessException>(() =>
            service.SaveOverridesAsync(new Requester(op.Id, op.Email!, IsAdmin: false), op.Id, new LimitOverrides { MaxParallelMeasurements = 64 }, CancellationToken.None));
    }

    [Fact]
    public async Task AForgedUserIdIsNotFound()
    {
        var service = _factory.Services.GetRequiredService<LimitsAdminService>();

        var errors = await service.SaveOverridesAsync(new Requester("a", "a", IsAdmin: true), "no-such-user", new LimitOverrides { MaxChannels = 2 }, CancellationToken.None);

        Assert.Equal(["User not found."], errors);
    }

    public void Dispose() => _factory.Dispose();
}
