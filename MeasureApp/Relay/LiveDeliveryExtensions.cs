using MeasureApp.Live;
using MeasureApp.Relay;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of what shapes live delivery beyond one tab.</summary>
public static class LiveDeliveryExtensions
{
    /// <summary>
    /// The per-user live bandwidth governor, always; with <c>ConnectionStrings:Redis</c> set also the
    /// cross-instance relay (both its acquiring and its watching side, remote stop) and the sweep of measurements left Running by a crashed instance. Without Redis nothing else changes.
    /// </summary>
    public static IServiceCollection AddLiveRelay(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton<LiveBandwidthGovernor>();
        if (string.IsNullOrWhiteSpace(configuration.GetConnectionString("Redis")))
        {
            return services;
        }
        services.AddSectionOptions<RelayOptions>(RelayOptions.SectionName, o => [o.Problem()]);
        services.AddSingleton<LiveRelayClient>();
        services.AddSingleton<LiveRelayHost>();
        services.AddHostedService(sp => sp.GetRequiredService<LiveRelayHost>());
        services.AddSingleton<OrphanSweepService>();
        services.AddHostedService(sp => sp.GetRequiredService<OrphanSweepService>());
        return services;
    }
}
