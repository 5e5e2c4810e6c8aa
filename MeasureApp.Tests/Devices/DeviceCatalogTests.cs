using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Devices.Network;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Devices;
using MeasureApp.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace MeasureApp.Tests.Devices;

/// <summary>
/// Devices in the database: seeded from Acquisition:Devices, added/edited/removed at run time and used
/// by the next start without a restart; removal refused while in use; admin-only in the service and API.
/// </summary>
public abstract class DeviceCatalogTests(DatabaseProvider provider) : IAsyncLifetime
{
    private static readonly Requester Admin = new("admin-check", "admin@test.local", IsAdmin: true);
    private readonly AppFactory _factory = new(provider);

    private DeviceAdminService Service => _factory.Services.GetRequiredService<DeviceAdminService>();
    private MeasurementEngine Engine => _factory.Services.GetRequiredService<MeasurementEngine>();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _factory.DisposeAsync();

    [Fact]
    public async Task AFreshInstallListsTheConfiguredDevicesFromTheDatabase()
    {
        var rows = await Service.ListAsync(Admin, CancellationToken.None);

        Assert.Contains(rows, r => r.Device.Driver == "Simulated");
        var configured = _factory.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<AcquisitionOptions>>().Value.Devices;
        Assert.Equal(configured.Select(d => d.Id).Order(), rows.Select(r => r.Device.Id).Order());
    }

