using MeasureApp.Acquisition.Accounting;
using MeasureApp.Acquisition.Live;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using static MeasureApp.Tests.Acquisition.EngineHarness;

namespace MeasureApp.Tests.Acquisition.Accounting;

public sealed class RegistrationTests
{
    [Fact]
    public async Task TheRegisteredHubChargesTheOneRegisteredAccountant()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.AddAcquisition();
        builder.Services.AddSingleton<ISampleStore, InMemorySampleStore>();
        await using var services = builder.Services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        var hub = services.GetRequiredService<LiveHub>();
        var accountant = services.GetRequiredService<ResourceAccountant>();
        var info = AccountedEngine.LiveInfo(Alice);
        hub.Open(info);

        using var sub = hub.Subscribe(info.Id, Alice, new LiveView(100, TimeSpan.FromSeconds(1)));

        Assert.NotNull(services.GetRequiredService<MeasurementEngine>());
        Assert.Equal(1, AccountedEngine.UsageOf(accountant.Snapshot(), Alice).OpenSubscriptions);
    }
}
