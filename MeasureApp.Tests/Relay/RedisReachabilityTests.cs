using MeasureApp.Storage;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MeasureApp.Tests.Relay;

/// <summary>One Redis reachability state per instance: the readiness check and the relay report what the tracker sees.</summary>
public sealed class RedisReachabilityTests
{
    [Fact]
    public async Task WhatTheTrackerSeesIsWhatTheReadinessCheckAndTheRelayReport()
    {
        await using var two = await TwoInstances.StartAsync();
        var info = await two.StartOnAAsync(EngineHarness.Alice);
        var readiness = new RedisHealthCheck(two.RedisB, two.ReachB);
        Assert.Equal(HealthStatus.Healthy, (await readiness.CheckHealthAsync(new HealthCheckContext())).Status);

        // Any Redis feature of B (a limit counter, presence) saw a command fail.
        two.ReachB.ReportFailure("a command timed out");

        Assert.False(two.ReachB.IsReachable);
        Assert.Equal(HealthStatus.Unhealthy, (await readiness.CheckHealthAsync(new HealthCheckContext())).Status);
        await Eventually.TrueAsync(async () => !await ListedOnBAsync(two, info.Id), "B's relay stops listing A's measurement");

        // The liveness check re-published B's state.
        two.ReachB.ReportRecovered();

        Assert.Equal(HealthStatus.Healthy, (await readiness.CheckHealthAsync(new HealthCheckContext())).Status);
        await Eventually.TrueAsync(() => ListedOnBAsync(two, info.Id), "B's relay lists A's measurement again");
    }

    private static async Task<bool> ListedOnBAsync(TwoInstances two, Guid id) =>
        (await two.ClientB.ListRunningAsync(EngineHarness.Alice, CancellationToken.None)).Any(m => m.Id == id);
}
