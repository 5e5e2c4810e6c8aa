using MeasureApp.Acquisition.Coordination;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.Hosting;

/// <summary>Registers the acquisition engine.</summary>
public static class AcquisitionExtensions
{
    /// <summary>
    /// Adds devices, the measurement engine, the live hub and the store writer. The host provides
    /// an <see cref="ISampleStore"/>; without another <see cref="ILimitCoordinator"/> the in-process one is used.
    /// </summary>
    public static IHostApplicationBuilder AddAcquisition(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;

        services.AddSectionOptions<AcquisitionOptions>(AcquisitionOptions.SectionName, o =>
            [o.Devices.Select(d => d.Id).Distinct(StringComparer.Ordinal).Count() == o.Devices.Count ? null : "Acquisition:Devices: every device needs a unique Id."]);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ILimitCoordinator, InProcessLimitCoordinator>();

        // Devices (the web host replaces the catalog with its database-backed one)
        services.AddSingleton<DeviceFaults>();
        services.TryAddSingleton<IDeviceCatalog, OptionsDeviceCatalog>();
        services.AddSingleton<IDeviceDriver, SimulatedDriver>();
        services.AddSingleton<IDeviceDriver, MeasureApp.Acquisition.Devices.SharedMemory.SharedMemoryDriver>();
        services.TryAddSingleton<ICollectorTokens, InMemoryCollectorTokens>();
        services.AddSingleton<MeasureApp.Acquisition.Devices.Network.NetworkDriver>();
        services.AddSingleton<IDeviceDriver>(sp => sp.GetRequiredService<MeasureApp.Acquisition.Devices.Network.NetworkDriver>());
        services.AddHostedService(sp => sp.GetRequiredService<MeasureApp.Acquisition.Devices.Network.NetworkDriver>());
        services.AddSingleton<IDeviceDriver, MeasureApp.Acquisition.Devices.Scpi.ScpiDriver>();
        services.AddSingleton<Microsoft.Extensions.Options.IValidateOptions<AcquisitionOptions>, MeasureApp.Acquisition.Devices.Scpi.ScpiSettingsValidator>();
        services.AddSingleton<IDeviceDriver, MeasureApp.Acquisition.Devices.Sigrok.SigrokDriver>();

        // Live fan-out and storage
        services.AddSingleton<MeasureApp.Acquisition.Accounting.ResourceAccountant>();
        services.AddSingleton<LiveHub>();
        services.AddSingleton<StoreWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<StoreWriter>());

        // Measurements: one object is both the API and the worker (registered after the writer so it stops first).
        services.AddSingleton<MeasurementEngine>();
        services.AddHostedService(sp => sp.GetRequiredService<MeasurementEngine>());
        return builder;
    }
}
