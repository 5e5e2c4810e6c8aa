using MeasureApp;
using MeasureApp.Acquisition;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Components;
using MeasureApp.Components.Layout;
using MeasureApp.Components.Live;
using MeasureApp.Data;
using MeasureApp.Limits;
using MeasureApp.Live;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.JSInterop;
using MudBlazor;

namespace MeasureApp.Components.Pages;

/// <summary>Code of the Live page (markup in Live.razor).</summary>
public sealed partial class Live
{
    private List<MeasurementInfo> running = [];
    private UserLimits? limits;
    private IDisposable? watch;
    private TabMode mode = TabMode.Live;

    private enum TabMode
    {
        Live,
        Replay,
        Simulation,
    }

    private Variant ModeVariant(TabMode m) => m == mode ? Variant.Filled : Variant.Outlined;

    // Each mode starts clean; the player of this tab stops when the mode changes.
    private void SetMode(TabMode m)
    {
        if (m == mode)
        {
            return;
        }
        mode = m;
        Playback.Clear();
    }

    protected override async Task OnInitializedAsync()
    {
        var me = await Me.GetAsync();
        limits = await LimitsService.GetAsync(me.UserId, CancellationToken.None);
        // The user's own measurements, on this instance and (with Redis) on the others; an admin's
        // Live page follows their own work too (everyone's is on the Monitor and Measurements pages).
        running = await OwnRunningAsync(me.UserId);
        watch = await Session.WatchAsync(_ => InvokeAsync(async () =>
        {
            running = await OwnRunningAsync(me.UserId);
            StateHasChanged();
        }));
    }

    private async Task<List<MeasurementInfo>> OwnRunningAsync(string userId) =>
        [.. (await Session.GetRunningAsync()).Where(m => string.Equals(m.OwnerId, userId, StringComparison.Ordinal))];

    private async Task OpenStartDialogAsync()
    {
        if (limits is null)
        {
            return;
        }
        var parameters = new DialogParameters<StartDialog>
        {
            { d => d.Devices, Engine.Devices },
            { d => d.Limits, limits },
            { d => d.Running, running.Count },
            { d => d.Start, r => Session.StartAsync(r, CancellationToken.None) },
        };
        var dialog = await Dialogs.ShowAsync<StartDialog>("New measurement", parameters,
            new DialogOptions { MaxWidth = MaxWidth.Medium, CloseOnEscapeKey = true, BackdropClick = false });
        if (await dialog.Result is { Canceled: false, Data: MeasurementInfo started })
        {
            Snackbar.Add($"Started “{started.Name}”.", Severity.Success);
        }
    }

    public void Dispose() => watch?.Dispose();
}
