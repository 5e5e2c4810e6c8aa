using Bunit;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Acquisition.Storage;
using MeasureApp.Analysis;
using MeasureApp.Export;
using MeasureApp.History;
using MeasureApp.Identity;
using MeasureApp.Tests.Acquisition;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.Extensions.DependencyInjection;
using MeasurementDetail = MeasureApp.Components.Pages.MeasurementDetail;

namespace MeasureApp.Tests.History;

/// <summary>
/// The detail page of a RUNNING measurement shows the engine's live fault counts (the stored ones are
/// saved only when it stops) and follows every new burst while the page is open (bUnit, SQLite).
/// </summary>
public sealed class DetailLiveFaultsTests : MudTestContext
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);
    private readonly SinkDriver _driver = new();
    private EngineHarness? _harness;

    [Fact]
    public async Task TheDetailPageOfARunningMeasurementShowsTheLiveFaultCountsAndFollowsNewBursts()
    {
        var user = await Users.CreateOperatorAsync(_factory.Services);
        var me = new Requester(user.Id, user.Email!, IsAdmin: false);
        _harness = await EngineHarness.StartNewAsync([SinkDriver.Device], [_driver]);
        var running = await _harness.StartMeasurementAsync(me, EngineHarness.Request("faulty run") with { DeviceId = SinkDriver.Device.Id });
        // The page reads the record from the database: a running row without stored faults, as the engine creates it.
        await _factory.Services.GetRequiredService<ISampleStore>().CreateMeasurementAsync(running, CancellationToken.None);
        Context.Services.AddSingleton(_harness.Engine);
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<HistoryService>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<PreparedExports>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<AnalysisService>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<MeasureApp.Annotations.AnnotationService>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<MeasureApp.Tags.MeasurementLabelService>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<MeasureApp.Sharing.ShareService>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<MeasureApp.Sharing.ShareRevocations>());
        Context.Services.AddSingleton(new CurrentUser(new TestPrincipal(me.UserId, me.UserName, me.IsAdmin)));
        _driver.Sink!.Fault("crc", "Record 7 failed its checksum.", 5);

        var page = Render<MeasurementDetail>(p => p.Add(c => c.Id, running.Id));

        page.WaitForAssertion(() => Assert.Equal("crc 5", page.Find(".chip-fault[data-kind='crc']").TextContent.Trim()), Wait);
        Assert.Equal("live", page.Find("#detail-faults").GetAttribute("data-live"));

        // A new burst while the page is open: the page follows it without a reload.
        _driver.Sink.Fault("overrun", "46 records were overwritten.", 46);
        page.WaitForAssertion(() => Assert.Equal("overrun 46", page.Find(".chip-fault[data-kind='overrun']").TextContent.Trim()), Wait);
        Assert.Equal("crc 5", page.Find(".chip-fault[data-kind='crc']").TextContent.Trim());
        var stored = await _factory.Services.GetRequiredService<MeasurementCatalog>().FindAsync(me, running.Id, CancellationToken.None);
        Assert.Empty(MeasurementFaults.Parse(stored!.FaultsJson));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_harness is not null)
        {
            await _harness.DisposeAsync();
        }
        _factory.Dispose();
    }

    /// <summary>A device that produces nothing and hands its sink to the test, which reports faults through it.</summary>
    private sealed class SinkDriver : IDeviceDriver
    {
        public static readonly DeviceOptions Device = new() { Id = "sink1", Driver = "Sink" };

        public IBlockSink? Sink { get; private set; }

        public string Kind => "Sink";

        public IAsyncDisposable Start(DeviceOptions device, MeasurementInfo measurement, IBlockSink sink)
        {
            Sink = sink;
            return new Nothing();
        }

        private sealed class Nothing : IAsyncDisposable
        {
            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
