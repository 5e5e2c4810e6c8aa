using MeasureApp;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Api;
using MeasureApp.Components;
using MeasureApp.Components.Layout;
using MeasureApp.Components.Live;
using MeasureApp.Data;
using MeasureApp.History;
using MeasureApp.Live;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.EntityFrameworkCore;
using Microsoft.JSInterop;
using MudBlazor;

namespace MeasureApp.Components.Pages;

/// <summary>Code of the Measurements page (markup in Measurements.razor).</summary>
public sealed partial class Measurements
{
    private MudDataGrid<MeasurementRecord>? grid;
    private string? search;
    private const string AllOwners = "";
    private bool isAdmin;
    private string? myId;
    private string? ownerFilter = AllOwners;

    // The filter field shows the owner's name, as the list does (not the user id).
    private string? OwnerName(string? id) => id switch
    {
        null => null,
        AllOwners => "everyone",
        _ => owners.FirstOrDefault(o => o.Id == id).Name ?? id,
    };
    private List<(string Id, string Name)> owners = [];
    private string? tagFilter;
    private string? deviceFilter;
    private MeasurementState? stateFilter;
    private DateRange? dates;
    private Dictionary<Guid, MeasureApp.Tags.MeasurementLabels> labels = [];

    private bool Filtering => !string.IsNullOrWhiteSpace(search) || !string.IsNullOrWhiteSpace(tagFilter) || deviceFilter is not null || stateFilter is not null || dates?.Start is not null || dates?.End is not null;

    private async Task FilterAsync(Action set)
    {
        set();
        await grid!.ReloadServerData();
    }

    protected override async Task OnInitializedAsync()
    {
        var me = await Me.GetAsync();
        isAdmin = me.IsAdmin;
        myId = me.UserId;
        if (isAdmin)
        {
            await using var db = await Contexts.CreateDbContextAsync();
            var rows = await db.Measurements.AsNoTracking().Select(m => new { m.OwnerId, m.OwnerName }).Distinct().ToListAsync();
            owners = [.. rows.GroupBy(r => r.OwnerId).Select(g => (g.Key, g.First().OwnerName)).OrderBy(o => o.Item2, StringComparer.OrdinalIgnoreCase)];
        }
    }

    private async Task OnOwnerChangedAsync(string? owner)
    {
        ownerFilter = owner;
        await grid!.ReloadServerData();
    }

    // Only the owner deletes, only stopped measurements; the service checks both again.
    private async Task DeleteAsync(MeasurementRecord m)
    {
        var confirmed = await Dialogs.ShowMessageBoxAsync("Delete measurement", $"Delete “{m.Name}” and all its samples? This cannot be undone.", yesText: "Delete", cancelText: "Cancel");
        if (confirmed != true)
        {
            return;
        }
        var outcome = await MeasurementDeletion.DeleteAsync(await Me.GetAsync(), m.Id, Catalog, Engine, Store, Contexts, Exports, CancellationToken.None);
        var (message, severity) = outcome switch
        {
            DeletionOutcome.Deleted => ($"Deleted “{m.Name}”.", Severity.Success),
            DeletionOutcome.Running => ($"“{m.Name}” is still running: stop it first.", Severity.Warning),
            DeletionOutcome.NotOwner => ("Only the owner can delete a measurement.", Severity.Error),
            DeletionOutcome.Exporting => ($"“{m.Name}” is being exported: delete it when the download has finished.", Severity.Warning),
            _ => ("That measurement no longer exists.", Severity.Warning),
        };
        Snackbar.Add(message, severity);
        await grid!.ReloadServerData();
    }

    private async Task<GridData<MeasurementRecord>> LoadAsync(GridState<MeasurementRecord> state, CancellationToken cancellationToken)
    {
        var sort = state.SortDefinitions.FirstOrDefault();
        var page = await Catalog.ListAsync(await Me.GetAsync(), new MeasurementQuery
        {
            Page = state.Page,
            PageSize = state.PageSize,
            SortBy = sort?.SortBy switch { "Name" => "name", "SampleCount" => "samples", "OwnerName" => "owner", "State" => "state", _ => "started" },
            Descending = sort?.Descending ?? true,
            Search = search,
            OwnerId = string.IsNullOrEmpty(ownerFilter) ? null : ownerFilter,
            Tag = tagFilter,
            Device = deviceFilter,
            State = stateFilter,
            // The picker's days are the user's local days.
            StartedFrom = dates?.Start is { } from ? new DateTimeOffset(from.Date, TimeZoneInfo.Local.GetUtcOffset(from.Date)) : null,
            StartedBefore = dates?.End is { } to ? new DateTimeOffset(to.Date.AddDays(1), TimeZoneInfo.Local.GetUtcOffset(to.Date.AddDays(1))) : null,
        }, cancellationToken);
        labels = await Labels.LoadAsync([.. page.Items.Select(m => m.Id)], cancellationToken);
        return new GridData<MeasurementRecord> { Items = page.Items, TotalItems = page.Total };
    }
}
