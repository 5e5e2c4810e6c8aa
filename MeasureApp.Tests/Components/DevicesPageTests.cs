using System.Globalization;
using System.Reflection;
using Bunit;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.Devices;
using MeasureApp.Identity;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.ScpiSim;
using MeasureApp.Tests.Security;
using MudBlazor;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using DevicesPage = MeasureApp.Components.Pages.Admin.Devices;

namespace MeasureApp.Tests.Components;

/// <summary>
/// The Devices admin page (bUnit, real services on a fresh SQLite database): lists the seeded devices,
/// refuses an invalid field naming it and stores nothing, adds, edits, removes, and shows the result of
/// the driver's connection test (the sigrok demo device's scan line as identity).
/// </summary>
public sealed class DevicesPageTests : MudTestContext
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);
    private static readonly Requester Admin = new("admin-check", "admin@test.local", IsAdmin: true);

    private DeviceAdminService Service => _factory.Services.GetRequiredService<DeviceAdminService>();

    [Fact]
    public async Task ListsTheSeededDevicesWithTheirDriver()
    {
        var page = await RenderAsAdminAsync();

        var seeded = (await Service.ListAsync(Admin, CancellationToken.None)).Select(r => r.Device).ToList();
        Assert.NotEmpty(seeded);
        Assert.Equal(seeded.Select(d => d.Id), page.FindAll(".device-id").Select(e => e.TextContent.Trim()));
        Assert.Equal(seeded.Select(d => d.Driver), page.FindAll(".device-driver").Select(e => e.TextContent.Trim()));
    }

    [Fact]
    public async Task AnInvalidFieldIsRefusedNamingItAndNothingIsStored()
    {
        var page = await RenderAsAdminAsync();
        page.Find("#device-add").Click();
        Field(page, "device-field-Id").Change("gen-bad");
        Field(page, "device-field-SpikeProbability").Change("0.5");

        page.Find("#device-save").Click();

        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll(".device-error")), Wait);
        var error = page.Find(".device-error");
        Assert.Equal("SpikeProbability", error.GetAttribute("data-field"));
        Assert.Contains("SpikeProbability must be between 0 and 0.01.", error.TextContent, StringComparison.Ordinal);
        Assert.DoesNotContain(await Service.ListAsync(Admin, CancellationToken.None), r => r.Device.Id == "gen-bad");

        Field(page, "device-field-SpikeProbability").Change("many");
        page.Find("#device-save").Click();
        page.WaitForAssertion(() => Assert.Contains("SpikeProbability must be a number (got 'many').", page.Find(".device-error").TextContent, StringComparison.Ordinal), Wait);
    }

    [Fact]
    public async Task AnAdminAddsEditsAndRemovesADevice()
    {
        var page = await RenderAsAdminAsync();
        page.Find("#device-add").Click();
        Field(page, "device-field-Id").Change("gen-2");
        Field(page, "device-field-Name").Change("Second generator");
        Field(page, "device-field-Seed").Change("9");
        page.Find("#device-save").Click();

        page.WaitForAssertion(() => Assert.Contains("gen-2", page.FindAll(".device-id").Select(e => e.TextContent.Trim())), Wait);
        var stored = Assert.Single(await Service.ListAsync(Admin, CancellationToken.None), r => r.Device.Id == "gen-2").Device;
        Assert.Equal(9, stored.Seed);
        Assert.Equal("Second generator", stored.Name);

        RowButton(page, "gen-2", ".device-edit").Click();
        page.WaitForAssertion(() => Assert.Equal("9", Field(page, "device-field-Seed").GetAttribute("value")), Wait);
        Field(page, "device-field-Seed").Change("11");
        page.Find("#device-save").Click();
        page.WaitForAssertion(() => Assert.Empty(page.FindAll("#device-editor")), Wait);
        Assert.Equal(11, Assert.Single(await Service.ListAsync(Admin, CancellationToken.None), r => r.Device.Id == "gen-2").Device.Seed);

        RowButton(page, "gen-2", ".device-remove").Click();
        page.WaitForAssertion(() => Assert.DoesNotContain("gen-2", page.FindAll(".device-id").Select(e => e.TextContent.Trim())), Wait);
        Assert.DoesNotContain(await Service.ListAsync(Admin, CancellationToken.None), r => r.Device.Id == "gen-2");
    }

    [Fact]
    public async Task TheTestButtonShowsTheProbeResultOfTheSigrokDemoDevice()
    {
        var added = await Service.AddAsync(Admin, new DeviceOptions { Id = "sr-demo", Driver = "Sigrok", SigrokDriver = "demo", Channels = [new() { Name = "A0" }, new() { Name = "A1" }] }, CancellationToken.None);
        Assert.True(added.Succeeded, added.Message);
        var page = await RenderAsAdminAsync();

        RowButton(page, "sr-demo", ".device-test").Click();

        page.WaitForAssertion(() => Assert.Contains("demo - Demo device with 13 channels", Row(page, "sr-demo").QuerySelector(".device-identity")?.TextContent ?? "", StringComparison.Ordinal), Wait);
        Assert.Contains("connected", Row(page, "sr-demo").QuerySelector(".device-health")!.TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnAdminAddsAScpiDeviceThroughTheTypedFormAndItsTestShowsTheIdentity()
    {
        await using var sim = new ScpiSimulator();
        sim.Start();
        var page = await RenderAsAdminAsync();
        page.Find("#device-add").Click();
        await ChooseDriverAsync(page, "Scpi");

        Field(page, "device-field-Id").Change("dmm-1");
        Field(page, "device-field-Name").Change("Bench DMM");
        Field(page, "device-field-Host").Change("127.0.0.1");
        Field(page, "device-field-Port").Change(sim.Port.ToString(CultureInfo.InvariantCulture));
        Field(page, "device-field-InitCommands").Change("*RST\nCONF:VOLT:DC 10");
        Cell(page, 0, "scale").Change("2");
        Cell(page, 0, "offset").Change("0.5");
        page.Find("#scpi-channel-add button, button#scpi-channel-add").Click();
        Cell(page, 1, "name").Change("i");
        Cell(page, 1, "unit").Change("mA");
        Cell(page, 1, "query").Change("MEAS:CURR:DC?");
        Cell(page, 1, "scale").Change("1000");
        page.Find("#device-save").Click();

        page.WaitForAssertion(() => Assert.Contains("dmm-1", page.FindAll(".device-id").Select(e => e.TextContent.Trim())), Wait);
        var stored = Assert.Single(await Service.ListAsync(Admin, CancellationToken.None), r => r.Device.Id == "dmm-1").Device;
        Assert.Equal(("Scpi", "127.0.0.1", sim.Port, ScpiMode.Polled), (stored.Driver, stored.Host, stored.Port, stored.Mode));
        Assert.Equal(["*RST", "CONF:VOLT:DC 10"], stored.InitCommands);
        Assert.Equal(
            [("ch1", "V", "MEAS:VOLT:DC?", 2.0, 0.5), ("i", "mA", "MEAS:CURR:DC?", 1000.0, 0.0)],
            stored.Channels.Select(c => (c.Name, c.Unit, c.Query, c.Scale, c.Offset)));

        RowButton(page, "dmm-1", ".device-test").Click();
        page.WaitForAssertion(() => Assert.Equal("MeasureApp,ScpiSim DMM+scope,SIM0001,1.0", Row(page, "dmm-1").QuerySelector(".device-identity")?.TextContent.Trim()), Wait);
        Assert.Contains("*IDN? answered", Row(page, "dmm-1").QuerySelector(".device-probe-message")!.TextContent, StringComparison.Ordinal);

        RowButton(page, "dmm-1", ".device-edit").Click();
        page.WaitForAssertion(() => Assert.Equal("MEAS:CURR:DC?", Cell(page, 1, "query").GetAttribute("value")), Wait);
        Assert.Equal("127.0.0.1", Field(page, "device-field-Host").GetAttribute("value"));
    }

    [Fact]
    public async Task InvalidScpiSettingsAreRefusedNamingTheFieldOrChannelCellAndNothingIsStored()
    {
        var page = await RenderAsAdminAsync();
        page.Find("#device-add").Click();
        await ChooseDriverAsync(page, "Scpi");
        Field(page, "device-field-Id").Change("dmm-bad");

        page.Find("#device-save").Click();
        page.WaitForAssertion(() => Assert.Equal("Host", page.Find(".device-error").GetAttribute("data-field")), Wait);
        Assert.StartsWith("Host is required for a Scpi device", page.Find(".device-error").TextContent.Trim(), StringComparison.Ordinal);

        Field(page, "device-field-Host").Change("127.0.0.1");
        Cell(page, 0, "scale").Change("double");
        page.Find("#device-save").Click();
        page.WaitForAssertion(() => Assert.Equal("Channels:0:Scale", page.Find(".device-error").GetAttribute("data-field")), Wait);
        Assert.Equal("Channels:0:Scale must be a number (got 'double').", page.Find(".device-error").TextContent.Trim());
        Assert.NotEmpty(page.FindAll(".scpi-channel-scale.mud-input-error, .scpi-channel-scale .mud-input-error"));

        Cell(page, 0, "scale").Change("1");
        Cell(page, 0, "query").Change("");
        page.Find("#device-save").Click();
        page.WaitForAssertion(() => Assert.Equal("Channels:0:Query", page.Find(".device-error").GetAttribute("data-field")), Wait);

        Cell(page, 0, "query").Change("MEAS:VOLT:DC?");
        Field(page, "device-field-Port").Change("70000");
        page.Find("#device-save").Click();
        page.WaitForAssertion(() => Assert.Equal("Port must be between 1 and 65535.", page.Find(".device-error").TextContent.Trim()), Wait);
        Assert.DoesNotContain(await Service.ListAsync(Admin, CancellationToken.None), r => r.Device.Id == "dmm-bad");
    }

    [Fact]
    public void ThePageIsForAdminsOnly() =>
        Assert.Contains(typeof(DevicesPage).GetCustomAttributes<AuthorizeAttribute>(inherit: true), a => a.Roles == Roles.Admin);

    private async Task<IRenderedComponent<DevicesPage>> RenderAsAdminAsync()
    {
        await using var lookup = _factory.Services.CreateAsyncScope();
        var admin = await lookup.ServiceProvider.GetRequiredService<UserManager<AppUser>>().FindByEmailAsync(AppFactory.AdminEmail);
        Context.Services.AddSingleton(Service);
        Context.Services.AddSingleton(new CurrentUser(new TestPrincipal(admin!.Id, admin.Email!, true)));
        var page = Render<DevicesPage>(_ => { });
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll(".device-id")), Wait);
        return page;
    }

    private static AngleSharp.Dom.IElement Field(IRenderedComponent<DevicesPage> page, string id) =>
        page.Find($"#{id} input, input#{id}, textarea#{id}");

    private static async Task ChooseDriverAsync(IRenderedComponent<DevicesPage> page, string driver)
    {
        var select = page.FindComponents<MudSelect<string>>().Single(c => c.Instance.Label == "Driver");
        await page.InvokeAsync(() => select.Instance.SelectOption(driver));
        page.WaitForAssertion(() => Assert.NotEmpty(page.FindAll(driver == "Scpi" ? "#scpi-channels" : "#device-editor")), Wait);
    }

    // One input of the SCPI channel table: row (0-based) and column (name, unit, query, scale, offset).
    private static AngleSharp.Dom.IElement Cell(IRenderedComponent<DevicesPage> page, int row, string column) =>
        page.FindAll("#scpi-channels tbody tr")[row].QuerySelector($".scpi-channel-{column} input")!;

    private static AngleSharp.Dom.IElement Row(IRenderedComponent<DevicesPage> page, string id) =>
        page.FindAll("#devices-table tbody tr").Single(r => r.QuerySelector(".device-id")?.TextContent.Trim() == id);

    private static AngleSharp.Dom.IElement RowButton(IRenderedComponent<DevicesPage> page, string id, string button) =>
        Row(page, id).QuerySelector(button)!;

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _factory.DisposeAsync();
    }
}
