using Bunit;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Collectors;
using MeasureApp.Identity;
using MeasureApp.Tests.Infrastructure;
using MeasureApp.Tests.Security;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using CollectorsPage = MeasureApp.Components.Pages.Collectors;

namespace MeasureApp.Tests.Collectors;

/// <summary>
/// The Collectors page rendered with bUnit against the real <see cref="CollectorTokenStore"/> on a fresh
/// database: creating shows the secret once (with the export line and a collector command for the
/// configured Network device), the list never shows it again, revoking asks first and takes effect.
/// </summary>
public sealed class CollectorsPageTests : MudTestContext
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly AppFactory _factory = new(DatabaseProvider.Sqlite);

    [Fact]
    public async Task CreatingATokenShowsItsSecretOnceAndRevokingItAsksFirst()
    {
        var me = await RegisterOperatorAsync();
        var dialogs = Render<MudDialogProvider>(_ => { });
        var page = Render<CollectorsPage>(_ => { });
        var store = _factory.Services.GetRequiredService<CollectorTokenStore>();
        page.WaitForAssertion(() => Assert.NotNull(page.Find("#no-tokens")), Wait);

        page.Find("#token-name input, input#token-name").Change("bench pc");
        page.Find("#create-token").Click();

        page.WaitForAssertion(() => Assert.NotNull(page.Find("#token-created")), Wait);
        var secret = page.Find("#token-secret input").GetAttribute("value")!;
        Assert.Matches("^[0-9a-f]{64}$", secret);
        Assert.Equal(me.UserId, await store.ResolveAsync(Convert.FromHexString(secret), default));
        Assert.Equal($"export MEASUREAPP_TOKEN={secret}", page.Find("#token-export input").GetAttribute("value"));
        var command = page.Find("#token-command input").GetAttribute("value")!;
        Assert.StartsWith("dotnet run --project scripts/collector -- --host 127.0.0.1 --port ", command, StringComparison.Ordinal);
        Assert.Contains($"--token {secret}", command, StringComparison.Ordinal);
        var row = page.Find("#tokens-table tbody tr");
        Assert.Contains("bench pc", row.TextContent, StringComparison.Ordinal);
        Assert.Contains("never", row.QuerySelector(".token-last-used")!.TextContent, StringComparison.Ordinal);

        // Shown once: a fresh visit lists the token without its secret.
        var again = Render<CollectorsPage>(_ => { });
        again.WaitForAssertion(() => Assert.Contains("bench pc", again.Find("#tokens-table tbody").TextContent, StringComparison.Ordinal), Wait);
        Assert.DoesNotContain(secret, again.Markup, StringComparison.Ordinal);
        Assert.Empty(again.FindAll("#token-created"));

        // Revoke asks; Cancel keeps the token working, Revoke ends it.
        again.Find(".revoke-token").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Revoke “bench pc”?", dialogs.Markup, StringComparison.Ordinal), Wait);
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Cancel").Click();
        Assert.Equal(me.UserId, await store.ResolveAsync(Convert.FromHexString(secret), default));

        again.Find(".revoke-token").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Revoke “bench pc”?", dialogs.Markup, StringComparison.Ordinal), Wait);
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Revoke").Click();

        again.WaitForAssertion(() => Assert.NotNull(again.Find("#tokens-table .token-revoked")), Wait);
        Assert.Empty(again.FindAll(".revoke-token"));
        Assert.Null(await store.ResolveAsync(Convert.FromHexString(secret), default));
    }

    [Fact]
    public async Task AnAdminSeesEveryonesTokensWithTheirOwnerAndAnOperatorOnlyTheirOwn()
    {
        var store = _factory.Services.GetRequiredService<CollectorTokenStore>();
        var other = await Infrastructure.Users.CreateOperatorAsync(_factory.Services);
        await store.CreateAsync(new Requester(other.Id, other.Email!, false), "someone else's", default);
        var me = await RegisterOperatorAsync();
        await store.CreateAsync(me, "mine", default);

        var page = Render<CollectorsPage>(_ => { });

        page.WaitForAssertion(() => Assert.Contains("mine", page.Find("#tokens-table tbody").TextContent, StringComparison.Ordinal), Wait);
        Assert.DoesNotContain("someone else's", page.Markup, StringComparison.Ordinal);
        Assert.Empty(page.FindAll(".token-owner"));

        var admin = await Infrastructure.Users.CreateOperatorAsync(_factory.Services);
        var adminView = await store.ListAsync(new Requester(admin.Id, admin.Email!, IsAdmin: true), default);
        Assert.Equal(["mine", "someone else's"], adminView.Select(t => t.Name).Order());
        Assert.Contains(adminView, t => t.OwnerName == other.Email);
    }

    private async Task<Requester> RegisterOperatorAsync()
    {
        var user = await Infrastructure.Users.CreateOperatorAsync(_factory.Services);
        var me = new Requester(user.Id, user.Email!, IsAdmin: false);
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<CollectorTokenStore>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<FeedCommands>());
        Context.Services.AddSingleton(_factory.Services.GetRequiredService<MeasurementEngine>());
        Context.Services.AddSingleton(new CurrentUser(new TestPrincipal(me.UserId, me.UserName, me.IsAdmin)));
        return me;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await _factory.DisposeAsync();
    }
}