    [Fact]
    public async Task ADeviceAddedAtRunTimeStartsAMeasurementWithoutARestartAndCannotBeRemovedWhileInUse()
    {
        var op = await Users.CreateOperatorAsync(_factory.Services);
        var requester = new Requester(op.Id, op.Email!, IsAdmin: false);
        var request = new StartRequest { DeviceId = "bench-gen", Name = "new device", Channels = 2, SampleRate = 1000 };
        Assert.False((await Engine.StartAsync(requester, new UserLimits(), request, CancellationToken.None)).Succeeded);

        var added = await Service.AddAsync(Admin, new DeviceOptions { Id = "bench-gen", Name = "Bench generator", Driver = "Simulated", Seed = 3 }, CancellationToken.None);
        Assert.True(added.Succeeded, added.Message);
        Assert.Contains(Engine.Devices, d => d.Id == "bench-gen");

        var started = await Engine.StartAsync(requester, new UserLimits(), request, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        var removal = await Service.RemoveAsync(Admin, "bench-gen", CancellationToken.None);
        Assert.False(removal.Succeeded);
        Assert.Contains("in use by 1 running measurement", removal.Message, StringComparison.Ordinal);
        var row = Assert.Single(await Service.ListAsync(Admin, CancellationToken.None), r => r.Device.Id == "bench-gen");
        Assert.Equal(started.Measurement!.Id, Assert.Single(row.Running).Id);

        Assert.True(await Engine.StopAsync(started.Measurement.Id, requester, CancellationToken.None));
        Assert.True((await Service.RemoveAsync(Admin, "bench-gen", CancellationToken.None)).Succeeded);
        var refused = await Engine.StartAsync(requester, new UserLimits(), request, CancellationToken.None);
        Assert.Equal("Unknown device 'bench-gen'.", refused.Error);
    }

    [Fact]
    public async Task AnEditAppliesToTheNextStartAndInvalidSettingsAreRefusedNamingTheField()
    {
        Assert.True((await Service.AddAsync(Admin, new DeviceOptions { Id = "net-edit", Driver = "Network", TcpPort = 0, UdpPort = -1 }, CancellationToken.None)).Succeeded);

        var bad = await Service.UpdateAsync(Admin, "net-edit", new DeviceOptions { Id = "net-edit", Driver = "Network", TcpPort = 70000 }, CancellationToken.None);
        Assert.False(bad.Succeeded);
        var error = Assert.Single(bad.Errors);
        Assert.Equal(nameof(DeviceOptions.TcpPort), error.Field);
        Assert.Equal("TcpPort must be between 0 and 65535.", error.Message);

        Assert.True((await Service.UpdateAsync(Admin, "net-edit", new DeviceOptions { Id = "net-edit", Name = "Renamed", Driver = "Network", TcpPort = 0, UdpPort = -1 }, CancellationToken.None)).Succeeded);
        var catalog = _factory.Services.GetRequiredService<IDeviceCatalog>();
        Assert.Equal("Renamed", (await catalog.FindAsync("net-edit", CancellationToken.None))!.Name);

        var sigrok = await Service.AddAsync(Admin, new DeviceOptions { Id = "sr", Driver = "Sigrok", SigrokDriver = "demo" }, CancellationToken.None);
        Assert.Equal(nameof(DeviceOptions.Channels), Assert.Single(sigrok.Errors).Field);
        var unknown = await Service.AddAsync(Admin, new DeviceOptions { Id = "x", Driver = "Teleporter" }, CancellationToken.None);
        Assert.Equal(nameof(DeviceOptions.Driver), Assert.Single(unknown.Errors).Field);
    }

    [Fact]
    public async Task ANetworkDeviceAddedAtRunTimeListensAtOnceReopensWhenEditedAndStopsListeningWhenRemoved()
    {
        var network = _factory.Services.GetRequiredService<NetworkDriver>();
        var device = new DeviceOptions { Id = "net-rt", Driver = "Network", TcpPort = 0, UdpPort = -1 };

        var added = await Service.AddAsync(Admin, device, CancellationToken.None);

        Assert.True(added.Succeeded, added.Message);
        var listener = Assert.Single(network.Listeners, l => l.DeviceId == "net-rt");
        await AssertAcceptsAsync(listener.TcpEndPoint);
        var row = Assert.Single(await Service.ListAsync(Admin, CancellationToken.None), r => r.Device.Id == "net-rt");
        Assert.Equal($"TCP {listener.TcpEndPoint}, no UDP", row.Listening);

        // A port another listener holds is refused naming the port, and nothing is stored.
        var clash = await Service.AddAsync(Admin, new DeviceOptions { Id = "net-clash", Driver = "Network", TcpPort = listener.TcpEndPoint.Port, UdpPort = -1 }, CancellationToken.None);
        Assert.False(clash.Succeeded);
        Assert.Equal(nameof(DeviceOptions.TcpPort), Assert.Single(clash.Errors).Field);
        Assert.Contains($"cannot listen on 127.0.0.1 TCP {listener.TcpEndPoint.Port}", clash.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(network.Listeners, l => l.DeviceId == "net-clash");
        Assert.Null(await _factory.Services.GetRequiredService<IDeviceCatalog>().FindAsync("net-clash", CancellationToken.None));

        // An edit of the listener's settings reopens it with them.
        var edited = await Service.UpdateAsync(Admin, "net-rt", new DeviceOptions { Id = "net-rt", Driver = "Network", TcpPort = 0, UdpPort = 0, MaxConnections = 3 }, CancellationToken.None);
        Assert.True(edited.Succeeded, edited.Message);
        var reopened = Assert.Single(network.Listeners, l => l.DeviceId == "net-rt");
        Assert.NotSame(listener, reopened);
        Assert.NotNull(reopened.UdpEndPoint);
        await AssertAcceptsAsync(reopened.TcpEndPoint);

        // While a measurement uses it, its listener settings stay (the measurement's collectors stay connected).
        var op = await Users.CreateOperatorAsync(_factory.Services);
        var requester = new Requester(op.Id, op.Email!, IsAdmin: false);
        var started = await Engine.StartAsync(requester, new UserLimits(), new StartRequest { DeviceId = "net-rt", Name = "fed", Channels = 1, SampleRate = 1000 }, CancellationToken.None);
        Assert.True(started.Succeeded, started.Error);
        var busy = await Service.UpdateAsync(Admin, "net-rt", new DeviceOptions { Id = "net-rt", Driver = "Network", TcpPort = 0, UdpPort = -1 }, CancellationToken.None);
        Assert.False(busy.Succeeded);
        Assert.Contains("serves 1 running measurement(s)", busy.Message, StringComparison.Ordinal);
        Assert.Same(reopened, Assert.Single(network.Listeners, l => l.DeviceId == "net-rt"));
        Assert.True(await Engine.StopAsync(started.Measurement!.Id, requester, CancellationToken.None));

        var lastEndPoint = reopened.TcpEndPoint;
        Assert.True((await Service.RemoveAsync(Admin, "net-rt", CancellationToken.None)).Succeeded);
        Assert.DoesNotContain(network.Listeners, l => l.DeviceId == "net-rt");
        using var refused = new TcpClient();
        await Assert.ThrowsAsync<SocketException>(() => refused.ConnectAsync(lastEndPoint.Address, lastEndPoint.Port));
    }

    private static async Task AssertAcceptsAsync(IPEndPoint endPoint)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(endPoint.Address, endPoint.Port);
        Assert.True(client.Connected);
    }

    [Fact]
    public async Task OperatorsAreRefusedByTheServiceAndGetForbiddenOnTheAdminApiButSeeTheDeviceList()
    {
        var op = await Users.CreateOperatorAsync(_factory.Services);
        var requester = new Requester(op.Id, op.Email!, IsAdmin: false);
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Service.AddAsync(requester, new DeviceOptions { Id = "mine", Driver = "Simulated" }, CancellationToken.None));
        await Assert.ThrowsAsync<UnauthorizedAccessException>(() => Service.ListAsync(requester, CancellationToken.None));

        var client = await HttpLogin.LoggedInClientAsync(_factory, op.Email!, Users.Password);
        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync(new Uri("/api/admin/devices", UriKind.Relative))).StatusCode);
        var list = await client.GetFromJsonAsync<List<DeviceEndpoints.DeviceResource>>(new Uri("/api/devices", UriKind.Relative));
        Assert.NotNull(list);
        Assert.NotEmpty(list);
        Assert.DoesNotContain(list, d => d.Id == "mine");

        var admin = await HttpLogin.LoggedInClientAsync(_factory, AppFactory.AdminEmail, AppFactory.AdminPassword);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(new Uri("/api/admin/devices", UriKind.Relative))).StatusCode);
    }
}

public sealed class SqliteDeviceCatalogTests() : DeviceCatalogTests(DatabaseProvider.Sqlite);

public sealed class PostgresDeviceCatalogTests() : DeviceCatalogTests(DatabaseProvider.Postgres);
