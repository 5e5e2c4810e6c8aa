using MeasureApp;
using MeasureApp.Acquisition.Devices.Network;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Collectors;
using MeasureApp.Components;
using MeasureApp.Components.Collectors;
using MeasureApp.Components.Layout;
using MeasureApp.Components.Live;
using MeasureApp.Data;
using MeasureApp.Live;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.JSInterop;
using MudBlazor;

namespace MeasureApp.Components.Pages;

/// <summary>Code of the Collectors page (markup in Collectors.razor).</summary>
public sealed partial class Collectors
{
    private IReadOnlyList<CollectorTokenInfo> tokens = [];
    private CreatedCollectorToken? created;
    private CollectorEndpoint? endpoint;
    private string? newName;
    private bool isAdmin;
    private bool loading = true;
    private bool creating;

    protected override async Task OnInitializedAsync()
    {
        isAdmin = (await Me.GetAsync()).IsAdmin;
        var device = Engine.Devices.FirstOrDefault(d => string.Equals(d.Driver, NetworkDriver.DriverKind, StringComparison.OrdinalIgnoreCase));
        endpoint = device is null ? null : Commands.EndpointOf(device, new Uri(Navigation.BaseUri));
        await LoadAsync();
    }

    private async Task LoadAsync()
    {
        loading = true;
        try
        {
            tokens = await Tokens.ListAsync(await Me.GetAsync(), CancellationToken.None);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Data.Common.DbException or TimeoutException)
        {
            Snackbar.Add($"Could not load the tokens: {ex.Message}", Severity.Error);
        }
        finally
        {
            loading = false;
        }
    }

    private async Task CreateAsync()
    {
        if (CollectorTokenStore.ValidName(newName) is not { } name)
        {
            Snackbar.Add($"Give the token a name (1 to {CollectorTokenStore.MaxNameLength} characters, one line).", Severity.Warning);
            return;
        }
        creating = true;
        try
        {
            created = await Tokens.CreateAsync(await Me.GetAsync(), name, CancellationToken.None);
            newName = null;
            await LoadAsync();
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Data.Common.DbException or TimeoutException or Microsoft.EntityFrameworkCore.DbUpdateException)
        {
            Snackbar.Add($"Could not create the token: {ex.Message}", Severity.Error);
        }
        finally
        {
            creating = false;
        }
    }

    private async Task RevokeAsync(CollectorTokenInfo token)
    {
        var confirmed = await Dialogs.ShowMessageBoxAsync("Revoke token",
            $"Revoke “{token.Name}”? Collectors using it are disconnected within seconds and cannot connect again.", yesText: "Revoke", cancelText: "Cancel");
        if (confirmed != true)
        {
            return;
        }
        try
        {
            var revoked = await Tokens.RevokeAsync(await Me.GetAsync(), token.Id, CancellationToken.None);
            Snackbar.Add(revoked ? $"Revoked “{token.Name}”." : $"“{token.Name}” was already revoked.", revoked ? Severity.Info : Severity.Warning);
            if (created?.Id == token.Id)
            {
                created = null;
            }
            await LoadAsync();
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Data.Common.DbException or TimeoutException)
        {
            Snackbar.Add($"Could not revoke the token: {ex.Message}", Severity.Error);
        }
    }

    private static string Format(DateTimeOffset t) => t.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
}
