using System.Reflection;
using Bunit;
using MeasureApp.Acquisition.Devices;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.Devices;
using MeasureApp.Identity;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
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
